SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

INSERT INTO public.items VALUES
	(1, 'pen', 1.50, DEFAULT),
	(2, 'ink', 2.25, DEFAULT),
	(3, 'pad', 0.5, DEFAULT);
INSERT INTO public.tags VALUES
	(1, 'red'),
	(2, 'blue');
INSERT INTO public.order_lines (order_id, line_no, qty, note) VALUES
	(1, 1, 10, 'a'),
	(1, 2, 20, 'b;c'),
	(2, 1, -1, E'tab\there');
