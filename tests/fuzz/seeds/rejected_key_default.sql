INSERT INTO public.items VALUES (DEFAULT, 'x', 1, 2);
