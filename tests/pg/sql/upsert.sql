-- ferry.to_upsert: the INSERTs of a peer's dump as upserts that write only
-- rows that differ; anything else in the dump is refused, naming its line.
\set SHOW_CONTEXT never
\pset format unaligned

-- ==== upgrade: 0.2 has no to_upsert, ALTER EXTENSION ... UPDATE adds it
CREATE EXTENSION ferry VERSION '0.2';
SELECT count(*) AS to_upsert_in_0_2 FROM pg_proc WHERE proname = 'to_upsert';
ALTER EXTENSION ferry UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'ferry';
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility, p.proisstrict AS strict,
       p.prosecdef AS security_definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
FROM pg_proc p WHERE p.oid = 'ferry.to_upsert'::regproc;

CREATE TABLE accounts (id int PRIMARY KEY, name text, balance numeric(12,2), opened date,
                       data bytea, tags text[]);
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order Lines ü" ("Order" text, "line no" int, qty int,
                                           PRIMARY KEY ("Order", "line no"));
CREATE TABLE invoices (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric,
                       with_tax numeric GENERATED ALWAYS AS (total * 1.2) STORED);
SELECT ferry.track('accounts');
SELECT ferry.track('"Sales Dept"."Order Lines ü"');
SELECT ferry.track('invoices');

-- Runs upserts and returns the number of rows they wrote, as capture counts
-- them: every row written is a change in the log.
CREATE FUNCTION apply_upserts(upserts text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    logged bigint := (SELECT count(*) FROM ferry.changes);
BEGIN
    EXECUTE upserts;
    RETURN (SELECT count(*) FROM ferry.changes) - logged;
END $$;

-- SQLSTATE and message of the error a conversion raises.
CREATE FUNCTION upsert_error(dump text, options jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    PERFORM ferry.to_upsert(dump, options);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ' ' || message;
END $$;

-- ==== pg_dump --data-only --inserts, as pg_dump 15 writes it: framing
-- (\restrict, SET, set_config, comments) dropped, setval skipped when asked,
-- DEFAULT of a generated column left out, OVERRIDING SYSTEM VALUE kept
SELECT $dump$--
-- PostgreSQL database dump
--

\restrict 7bAyv0FSz1hZtyZnCjPcIcqL9xpOCDKeemWPjG6uhfRKLl4WSjhu4LZlzKRvNWe

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

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
-- Data for Name: Order Lines ü; Type: TABLE DATA; Schema: Sales Dept; Owner: postgres
--

INSERT INTO "Sales Dept"."Order Lines ü" VALUES ('Ö-1', 1, 5);
INSERT INTO "Sales Dept"."Order Lines ü" VALUES ('Ö-1', 2, 7);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.accounts VALUES (1, 'Ann', 10.50, '2024-02-29', '\x00ff', '{a,b}');
INSERT INTO public.accounts VALUES (2, 'Bob''s', -3.00, NULL, NULL, NULL);
INSERT INTO public.accounts VALUES (3, 'back\slash', 0.00, '2024-01-01', NULL, '{}');


--
-- Data for Name: invoices; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.invoices OVERRIDING SYSTEM VALUE VALUES (1, 100, DEFAULT);
INSERT INTO public.invoices OVERRIDING SYSTEM VALUE VALUES (2, 200, DEFAULT);


--
-- Name: invoices_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.invoices_id_seq', 2, true);


--
-- PostgreSQL database dump complete
--

\unrestrict 7bAyv0FSz1hZtyZnCjPcIcqL9xpOCDKeemWPjG6uhfRKLl4WSjhu4LZlzKRvNWe
$dump$ AS inserts_dump \gset
SELECT regexp_split_to_table(ferry.to_upsert(:'inserts_dump', '{"skip_other_statements": true}'),
                             E'\n') AS upserts;
-- without skip_other_statements, setval is refused, naming its line
SELECT ferry.to_upsert(:'inserts_dump');
-- applied twice: the second time writes nothing
SELECT apply_upserts(ferry.to_upsert(:'inserts_dump', '{"skip_other_statements": true}'))
    AS rows_written;
SELECT apply_upserts(ferry.to_upsert(:'inserts_dump', '{"skip_other_statements": true}'))
    AS rows_written_again;
SELECT * FROM accounts ORDER BY id;
SELECT * FROM "Sales Dept"."Order Lines ü" ORDER BY 1, 2;
SELECT * FROM invoices ORDER BY id;

-- ==== pg_dump --column-inserts --rows-per-insert=2: multi-row VALUES; only
-- the row that differs (Bob's balance) is written
SELECT $dump$SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
INSERT INTO public.accounts (id, name, balance, opened, data, tags) VALUES
	(1, 'Ann', 10.50, '2024-02-29', '\x00ff', '{a,b}'),
	(2, 'Bob''s', 99.00, NULL, NULL, NULL);
INSERT INTO public.accounts (id, name, balance, opened, data, tags) VALUES
	(3, 'back\slash', 0.00, '2024-01-01', NULL, '{}');
INSERT INTO public.invoices (id, total) OVERRIDING SYSTEM VALUE VALUES
	(1, 100),
	(2, 200);
$dump$ AS column_inserts_dump \gset
SELECT regexp_split_to_table(ferry.to_upsert(:'column_inserts_dump'), E'\n') AS upserts;
SELECT apply_upserts(ferry.to_upsert(:'column_inserts_dump')) AS rows_written;
SELECT apply_upserts(ferry.to_upsert(:'column_inserts_dump')) AS rows_written_again;
SELECT id, name, balance FROM accounts WHERE id = 2;

-- ==== literals: E'' strings, dollar quoting, casts, Unicode, NULL, booleans
CREATE TABLE notes (id bigint PRIMARY KEY, body text, flag boolean, at timestamptz);
SELECT ferry.track('notes');
SELECT $dump$INSERT INTO public.notes VALUES
    (1, E'line\nbreak, tab\t, quote \' and backslash \\', true, '2024-02-29 12:00:00+00'::timestamp with time zone),
    (2, $$dollar 'quoted' \ text$$, false, NULL),
    (3, $tag$nested $$ inside$tag$, NULL, NULL),
    (4, 'Grüße 🚀 ✓', TRUE, '2024-02-29T12:00:00Z'),
    (-9223372036854775808, '', FALSE, NULL);
$dump$ AS literals_dump \gset
SELECT regexp_split_to_table(ferry.to_upsert(:'literals_dump'), E'\n') AS upserts;
SELECT apply_upserts(ferry.to_upsert(:'literals_dump')) AS rows_written;
SELECT apply_upserts(ferry.to_upsert(:'literals_dump')) AS rows_written_again;
SELECT id, body, flag, at AT TIME ZONE 'UTC' AS at_utc FROM notes ORDER BY id;

-- a value that looks like SQL is data
SELECT ferry.to_upsert($dump$INSERT INTO public.notes VALUES (5, 'x''); DROP TABLE notes; --', NULL, NULL);$dump$)
    AS upserts;

-- ==== names: unquoted names fold to lower case, quoted ones keep case,
-- spaces and Unicode; unqualified names resolve along search_path, and the
-- output names the table found, schema-qualified
SELECT ferry.to_upsert('INSERT INTO Public.ACCOUNTS (ID, Name) VALUES (7, ''folded'');') AS upserts;
SET search_path = "Sales Dept", public;
SELECT ferry.to_upsert('INSERT INTO "Order Lines ü" ("line no", "Order", qty) VALUES (3, ''Ö-2'', 1);')
    AS upserts;
CREATE SCHEMA other;
CREATE TABLE other.accounts (id int PRIMARY KEY, label text);
SET search_path = other, public;
SELECT ferry.to_upsert('INSERT INTO accounts VALUES (1, ''other'');') AS upserts;
RESET search_path;
SELECT ferry.to_upsert('INSERT INTO accounts (id, name) VALUES (1, ''public'');') AS upserts;
CREATE TEMP TABLE scratch (id int PRIMARY KEY, v text);
SELECT ferry.to_upsert('INSERT INTO scratch VALUES (1, ''temp'');') AS upserts;
-- a composite key of a partitioned table; a table of key columns only
CREATE TABLE readings (site text, day date, value numeric, PRIMARY KEY (site, day))
    PARTITION BY RANGE (day);
CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE tags (name text PRIMARY KEY);
SELECT regexp_split_to_table(ferry.to_upsert($dump$
INSERT INTO public.readings VALUES ('A', '2024-02-29', 1.5), ('B', '2024-02-29', 2);
INSERT INTO public.tags VALUES ('x'), ('y');
$dump$), E'\n') AS upserts;
DO $$ BEGIN EXECUTE ferry.to_upsert('INSERT INTO public.readings VALUES (''A'', ''2024-02-29'', 1.5);'); END $$;
SELECT * FROM readings;

-- ==== anything but data is refused, naming its line; the dump never runs
SELECT upsert_error($dump$INSERT INTO public.tags VALUES ('a');
DROP TABLE public.tags;$dump$) AS drop_table;
SELECT upsert_error($dump$INSERT INTO public.tags VALUES ('a');

GRANT ALL ON public.tags TO PUBLIC;$dump$) AS grant_all;
SELECT upsert_error($dump$INSERT INTO public.tags VALUES ('a');
INSERT INTO public.tags VALUES ('b');
CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$SELECT 1$$;$dump$) AS create_function;
SELECT upsert_error($dump$-- four lines
-- of comments
-- before
-- it
COPY public.tags FROM PROGRAM 'rm -rf /';$dump$) AS copy_program;
SELECT upsert_error('DELETE FROM public.tags;') AS delete_rows;
SELECT upsert_error($dump$INSERT INTO public.tags VALUES ('a'); DROP TABLE public.tags;$dump$)
    AS same_line;
SELECT upsert_error('INSERT INTO public.tags VALUES ((SELECT max(name) FROM public.tags));')
    AS subquery;
SELECT upsert_error('INSERT INTO public.tags VALUES (pg_terminate_backend(1));') AS function_call;
SELECT upsert_error('INSERT INTO public.tags SELECT relname FROM pg_class;') AS insert_select;
SELECT upsert_error('INSERT INTO public.tags VALUES (''a'') ON CONFLICT DO NOTHING;') AS on_conflict;
SELECT upsert_error('INSERT INTO public.tags VALUES (''a'' /* hidden */);') AS comment_inside;
SELECT upsert_error('INSERT INTO public.tags VALUES (''a'');
INSERT INTO public.tags VALUES (''unterminated);') AS unterminated;
-- as psql shows it: message, detail, hint
SELECT ferry.to_upsert($dump$INSERT INTO public.tags VALUES ('a');
COPY public.tags FROM PROGRAM 'rm -rf /';$dump$);
-- skip_other_statements drops them: only the data is left
SELECT ferry.to_upsert($dump$INSERT INTO public.tags VALUES ('a');
DROP TABLE public.tags;
GRANT ALL ON public.tags TO PUBLIC;
CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$SELECT 1$$;
COPY public.tags FROM PROGRAM 'rm -rf /';
INSERT INTO public.tags VALUES ('b');$dump$, '{"skip_other_statements": true}') AS upserts;
SELECT count(*) AS tags_rows, to_regproc('public.f') AS f FROM tags;

-- ==== tables: missing, without primary key, not a table, columns that do
-- not match
CREATE TABLE keyless (a int);
CREATE VIEW accounts_view AS SELECT * FROM accounts;
SELECT ferry.to_upsert($dump$INSERT INTO public.tags VALUES ('a');
INSERT INTO public.missing VALUES (1);$dump$);
SELECT ferry.to_upsert('INSERT INTO missing_schema.t VALUES (1);');
SELECT ferry.to_upsert('INSERT INTO "Order Lines ü" VALUES (''a'', 1, 1);');  -- not on search_path
SELECT ferry.to_upsert('INSERT INTO public.keyless VALUES (1);');
SELECT ferry.to_upsert('INSERT INTO public.accounts_view (id) VALUES (1);');
SELECT ferry.to_upsert('INSERT INTO public.tags (name, colour) VALUES (''a'', ''red'');');
SELECT ferry.to_upsert('INSERT INTO public.accounts VALUES (1, ''too few'');');
-- ferry's own tables are this peer's state, not data (pg_dump --data-only
-- writes its configuration tables): refused, or dropped when asked
SELECT ferry.to_upsert('INSERT INTO ferry.consumers (name) VALUES (''forged'');');
SELECT ferry.to_upsert($dump$INSERT INTO ferry.tracked_tables (relid) VALUES (12345);
INSERT INTO public.tags VALUES ('a');$dump$, '{"skip_other_statements": true}') AS upserts;
-- PostgreSQL's catalogs are never written from a dump, whoever applies it
SELECT ferry.to_upsert('INSERT INTO pg_catalog.pg_authid (oid, rolname) VALUES (10, ''x'');');
-- json and point have no equality operator, and an interval's `=` holds
-- between '1 day' and '24:00:00', which hash apart: all three are compared
-- by their text, so the row is rewritten once, then never again
CREATE TABLE documents (id int PRIMARY KEY, doc json, at point, span interval);
INSERT INTO documents VALUES (1, '{}', '(1,2)', '24 hours');
SELECT ferry.track('documents');
SELECT ferry.to_upsert('INSERT INTO public.documents VALUES (1, ''{}'', ''(1,2)'', ''1 day'');') AS upserts;
SELECT apply_upserts(ferry.to_upsert('INSERT INTO public.documents VALUES (1, ''{}'', ''(1,2)'', ''1 day'');')) AS rows_written;
SELECT apply_upserts(ferry.to_upsert('INSERT INTO public.documents VALUES (1, ''{}'', ''(1,2)'', ''1 day'');')) AS rows_written_again;
SELECT span FROM documents;

-- ==== options
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', '{"colour": "red"}');
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', '{"source": "mysql"}');
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', '{"skip_other_statements": "yes"}');
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', '["skip_other_statements"]');
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', NULL) AS null_options,
       ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');', '{}') AS empty_options,
       ferry.to_upsert(NULL) IS NULL AS null_dump,
       ferry.to_upsert('') = '' AS empty_dump;

-- ==== a sqlite3 .dump, converted for PostgreSQL: CREATE TABLE skipped,
-- sqlite_sequence ignored, blobs become bytea, sqlite3's replace(..., char(10))
-- spelling of a line break decoded, table names matched as SQLite matches them
CREATE TABLE orders (id int PRIMARY KEY, note text, data bytea);
CREATE TABLE "Order Lines" ("order" text, line int, PRIMARY KEY ("order", line));
SELECT ferry.track('orders');
SELECT ferry.track('"Order Lines"');
SELECT $dump$PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE Orders (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT, data BLOB);
INSERT INTO Orders VALUES(1,replace('two\nlines','\n',char(10)),X'00ff');
INSERT INTO Orders VALUES(2,'it''s',NULL);
CREATE TABLE IF NOT EXISTS "Order Lines" ("order" TEXT, line INT, PRIMARY KEY ("order", line));
INSERT INTO "Order Lines" VALUES('o1',1);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('Orders',2);
COMMIT;
$dump$ AS sqlite_dump \gset
SELECT ferry.to_upsert(:'sqlite_dump', '{"source": "sqlite", "skip_other_statements": true}')
    AS upserts;
SELECT ferry.to_upsert(:'sqlite_dump', '{"source": "sqlite"}');
SELECT apply_upserts(ferry.to_upsert(:'sqlite_dump',
                                     '{"source": "sqlite", "skip_other_statements": true}'))
    AS rows_written;
SELECT apply_upserts(ferry.to_upsert(:'sqlite_dump',
                                     '{"source": "sqlite", "skip_other_statements": true}'))
    AS rows_written_again;
SELECT id, note, data FROM orders ORDER BY id;

-- ==== privileges: EXECUTE is granted, not public; tables are looked up as
-- the caller, who needs SELECT and INSERT on the key columns (UPDATE and the
-- other columns are checked when the upserts run)
CREATE ROLE upsert_nobody;
CREATE ROLE upsert_clerk;
GRANT EXECUTE ON FUNCTION ferry.to_upsert(text, jsonb) TO upsert_clerk;
SET ROLE upsert_nobody;
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');');
RESET ROLE;
SET ROLE upsert_clerk;
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');');
SELECT ferry.to_upsert('INSERT INTO "Sales Dept"."Order Lines ü" VALUES (''a'', 1, 1);');
RESET ROLE;
GRANT INSERT, UPDATE ON tags TO upsert_clerk;
SET ROLE upsert_clerk;
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');');
RESET ROLE;
GRANT SELECT ON tags TO upsert_clerk;
SET ROLE upsert_clerk;
SELECT ferry.to_upsert('INSERT INTO public.tags VALUES (''a'');') AS upserts;
DO $$ BEGIN EXECUTE ferry.to_upsert('INSERT INTO public.tags VALUES (''clerk'');'); END $$;
RESET ROLE;
SELECT name FROM tags ORDER BY name;
DROP OWNED BY upsert_clerk;
DROP ROLE upsert_nobody, upsert_clerk;

-- ==== a dump's casts are dropped: a type named by the dump never runs its
-- code (a domain's CHECK here) with the rights of whoever applies the dump
CREATE TABLE cast_target (id int PRIMARY KEY, v text);
CREATE TABLE cast_calls (n int);
CREATE FUNCTION cast_watch(text) RETURNS boolean LANGUAGE sql AS
    'INSERT INTO cast_calls VALUES (1) RETURNING true';
CREATE DOMAIN watched AS text CHECK (cast_watch(VALUE));
SELECT ferry.to_upsert('INSERT INTO public.cast_target VALUES (1, ''hello''::public.watched), '
    '(2, ''x''::text::watched::text);') AS upserts;
DO $$ BEGIN EXECUTE ferry.to_upsert('INSERT INTO public.cast_target VALUES '
    '(1, ''hello''::public.watched), (2, ''x''::text::watched::text);'); END $$;
SELECT (SELECT count(*) FROM cast_calls) AS check_calls, (SELECT string_agg(v, ',' ORDER BY id)
    FROM cast_target) AS rows;
DROP TABLE cast_target, cast_calls;
DROP DOMAIN watched;
DROP FUNCTION cast_watch(text);

-- ==== a database that is not UTF-8: names and text are converted both ways
\set main_db :DBNAME
CREATE DATABASE ferry_upsert_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
    TEMPLATE template0;
\c ferry_upsert_latin1
\set SHOW_CONTEXT never
\pset format unaligned
CREATE EXTENSION ferry;
CREATE TABLE "Grüße" ("schlüssel" int PRIMARY KEY, "wert" text);
SELECT ferry.to_upsert('INSERT INTO public."Grüße" VALUES (1, ''Größe'');') AS upserts;
DO $$ BEGIN EXECUTE ferry.to_upsert('INSERT INTO public."Grüße" VALUES (1, ''Größe'');'); END $$;
SELECT * FROM "Grüße";
SELECT ferry.to_upsert('INSERT INTO public."Grüße" VALUES (2, ''a''); DROP TABLE "Grüße";');
\c :main_db
DROP DATABASE ferry_upsert_latin1;
