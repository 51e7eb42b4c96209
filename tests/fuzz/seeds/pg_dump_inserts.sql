--
-- PostgreSQL database dump
--

\restrict Agc3DQVXQRejJA31zzOUYVAkRhYvTw

-- Dumped from database version 15.20
-- Dumped by pg_dump version 15.20

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: items; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.items VALUES (1, 'pen', 1.50, DEFAULT);
INSERT INTO public.items VALUES (2, 'it''s; -- not a comment', -3, DEFAULT);
INSERT INTO public.items VALUES (3, NULL, 1e-3, DEFAULT);


--
-- Data for Name: tags; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.tags VALUES (1, 'red');
INSERT INTO public.tags VALUES (1, 'blue');


--
-- Name: items_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.items_id_seq', 3, true);


--
-- PostgreSQL database dump complete
--

\unrestrict Agc3DQVXQRejJA31zzOUYVAkRhYvTw

