SET standard_conforming_strings = on;
INSERT INTO public.items VALUES (1, E'\'quoted\' ; -- x', 1, DEFAULT);
INSERT INTO public.items VALUES (2, E'\b\f\n\r\t \\ \101\x41\x4 \u00fc \U0001F600 \ud83d\ude00 \q', 2, DEFAULT);
INSERT INTO public.items VALUES (3, e'it''s', 3, DEFAULT);
INSERT INTO public.items VALUES (4, 'back\slash', 4, DEFAULT);
INSERT INTO public.items VALUES (5, E'\u0000', 5, DEFAULT);
