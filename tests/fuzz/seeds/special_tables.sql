INSERT INTO excluded VALUES (1, 'alias');
INSERT INTO excluded (id) VALUES (2);
INSERT INTO public.tags (item, tag) VALUES (1, 'key only');
INSERT INTO public.remote VALUES (5, 'six');
INSERT INTO ferry.consumers VALUES ('site-1', '{}');
INSERT INTO public.loose VALUES (1, 'no key');
