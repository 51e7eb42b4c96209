INSERT INTO public.order_lines (order_id, qty, note) VALUES (7, 3, 'no line_no');
