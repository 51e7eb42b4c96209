SET client_encoding = 'UTF8';
INSERT INTO public."Order ""Lines"" ü" VALUES (1, 2, 'ü ✓ 😀');
INSERT INTO public."Order ""Lines"" ü" ("Line ID", "Ünïcode ✓") VALUES (2, 'naïve');
INSERT INTO public.ünïcödé VALUES (1);
INSERT INTO "public"."items" ("id", "name", "price", "total") VALUES (1, 'Ωmega', 1, DEFAULT);
