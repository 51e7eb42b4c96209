INSERT INTO public.items VALUES (1, 'x'::character varying(10), 1.50::numeric(10,2), DEFAULT);
INSERT INTO public.items VALUES (2, '2024-01-01 00:00:00+00'::timestamp(3) with time zone, '1 day'::interval day to second, DEFAULT);
INSERT INTO public.items VALUES (3, '{1,2}'::integer[], '\x00ff'::bytea, DEFAULT);
INSERT INTO public.items VALUES (4, 'a'::"My Type"[3], 1::pg_catalog.int4, DEFAULT);
INSERT INTO public.items VALUES (5, 1::double precision, 'x'::text::bytea, DEFAULT);
INSERT INTO public.items VALUES (6, 1::numeric(10, -2), 2::bit varying(8), DEFAULT);
