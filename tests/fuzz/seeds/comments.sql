-- leading; comment
/* block; comment */
/* a /* nested; */ still a comment; */
INSERT INTO public.tags VALUES (1, '/* not a comment */');
INSERT INTO public.tags VALUES (2, '-- nor this');
/**/ INSERT INTO public.tags VALUES (3, 'x'); -- trailing
/*/ odd /*/ */ */
INSERT INTO public.tags VALUES (4, 'y') /* inside: refused */;
