-- ferry 0.12 → 0.13: positions are reserved a block at a time. The capture
-- triggers took one nextval() per logged change; a statement now takes one
-- per 1,000 changes it logs (docs/design.md, "The change log"): the position
-- sequence steps by 1,000, and the values in between belong to the writer
-- that took the step. Positions still grow in the order changes are written,
-- now with gaps: a single-row statement uses one position of its block.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.13'" to load this file. \quit

-- ALTER SEQUENCE waits for every transaction that took a position (each
-- holds a lock on the sequence until it ends) and keeps new ones out until
-- this one commits, so last_value is final once the step is changed. The
-- next block then starts at the next multiple of 1,000, so that a position
-- reads as block and row.
ALTER SEQUENCE ferry.changes_position_seq INCREMENT BY 1000;
DO $$
DECLARE
    next_block bigint;
BEGIN
    SELECT (s.last_value / 1000 + 1) * 1000 INTO next_block FROM ferry.changes_position_seq s;
    EXECUTE format('ALTER SEQUENCE ferry.changes_position_seq RESTART WITH %s', next_block);
END $$;

-- A block is the value nextval() returned and the 999 after it: a page of
-- changes ends at the last value taken plus 999 (it ended at the last value).
CREATE OR REPLACE FUNCTION ferry.read_changes(after jsonb, max_changes integer DEFAULT 1000,
                                              skip_origin text DEFAULT NULL)
RETURNS TABLE (
    "position"  bigint,
    xid         xid8,
    table_name  text,
    operation   text,
    key         jsonb,
    new_row     jsonb,
    old_hash    bigint,
    origin      text,
    changed_at  timestamptz,
    cursor      jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acked pg_snapshot;
    win pg_snapshot;
    win_end bigint;
    last_pos bigint;
    page_last bigint;
    current pg_snapshot;
    remaining integer := max_changes;
    fetched integer;
    returned integer;
    windows_opened integer := 0;
    emitted_last boolean := false;
    base jsonb;
BEGIN
    IF max_changes IS NULL OR max_changes < 1 THEN
        RAISE EXCEPTION 'max_changes must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot read changes on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = 'A standby''s snapshots do not show which primary transactions are still running.',
                  HINT = 'Read changes from the primary.';
    END IF;
    PERFORM ferry._check_cursor(after);
    acked := (after->>'acked')::pg_snapshot;
    win := (after->>'window')::pg_snapshot;
    win_end := (after->>'window_end')::bigint;
    last_pos := (after->>'last')::bigint;

    -- This transaction's snapshot must see everything the cursor says is
    -- consumed (and all of a window being paged): a REPEATABLE READ
    -- transaction older than the cursor would otherwise move it backwards.
    current := pg_current_snapshot();
    IF NOT ferry._snapshot_covers(current, acked) OR NOT ferry._snapshot_covers(current, win) THEN
        RAISE EXCEPTION 'change cursor is newer than this transaction''s snapshot'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Read changes in a new transaction (or in READ COMMITTED mode).';
    END IF;

    LOOP
        IF win IS NULL THEN
            -- Open a window: everything committed now and not yet consumed.
            -- At most two per call, so a busy server cannot keep us looping.
            EXIT WHEN windows_opened = 2;
            windows_opened := windows_opened + 1;
            current := pg_current_snapshot();
            EXIT WHEN acked IS NOT NULL AND current::text = acked::text;
            win := current;
            -- Read after the snapshot was taken: every change visible in it
            -- took its position's block with nextval() before its
            -- transaction committed, and a block is at most 1,000 long.
            SELECT s.last_value + 999 INTO win_end FROM ferry.changes_position_seq s;
            SELECT min(c.position) - 1 INTO last_pos
            FROM ferry.changes c
            WHERE c.xid >= coalesce(pg_snapshot_xmin(acked), '0'::xid8)
              AND c.xid < pg_snapshot_xmax(win)
              AND pg_visible_in_snapshot(c.xid, win)
              AND (acked IS NULL OR NOT pg_visible_in_snapshot(c.xid, acked));
            IF last_pos IS NULL THEN
                -- Nothing in it: consume it at once.
                acked := win;
                win := NULL;
                emitted_last := false;
                CONTINUE;
            END IF;
        END IF;

        -- The page: the window's next `remaining` changes, by position.
        SELECT max(p.position), count(*) INTO page_last, fetched
        FROM (SELECT c.position
              FROM ferry.changes c
              WHERE c.position > last_pos AND c.position <= win_end
                AND pg_visible_in_snapshot(c.xid, win)
                AND (acked IS NULL OR NOT pg_visible_in_snapshot(c.xid, acked))
              ORDER BY c.position
              LIMIT remaining) p;
        IF fetched > 0 THEN
            -- Every row's cursor is the window's, with `last` at that row.
            base := ferry._make_cursor(acked, win, win_end, NULL);
            RETURN QUERY
                SELECT c.position, c.xid, c.relid::regclass::text,
                       CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE'
                                 WHEN 'D' THEN 'DELETE' WHEN 'T' THEN 'TRUNCATE' END,
                       c.key, c.new_row, c.old_hash, c.origin, c.changed_at,
                       base || jsonb_build_object('last', c.position)
                FROM ferry.changes c
                WHERE c.position > last_pos AND c.position <= page_last
                  AND pg_visible_in_snapshot(c.xid, win)
                  AND (acked IS NULL OR NOT pg_visible_in_snapshot(c.xid, acked))
                  AND (skip_origin IS NULL OR c.origin IS DISTINCT FROM skip_origin)
                ORDER BY c.position;
            GET DIAGNOSTICS returned = ROW_COUNT;
            -- Whether the page's last change was returned (not skipped).
            emitted_last := returned > 0 AND (skip_origin IS NULL OR EXISTS (
                SELECT 1 FROM ferry.changes c
                WHERE c.position = page_last AND c.origin IS DISTINCT FROM skip_origin));
            last_pos := page_last;
        END IF;
        remaining := remaining - fetched;
        EXIT WHEN remaining = 0;
        -- The window is exhausted.
        acked := win;
        win := NULL;
        emitted_last := false;
    END LOOP;

    IF NOT emitted_last AND (acked IS NOT NULL OR win IS NOT NULL) THEN
        -- The cursor moved past changes it did not return (skipped origins, or
        -- empty windows): one row without a change carries the new cursor.
        "position" := NULL; xid := NULL; table_name := NULL; operation := NULL; key := NULL;
        new_row := NULL; old_hash := NULL; origin := NULL; changed_at := NULL;
        cursor := ferry._make_cursor(acked, win, win_end, last_pos);
        IF after IS DISTINCT FROM cursor THEN
            RETURN NEXT;
        END IF;
    END IF;
END $$;

-- The step must stay 1,000: a shorter one would hand a writer positions
-- another writer's block holds (its log row then fails on the primary key),
-- and read_changes() counts on blocks of at most 1,000. ferry._ddl_guard()
-- keeps its cache at 1.
CREATE FUNCTION ferry._sequence_guard() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() cmd
               JOIN pg_sequence s ON s.seqrelid = cmd.objid
               WHERE cmd.object_type = 'sequence'
                 AND cmd.objid = 'ferry.changes_position_seq'::regclass
                 AND s.seqincrement <> 1000) THEN
        RAISE EXCEPTION 'ferry.changes_position_seq must step by 1000'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Each step reserves a block of 1,000 positions for one writer.';
    END IF;
END $$;
-- Called by the event trigger, which runs as whoever issues the DDL.
GRANT EXECUTE ON FUNCTION ferry._sequence_guard() TO PUBLIC;
CREATE EVENT TRIGGER ferry_sequence_guard ON ddl_command_end
    WHEN TAG IN ('ALTER SEQUENCE')
    EXECUTE FUNCTION ferry._sequence_guard();
ALTER EVENT TRIGGER ferry_sequence_guard ENABLE ALWAYS;
