INSERT INTO public.items VALUES (1, B'0101', X'1F', DEFAULT);
INSERT INTO public.items VALUES (2, b'', x'', DEFAULT);
INSERT INTO public.items VALUES (3, B'012', X'G', DEFAULT);
