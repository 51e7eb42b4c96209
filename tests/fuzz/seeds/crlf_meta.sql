SELECT 1;
\restrict abc
INSERT INTO public.tags VALUES (1, E'\\');
\unrestrict abc