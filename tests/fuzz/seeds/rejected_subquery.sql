INSERT INTO public.items VALUES ((SELECT 1), 'x', 1, DEFAULT);
