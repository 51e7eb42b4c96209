INSERT INTO public.items VALUES (1, $$a;b 'c' "d"$$, 1, DEFAULT);
INSERT INTO public.items VALUES (2, $tag$ $$ nested $not$ ; $tag$, 2, DEFAULT);
INSERT INTO public.items VALUES (3, $ü$unicode tag$ü$, 3, DEFAULT);
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;
CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;
SELECT $1, $a1$x$a1$, a$b;
