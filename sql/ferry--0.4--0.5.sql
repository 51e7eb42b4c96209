-- ferry 0.4 → 0.5: ferry.purge() empties a fully consumed log with TRUNCATE
-- instead of deleting it row by row (docs/design.md#acknowledgement-and-purge).

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.5'" to load this file. \quit

CREATE OR REPLACE FUNCTION ferry.purge() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed bigint;
    horizon xid8;
    newest record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ferry.consumers) THEN
        RAISE NOTICE 'no consumer is registered: nothing purged'
            USING HINT = 'Consumers register with ferry.register_consumer() or ferry.ack().';
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM ferry.consumers WHERE cursor IS NULL) THEN
        RETURN 0;
    END IF;
    -- A log every consumer has read through is emptied with TRUNCATE: a bulk
    -- statement's million changes go in milliseconds, not in a DELETE that
    -- writes each row again. Only when it is safe:
    --  * the newest change is consumed (a cheap hint that all are; a lagging
    --    consumer never gets as far as the lock);
    --  * the statements below see every committed change: READ COMMITTED,
    --    where each takes a new snapshot (an older transaction snapshot
    --    could miss a change committed before the lock);
    --  * ACCESS EXCLUSIVE on the log, taken NOWAIT: no transaction holds
    --    uncommitted changes in it (a writer keeps ROW EXCLUSIVE to its end)
    --    and no reader is reading it; otherwise the DELETE below runs;
    --  * then every change, counted under the lock, is consumed.
    -- The lock is taken in a subtransaction that is rolled back (releasing
    -- it) unless the log is truncated, so the DELETE never blocks writers.
    SELECT ch.xid, ch.position INTO newest FROM ferry.changes ch ORDER BY ch.position DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF current_setting('transaction_isolation') = 'read committed'
       AND NOT EXISTS (
           SELECT 1 FROM ferry.consumers c
           WHERE NOT (coalesce(pg_visible_in_snapshot(newest.xid, (c.cursor->>'acked')::pg_snapshot), false)
                      OR coalesce(pg_visible_in_snapshot(newest.xid, (c.cursor->>'window')::pg_snapshot)
                                  AND newest.position <= (c.cursor->>'last')::bigint, false))) THEN
        BEGIN
            LOCK TABLE ferry.changes IN ACCESS EXCLUSIVE MODE NOWAIT;
            IF NOT EXISTS (
                WITH consumer AS MATERIALIZED (
                    SELECT (cursor->>'acked')::pg_snapshot AS acked,
                           (cursor->>'window')::pg_snapshot AS win,
                           (cursor->>'last')::bigint AS last
                    FROM ferry.consumers)
                SELECT 1 FROM ferry.changes ch, consumer c
                WHERE NOT (coalesce(pg_visible_in_snapshot(ch.xid, c.acked), false)
                           OR coalesce(pg_visible_in_snapshot(ch.xid, c.win)
                                       AND ch.position <= c.last, false))) THEN
                SELECT count(*) INTO removed FROM ferry.changes;
                TRUNCATE ferry.changes;
                RETURN removed;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'lock_not_available';  -- undo the lock
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END IF;
    -- No change at or past the newest xmax of any consumer can be covered by all.
    SELECT max(greatest(pg_snapshot_xmax((cursor->>'acked')::pg_snapshot),
                        coalesce(pg_snapshot_xmax((cursor->>'window')::pg_snapshot), '0'::xid8)))
    INTO horizon FROM ferry.consumers;
    WITH consumer AS MATERIALIZED (
        SELECT (cursor->>'acked')::pg_snapshot AS acked,
               (cursor->>'window')::pg_snapshot AS win,
               (cursor->>'last')::bigint AS last
        FROM ferry.consumers)
    DELETE FROM ferry.changes ch
    WHERE ch.xid < horizon
      AND NOT EXISTS (
          SELECT 1 FROM consumer c
          WHERE NOT (coalesce(pg_visible_in_snapshot(ch.xid, c.acked), false)
                     OR coalesce(pg_visible_in_snapshot(ch.xid, c.win)
                                 AND ch.position <= c.last, false)));
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;
