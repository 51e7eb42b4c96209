COPY public.items (id, name, price, total) FROM stdin;
1	'; DROP TABLE x; --	1.5	\N
2	\\.	2	\N
\.
INSERT INTO public.items VALUES (3, 'after copy', 3, DEFAULT);
