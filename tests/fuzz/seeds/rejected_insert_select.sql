INSERT INTO public.items SELECT * FROM public.other;
