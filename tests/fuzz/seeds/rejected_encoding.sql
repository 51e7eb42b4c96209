SET client_encoding = 'LATIN1';
INSERT INTO public.items VALUES (1, 'x', 1, DEFAULT);
