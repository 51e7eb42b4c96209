\restrict abc
\connect other
\unrestrict abc
INSERT INTO public.tags VALUES (1, 'x');\r
\set ON_ERROR_STOP on
