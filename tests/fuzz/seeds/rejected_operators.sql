INSERT INTO public.items VALUES (1, 'a' || 'b', - -1, DEFAULT);
