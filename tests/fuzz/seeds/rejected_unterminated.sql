INSERT INTO public.items VALUES (1, 'never closed);
