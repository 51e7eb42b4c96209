INSERT INTO public.nowhere VALUES (1);
INSERT INTO public.items (id, nope) VALUES (1, 2);
