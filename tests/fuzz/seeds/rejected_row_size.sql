INSERT INTO public.items VALUES (1, 'x');
INSERT INTO public.items (id, id) VALUES (1, 2);
