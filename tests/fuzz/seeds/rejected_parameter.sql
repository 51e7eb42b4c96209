INSERT INTO public.items VALUES ($1, :name, ?2, @x);
