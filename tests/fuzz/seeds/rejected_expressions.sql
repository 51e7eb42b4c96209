INSERT INTO public.items VALUES (1, now(), 1, DEFAULT);
