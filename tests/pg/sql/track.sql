-- ferry.track / ferry.untrack / ferry.tracked
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never

CREATE TABLE plain (id int PRIMARY KEY, v text);
SELECT ferry.track('plain');
SELECT table_name, schema_name, relation_name, partitioned, key_columns, options FROM ferry.tracked;
-- tracking twice is harmless
SELECT ferry.track('plain');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'plain'::regclass ORDER BY tgname;

-- identifiers with quotes, spaces, upper case and non-ASCII letters
CREATE SCHEMA "Sales ""EU""";
CREATE TABLE "Sales ""EU"""."Order Lines ü" ("Order Id" int, "Line-No" int, "Größe" text,
                                              PRIMARY KEY ("Order Id", "Line-No"));
SELECT ferry.track('"Sales ""EU"""."Order Lines ü"');
INSERT INTO "Sales ""EU"""."Order Lines ü" VALUES (1, 2, 'XL');
SELECT table_name, key, new_row FROM ferry.change_log ORDER BY position;

-- refused: no primary key, views, partitions on their own, bad options
CREATE TABLE no_key (a int, b text);
SELECT ferry.track('no_key');
CREATE VIEW a_view AS SELECT 1 AS x;
SELECT ferry.track('a_view');
SELECT ferry.track('plain', '{"colour": "blue"}');
SELECT ferry.track('missing_table');
CREATE TEMP TABLE temp_t (id int PRIMARY KEY);
SELECT ferry.track('temp_t');

-- partitioned tables: capture on the parent covers every partition
CREATE TABLE events (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT ferry.track('events_eu');
SELECT ferry.track('events');
INSERT INTO events VALUES (1, 'eu', 10), (2, 'us', 20);
-- moving a row between partitions is a delete and an insert
UPDATE events SET region = 'us' WHERE id = 1;
SELECT table_name, operation, key, new_row FROM ferry.change_log
WHERE table_name = 'events'::regclass ORDER BY position;
-- writes that name a partition directly are captured once, under the tracked table
SELECT max(position) AS partitions_written FROM ferry.changes \gset
INSERT INTO events_eu VALUES (3, 'eu', 30);
UPDATE events_us SET v = v + 1 WHERE id = 2;
DELETE FROM events_eu WHERE id = 3;
SELECT table_name, operation, key, new_row FROM ferry.change_log
WHERE table_name = 'events'::regclass AND position > :partitions_written ORDER BY position;
SELECT table_name, partitioned, key_columns FROM ferry.tracked ORDER BY table_name::text;

-- untrack stops capture and keeps what was logged
SELECT count(*) FROM ferry.changes;
SELECT ferry.untrack('plain');
INSERT INTO plain VALUES (1, 'not captured');
SELECT count(*) FROM ferry.changes;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'plain'::regclass;
SELECT ferry.untrack('plain');
SELECT ferry.untrack('events');
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('events_eu'::regclass, 'events_us'::regclass);
SELECT table_name FROM ferry.tracked;

-- more tables ferry refuses, each for a reason that would make capture wrong
CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
SELECT ferry.track('scratch');
CREATE TABLE parent_t (id int PRIMARY KEY);
CREATE TABLE child_t (extra text) INHERITS (parent_t);
SELECT ferry.track('parent_t');
SELECT ferry.track('child_t');
CREATE TABLE deferred_key (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED);
SELECT ferry.track('deferred_key');
