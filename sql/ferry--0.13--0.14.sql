-- ferry 0.13 → 0.14: the change log's xid BRIN index no longer asks
-- autovacuum to summarize each block range it completes; ferry.purge()
-- summarizes the new ranges instead (docs/design.md, "The change log").
-- autovacuum keeps at most 256 such requests for the whole cluster and
-- takes them once a minute: a bulk statement logging a million changes
-- made about 1,600, and each refused one was a LOG line in the server log.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.14'" to load this file. \quit

ALTER INDEX ferry.changes_xid_idx SET (autosummarize = off);

-- read_changes() finds where a window starts through the xid BRIN index,
-- and a block range without a summary matches every search: purge()
-- summarizes the ranges written since it last ran (a VACUUM of the log
-- does too) whenever it does not empty the log. It never waits: when
-- another purge, a VACUUM or an ANALYZE of the log holds the lock, the
-- next purge does it.
CREATE FUNCTION ferry._summarize_log() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE ferry.changes IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
    PERFORM brin_summarize_new_values('ferry.changes_xid_idx'::regclass);
EXCEPTION WHEN lock_not_available THEN
    NULL;
END $$;
REVOKE EXECUTE ON FUNCTION ferry._summarize_log() FROM PUBLIC;

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
        PERFORM ferry._summarize_log();
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
    PERFORM ferry._summarize_log();
    RETURN removed;
END $$;
