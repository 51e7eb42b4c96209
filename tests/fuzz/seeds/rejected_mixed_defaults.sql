INSERT INTO public.items VALUES (1, 'x', 1, DEFAULT), (2, 'y', 2, 3);
