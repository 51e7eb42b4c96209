CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
-- Capture writes key and new_row in jsonb's binary form directly. Every value
-- class, integers at the edges of the short numeric form, raw-scalar and
-- nested jsonb, and more members than one JEntry offset stride (32) must
-- read back exactly as PostgreSQL's own jsonb would hold them.
CREATE TABLE typed (
    id bigint PRIMARY KEY,
    small smallint, plain integer, big bigint,
    exact numeric, nan numeric, f4 real, f8 double precision, inf float8,
    flag boolean, label text, padded char(6), v varchar(10),
    doc jsonb, scalar_doc jsonb, raw json, bin bytea, gone text);
SELECT ferry.track('typed');
INSERT INTO typed VALUES
    (0, 0, 0, 0, 0, 'NaN', 0, 0, 'Infinity', false, '', 'a', '', '{}', 'null', '{}', '', NULL),
    (1, 1, 10000, 100000000, 10.50, 'NaN', 1.5, 0.1, '-Infinity', true, 'x', 'ab    ', 'é',
     '{"b": [1, 2.50, {"c": null}], "a": "s"}', '7.25', '{"k": 1, "k": 2}', '\x00ff', NULL),
    (-9223372036854775808, -32768, -2147483648, -9223372036854775808, -123456789.000001,
     '-Infinity', -3.5e3, -2.5e10, 'NaN', NULL, 'quote " and \ back', ' ', NULL,
     '[1, "two", false]', '"str"', '[]', NULL, NULL),
    (9223372036854775807, 32767, 2147483647, 9223372036854775807, 1e20, 'Infinity', 1e-7,
     5e-10, 1, true, repeat('long ', 400), 'zzzzzz', 'v', '{"deep": {"er": [[[]]]}}', 'true',
     'null', '\xdeadbeef', NULL),
    (12340000, 1200, 1000000, 10000000000000000, 0.000012, 'NaN', 3, 2, 4, false, 'x', 'y', 'z',
     '{"n": 10000}', '-0.5', '"s"', '\x', NULL);

-- Each member reads back as the value it came from.
SELECT c.key->'id' AS key_id,
       (c.new_row->>'small')::smallint = t.small AS small_ok,
       (c.new_row->>'plain')::integer = t.plain AS plain_ok,
       (c.new_row->>'big')::bigint = t.big AS big_ok,
       (c.new_row->'big') = to_jsonb(t.big) AS big_jsonb_ok,
       (c.new_row->'exact') = to_jsonb(t.exact) AS exact_ok,
       c.new_row->'nan' AS nan, c.new_row->'f4' AS f4, c.new_row->'f8' AS f8,
       c.new_row->'inf' AS inf,
       c.new_row->'flag' AS flag,
       c.new_row->>'label' = t.label AS label_ok,
       c.new_row->'padded' AS padded, c.new_row->'v' AS v,
       c.new_row->'doc' = t.doc AS doc_ok, c.new_row->'scalar_doc' = t.scalar_doc AS scalar_ok,
       c.new_row->'raw' AS raw, c.new_row->'bin' AS bin,
       c.new_row ? 'gone' AS has_gone, jsonb_typeof(c.new_row->'gone') AS gone_type
FROM ferry.changes c JOIN typed t ON t.id = (c.key->>'id')::bigint
ORDER BY t.id;

-- The whole object equals the one jsonb builds from the same values, so its
-- binary layout (key order, offsets, alignment) is what jsonb expects.
SELECT count(*) AS rows_equal
FROM ferry.changes c JOIN typed t ON t.id = (c.key->>'id')::bigint
WHERE c.new_row - 'nan' - 'f4' - 'f8' - 'inf' - 'padded' - 'raw' - 'bin'
        - 'ferry: the jsonb columns of this row that hold JSON null, not SQL NULL'
    = to_jsonb(t) - 'nan' - 'f4' - 'f8' - 'inf' - 'padded' - 'raw' - 'bin'
  AND c.new_row @> c.key AND c.key <@ c.new_row;

-- A jsonb column's JSON null reads as null, as SQL NULL does: one more
-- member, which jsonb sorts last, names such columns (in rows that have one).
SELECT t.id, t.scalar_doc IS NULL AS sql_null,
       c.new_row->'ferry: the jsonb columns of this row that hold JSON null, not SQL NULL'
           AS json_nulls
FROM ferry.changes c JOIN typed t ON t.id = (c.key->>'id')::bigint
ORDER BY t.id;

-- 40 columns: JEntries past the first offset stride.
SELECT format('CREATE TABLE wide (id int PRIMARY KEY, %s)',
              string_agg(format('c%s int', i), ', ' ORDER BY i))
FROM generate_series(1, 40) i \gexec
SELECT ferry.track('wide');
SELECT format('INSERT INTO wide VALUES (7, %s)', string_agg(i::text, ', ' ORDER BY i))
FROM generate_series(1, 40) i \gexec
SELECT c.new_row = to_jsonb(w) AS wide_equal,
       pg_column_size(c.new_row) = pg_column_size(to_jsonb(w)) AS same_size,
       (SELECT count(*) FROM jsonb_each(c.new_row)) AS members,
       c.new_row->'c33' AS c33, c.new_row->>'c40' AS c40
FROM ferry.changes c, wide w WHERE c.relid = 'wide'::regclass;

-- That member past 32 jsonb columns (the JEntry offset stride), naming a
-- column that needs escaping: the same value and size as jsonb's own.
SELECT format('CREATE TABLE wide_docs (id int PRIMARY KEY, %s, "say ""hi""\" jsonb)',
              string_agg(format('d%s jsonb', i), ', ' ORDER BY i))
FROM generate_series(1, 31) i \gexec
SELECT ferry.track('wide_docs');
SELECT format('INSERT INTO wide_docs VALUES (1, %s, %L)',
              string_agg(CASE i % 3 WHEN 0 THEN quote_literal('null') WHEN 1 THEN 'NULL'
                                    ELSE quote_literal('[null]') END, ', ' ORDER BY i), 'null')
FROM generate_series(1, 31) i \gexec
SELECT c.new_row = expected AS docs_equal,
       pg_column_size(c.new_row) = pg_column_size(expected) AS same_size,
       c.new_row->'ferry: the jsonb columns of this row that hold JSON null, not SQL NULL'
           AS json_nulls
FROM ferry.changes c, wide_docs w,
     LATERAL (SELECT to_jsonb(w) || jsonb_build_object(
                  'ferry: the jsonb columns of this row that hold JSON null, not SQL NULL',
                  (SELECT jsonb_agg(format('d%s', i) ORDER BY i) FROM generate_series(3, 30, 3) i)
                      || '["say \"hi\"\\"]'::jsonb) AS expected) e
WHERE c.relid = 'wide_docs'::regclass;
