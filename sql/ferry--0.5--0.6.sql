-- ferry 0.5 → 0.6: one consumer per sync link, not per target peer
-- (docs/incremental-sync.md#consumers), and the hashing functions no longer
-- executable by PUBLIC (docs/permissions.md).

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.6'" to load this file. \quit

-- Two links from this database into one peer, each with its own tables,
-- used to share the peer's consumer row: each acknowledged for both, and a
-- purge could remove changes the other had not read. A consumer now names
-- the peer it feeds and the tables it reads; `ferry sync` registers one per
-- link. A row without tables (registered by name only, or by ferry 0.5)
-- reads every table.
ALTER TABLE ferry.consumers
    ADD COLUMN peer text,
    ADD COLUMN tables regclass[];
UPDATE ferry.consumers SET peer = name;
COMMENT ON COLUMN ferry.consumers.peer IS 'The peer the consumer applies changes to';
COMMENT ON COLUMN ferry.consumers.tables IS 'The tables it reads; NULL = every tracked table';

-- Registers a link's consumer: until it acknowledges, purge keeps everything.
-- Each run of a link registers again, which moves registered_at: a link
-- that runs again after its tables went elsewhere is the newest again, and
-- supersedes what came between (see _drop_superseded).
CREATE FUNCTION ferry.register_consumer(consumer text, peer text, tables regclass[])
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO ferry.consumers (name, peer, tables)
    VALUES (register_consumer.consumer, register_consumer.peer, register_consumer.tables)
    ON CONFLICT (name) DO UPDATE
    SET peer = excluded.peer, tables = excluded.tables, registered_at = excluded.registered_at
$$;

-- The consumers of a peer that others of the same peer make redundant:
-- every still-tracked table such a consumer reads is read by another
-- consumer of that peer that has acknowledged something and was
-- registered after it. They are what a link leaves behind when its table
-- list grows, and a 0.5 consumer once the peer's links cover every tracked
-- table. "After it" keeps two consumers from dropping each other (a link
-- split in two: the old link's consumer goes, the new ones stay), and
-- whatever a dropped consumer read stays read by one that is not dropped.
-- A consumer that never acknowledged (a full sync's hold) is covered by
-- any acknowledged one: it holds nothing another does not hold. Dropping
-- them lets purge go on; keeping them would hold the log forever. The
-- consumer acknowledging now is running, and is never dropped.
CREATE FUNCTION ferry._drop_superseded(of_peer text, acking text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM ferry.consumers s
    WHERE s.peer = of_peer AND s.name <> acking
      AND EXISTS (SELECT 1 FROM ferry.consumers o
                  WHERE o.peer = of_peer AND o.name <> s.name AND o.tables IS NOT NULL
                    AND o.cursor IS NOT NULL)
      AND NOT EXISTS (
          SELECT 1 FROM ferry.tracked_tables t
          WHERE (s.tables IS NULL OR t.relid = ANY (s.tables))
            AND NOT EXISTS (SELECT 1 FROM ferry.consumers o
                            WHERE o.peer = of_peer AND o.name <> s.name
                              AND o.tables IS NOT NULL AND o.cursor IS NOT NULL
                              AND t.relid = ANY (o.tables)
                              AND (s.cursor IS NULL OR (o.registered_at, o.name) >
                                                       (s.registered_at, s.name))))
$$;

-- Records that the consumer has applied everything up to cursor.
CREATE OR REPLACE FUNCTION ferry.ack(consumer text, cursor jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    of_peer text;
BEGIN
    IF cursor IS NULL THEN
        RAISE EXCEPTION 'invalid change cursor: NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Acknowledge a cursor returned by ferry.read_changes().';
    END IF;
    PERFORM ferry._check_cursor(cursor);
    INSERT INTO ferry.consumers AS c (name, cursor, acked_at)
    VALUES (consumer, ack.cursor, now())
    ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, acked_at = excluded.acked_at
    RETURNING c.peer INTO of_peer;
    IF of_peer IS NOT NULL THEN
        PERFORM ferry._drop_superseded(of_peer, consumer);
    END IF;
END $$;

-- One row per tracked table and the peer that reads it: "is it in sync, how
-- far behind?". A table no consumer reads has one row with peer NULL. Where
-- two consumers of one peer read a table (a full sync's hold next to the
-- link that follows it), the one that acknowledged last speaks for it.
CREATE OR REPLACE VIEW ferry.status AS
WITH reader AS (
    SELECT t.relid, coalesce(c.peer, c.name) AS peer, c.cursor, c.acked_at,
           row_number() OVER (PARTITION BY t.relid, coalesce(c.peer, c.name)
                              ORDER BY c.acked_at DESC NULLS LAST, c.name) AS choice
    FROM ferry.tracked_tables t
    LEFT JOIN ferry.consumers c ON c.tables IS NULL OR t.relid = ANY (c.tables))
SELECT r.relid AS table_name,
       r.peer,
       count(ch.position) AS pending_changes,
       min(ch.changed_at) AS oldest_pending_at,
       coalesce(clock_timestamp() - min(ch.changed_at), interval '0') AS lag,
       r.acked_at AS last_sync_at,
       (SELECT count(*) FROM ferry.conflicts f
        WHERE f.table_name = r.relid AND f.resolved_at IS NULL
          AND (r.peer IS NULL OR f.peer = r.peer)) AS open_conflicts
FROM reader r
LEFT JOIN ferry.changes ch ON ch.relid = r.relid::oid
                            AND ferry._consumed(r.cursor, ch.xid, ch.position) IS NOT TRUE
WHERE r.choice = 1
GROUP BY r.relid, r.peer, r.acked_at;

REVOKE EXECUTE ON FUNCTION ferry.register_consumer(text, text, regclass[]),
                           ferry._drop_superseded(text, text) FROM PUBLIC;

-- The hashing functions run with the caller's rights (SELECT on the table,
-- no row-level security in force), but were the only ferry functions any
-- role could call. Grant them to the roles that compare or sync.
REVOKE EXECUTE ON FUNCTION ferry.row_hash(record),
                           ferry.table_hash(regclass, text),
                           ferry.bucket_hashes(regclass, bigint, text, bigint, bigint[]),
                           ferry.bucket_rows(regclass, bigint, bigint[], text) FROM PUBLIC;
