-- ferry 0.7 → 0.8: ferry.status counts every open conflict. Before, a
-- conflict with a peer that does not read this database's changes (in a
-- chain A → B → C, B's conflicts with A), or on a table this database does
-- not track (the target of a one-way link), was in no row of the view.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.8'" to load this file. \quit

-- One row per tracked table and the peer that reads it: "is it in sync, how
-- far behind?". A table no consumer reads has one row with peer NULL. Where
-- two consumers of one peer read a table (a full sync's hold next to the
-- link that follows it), the one that acknowledged last speaks for it.
-- Open conflicts that no such row counts get a row of their own per table
-- and peer: nothing is pending for that peer, it only writes here.
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
GROUP BY r.relid, r.peer, r.acked_at
UNION ALL
SELECT f.table_name, f.peer, 0, NULL, interval '0', NULL, count(*)
FROM ferry.conflicts f
WHERE f.resolved_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM ferry.tracked_tables t
                  LEFT JOIN ferry.consumers c ON c.tables IS NULL OR t.relid = ANY (c.tables)
                  WHERE t.relid = f.table_name
                    AND (c.name IS NULL OR coalesce(c.peer, c.name) = f.peer))
GROUP BY f.table_name, f.peer;
