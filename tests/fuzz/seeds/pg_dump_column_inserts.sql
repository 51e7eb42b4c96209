SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

INSERT INTO public.items (id, name, price, total) OVERRIDING SYSTEM VALUE VALUES (1, 'pen', 1.50, DEFAULT);
INSERT INTO public.items (id, name, price, total) OVERRIDING SYSTEM VALUE VALUES (2, 'ink', +2, DEFAULT);
INSERT INTO public.order_lines (order_id, line_no, qty, note) VALUES (7, 1, 3, 'first');
INSERT INTO public.order_lines (order_id, line_no, qty, note) VALUES (7, 2, 1, NULL);
INSERT INTO public.order_lines (line_no, order_id, note) VALUES (3, 7, 'partial');
INSERT INTO public.remote (id, v) VALUES (1, 'renamed on the target');
