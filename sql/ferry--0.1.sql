/* ferry 0.1: change capture, change reading, checkpoints, leases, sessions */

\echo Use "CREATE EXTENSION ferry" to load this file. \quit

-- Nothing in schema ferry is writable by PUBLIC. Roles that run syncs are
-- granted what they need explicitly (docs/permissions.md).
REVOKE ALL ON SCHEMA ferry FROM PUBLIC;
GRANT USAGE ON SCHEMA ferry TO PUBLIC;

------------------------------------------------------------------------------
-- Tracking
------------------------------------------------------------------------------

CREATE TABLE ferry.tracked_tables (
    relid       regclass PRIMARY KEY,
    options     jsonb NOT NULL DEFAULT '{}',
    -- every descendant, for the DDL guard; regclass so that dump and restore
    -- keep it right (OIDs change, names do not)
    partitions  regclass[] NOT NULL DEFAULT '{}',
    tracked_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ferry.tracked_tables IS 'Tables whose changes ferry captures; use ferry.track()/ferry.untrack()';
-- The DDL guard runs as whoever issues DDL, and must see what is tracked.
GRANT SELECT ON ferry.tracked_tables TO PUBLIC;

-- Positions come from a sequence without a cache, so that they grow in the
-- order nextval() is called across all sessions (read_changes relies on it).
CREATE SEQUENCE ferry.changes_position_seq CACHE 1;

CREATE TABLE ferry.changes (
    position    bigint PRIMARY KEY,
    xid         xid8 NOT NULL,          -- top-level transaction that wrote it
    relid       oid NOT NULL,           -- the tracked table
    op          "char" NOT NULL,        -- I, U, D, T
    key         jsonb,                  -- primary key columns (I, U, D)
    new_row     jsonb,                  -- the whole new row (I, U)
    old_hash    bigint,                 -- canonical hash of the old row (U, D)
    origin      text,                   -- peer whose change was applied; NULL = local
    changed_at  timestamptz NOT NULL    -- start of the writing transaction
);
-- The reader finds a window's first change by transaction id. A btree on xid
-- cost capture more than the rest of the trigger together (every change of a
-- transaction has the same xid); a BRIN index costs next to nothing, and
-- since xids grow along the heap it still narrows the scan to recent pages.
-- PostgreSQL 15 has no BRIN operator class for xid8; minmax works for any
-- type with a btree ordering, so ferry defines one.
CREATE OPERATOR CLASS ferry.xid8_minmax_ops FOR TYPE xid8 USING brin AS
    OPERATOR 1 < (xid8, xid8),
    OPERATOR 2 <= (xid8, xid8),
    OPERATOR 3 = (xid8, xid8),
    OPERATOR 4 >= (xid8, xid8),
    OPERATOR 5 > (xid8, xid8),
    FUNCTION 1 brin_minmax_opcinfo(internal),
    FUNCTION 2 brin_minmax_add_value(internal, internal, internal, internal),
    FUNCTION 3 brin_minmax_consistent(internal, internal, internal),
    FUNCTION 4 brin_minmax_union(internal, internal, internal);
CREATE INDEX changes_xid_idx ON ferry.changes USING brin (xid ferry.xid8_minmax_ops)
    WITH (pages_per_range = 16, autosummarize = on);
COMMENT ON TABLE ferry.changes IS 'Change log written by the capture triggers; read it with ferry.read_changes() or the view ferry.change_log';

CREATE VIEW ferry.change_log AS
SELECT c.position,
       c.xid,
       c.relid::regclass AS table_name,
       CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE'
                 WHEN 'D' THEN 'DELETE' WHEN 'T' THEN 'TRUNCATE' END AS operation,
       c.key,
       c.new_row,
       c.old_hash,
       c.origin,
       c.changed_at
FROM ferry.changes c;

CREATE VIEW ferry.tracked AS
SELECT t.relid AS table_name,
       n.nspname AS schema_name,
       c.relname AS relation_name,
       c.relkind = 'p' AS partitioned,
       ARRAY(SELECT a.attname
             FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = t.relid AND i.indisprimary
             ORDER BY k.ord) AS key_columns,
       t.options,
       t.tracked_at
FROM ferry.tracked_tables t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace;

CREATE FUNCTION ferry.capture_statement() RETURNS trigger
    AS 'MODULE_PATHNAME', 'capture_statement' LANGUAGE C;
CREATE FUNCTION ferry.capture_truncate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'capture_truncate' LANGUAGE C;
CREATE FUNCTION ferry.truncate_finished() RETURNS trigger
    AS 'MODULE_PATHNAME', 'truncate_finished' LANGUAGE C;
CREATE FUNCTION ferry.guard_partition_truncate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'guard_partition_truncate' LANGUAGE C;

-- Installs ferry's triggers on one relation of a tracked table's partition
-- tree (or on a plain tracked table, then rel = root). Statement-level
-- triggers with transition tables: one call per statement. Every relation of
-- a partition tree gets them, because a statement fires the statement
-- triggers of the table it names only.
CREATE FUNCTION ferry._install_capture(rel regclass, root regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER ferry_capture_insert AFTER INSERT ON %s '
                   'REFERENCING NEW TABLE AS ferry_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION ferry.capture_statement()', rel);
    EXECUTE format('CREATE TRIGGER ferry_capture_update AFTER UPDATE ON %s '
                   'REFERENCING OLD TABLE AS ferry_old NEW TABLE AS ferry_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION ferry.capture_statement()', rel);
    EXECUTE format('CREATE TRIGGER ferry_capture_delete AFTER DELETE ON %s '
                   'REFERENCING OLD TABLE AS ferry_old '
                   'FOR EACH STATEMENT EXECUTE FUNCTION ferry.capture_statement()', rel);
    IF rel = root THEN
        EXECUTE format('CREATE TRIGGER ferry_capture_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ferry.capture_truncate()', rel);
        IF (SELECT relkind FROM pg_class WHERE oid = rel) = 'p' THEN
            EXECUTE format('CREATE TRIGGER ferry_truncate_finished AFTER TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION ferry.truncate_finished()', rel);
        END IF;
    ELSE
        EXECUTE format('CREATE TRIGGER ferry_truncate_guard BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ferry.guard_partition_truncate()', rel);
    END IF;
    -- ALWAYS: capture even under session_replication_role = replica. One
    -- ALTER TABLE for all, so the DDL guard never sees some enabled and some not.
    EXECUTE format('ALTER TABLE ONLY %s %s', rel,
                   (SELECT string_agg(format('ENABLE ALWAYS TRIGGER %I', tgname), ', ')
                    FROM pg_trigger WHERE tgrelid = rel AND tgname LIKE 'ferry\_%'));
END $$;

CREATE FUNCTION ferry._descendants(root regclass) RETURNS oid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(relid::oid ORDER BY relid::oid), '{}')
    FROM pg_partition_tree(root) WHERE relid <> root
$$;

-- Records the current partitions of a tracked table. SECURITY DEFINER so the
-- DDL guard can call it for whoever creates a partition; it writes only what
-- the catalog says.
CREATE FUNCTION ferry._record_partitions(root regclass) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- A no-op (and no row lock) unless the catalog changed.
    UPDATE ferry.tracked_tables SET partitions = ferry._descendants(root)::regclass[]
    WHERE relid = root AND partitions IS DISTINCT FROM ferry._descendants(root)::regclass[]
$$;

-- Starts capturing every INSERT, UPDATE, DELETE and TRUNCATE on a table.
-- Runs with the caller's privileges: installing the triggers (and enabling
-- them ALWAYS) needs ownership of the table and its partitions.
CREATE FUNCTION ferry.track(tbl regclass, options jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel pg_class;
    unknown_option text;
    partition oid;
BEGIN
    SELECT * INTO rel FROM pg_class WHERE oid = tbl;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot track "%"', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only tables and partitioned tables can be tracked.';
    END IF;
    IF rel.relispartition THEN
        RAISE EXCEPTION 'cannot track partition "%" on its own', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Track the partitioned table; capture covers all its partitions.';
    END IF;
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot track temporary table "%"', tbl
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF rel.relpersistence = 'u' THEN
        RAISE EXCEPTION 'cannot track unlogged table "%"', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'A crash empties an unlogged table without any change being logged.',
                  HINT = format('Make it logged first: ALTER TABLE %s SET LOGGED.', tbl);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE (i.inhparent = tbl OR i.inhrelid = tbl) AND NOT c.relispartition) THEN
        RAISE EXCEPTION 'cannot track "%": it is part of an inheritance hierarchy', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Statements on a parent change rows of its children, and the other way round, without firing the other table''s triggers.',
                  HINT = 'Use declarative partitioning, or track a table without inheritance.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srrelid = tbl) THEN
        RAISE EXCEPTION 'cannot track "%": it is a logical replication subscription target', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The logical replication apply worker fires no statement-level triggers, so its writes would not be captured.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indrelid = tbl AND indisprimary
               AND NOT (indimmediate AND indisvalid)) THEN
        RAISE EXCEPTION 'cannot track "%": its primary key is deferrable or not valid', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Use an immediate, valid primary key.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = tbl AND indisprimary) THEN
        RAISE EXCEPTION 'table "%" has no primary key', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'ferry identifies rows by their primary key.',
                  HINT = format('Add one with ALTER TABLE %s ADD PRIMARY KEY (...), then track it.', tbl);
    END IF;
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k INTO unknown_option FROM jsonb_object_keys(options) AS k LIMIT 1;
    IF unknown_option IS NOT NULL THEN
        RAISE EXCEPTION 'unknown tracking option "%"', unknown_option
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ferry 0.1 defines no tracking options; pass ''{}'' or omit the argument.';
    END IF;
    IF EXISTS (SELECT 1 FROM ferry.tracked_tables WHERE relid = tbl) THEN
        RAISE NOTICE 'table "%" is already tracked', tbl;
        RETURN;
    END IF;

    PERFORM ferry._install_capture(tbl, tbl);
    FOREACH partition IN ARRAY ferry._descendants(tbl) LOOP
        PERFORM ferry._install_capture(partition::regclass, tbl);
    END LOOP;
    INSERT INTO ferry.tracked_tables (relid, options, partitions)
    VALUES (tbl, options, ferry._descendants(tbl)::regclass[]);
END $$;

-- ferry's trigger functions: its triggers are recognized by function, not
-- by name (a trigger can be renamed).
CREATE FUNCTION ferry._trigger_functions() RETURNS oid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['ferry.capture_statement()'::regprocedure::oid,
                 'ferry.capture_truncate()'::regprocedure::oid,
                 'ferry.truncate_finished()'::regprocedure::oid,
                 'ferry.guard_partition_truncate()'::regprocedure::oid]
$$;

-- Stops capturing a table. Changes already logged stay in the log.
CREATE FUNCTION ferry.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts oid[];
    trigger_name name;
    on_table regclass;
BEGIN
    DELETE FROM ferry.tracked_tables WHERE relid = tbl RETURNING partitions::oid[] INTO parts;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not tracked', tbl
            USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM ferry.tracked lists tracked tables.';
    END IF;
    FOR trigger_name, on_table IN
        SELECT g.tgname, g.tgrelid::regclass FROM pg_trigger g
        WHERE (g.tgrelid = tbl OR g.tgrelid = ANY (parts))
          AND g.tgfoid = ANY (ferry._trigger_functions())
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, on_table);
    END LOOP;
END $$;

------------------------------------------------------------------------------
-- DDL on tracked tables: keep capture correct, or refuse
------------------------------------------------------------------------------

-- Column changes need nothing: the capture trigger reads the current row
-- shape on every call, and rows are logged as self-describing jsonb.
-- What would make capture silently wrong is refused here.
CREATE FUNCTION ferry._ddl_guard() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cmd record;
    t record;
    now_parts oid[];
    added oid[];
BEGIN
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE object_type = 'trigger' LOOP
        IF EXISTS (SELECT 1 FROM pg_trigger g JOIN ferry.tracked_tables tracked
                       ON g.tgrelid = tracked.relid OR g.tgrelid = ANY (tracked.partitions::oid[])
                   WHERE g.oid = cmd.objid AND g.tgfoid = ANY (ferry._trigger_functions())
                     AND g.tgname NOT LIKE 'ferry\_%') THEN
            RAISE EXCEPTION 'cannot rename ferry''s triggers'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'ferry guards its triggers by name.';
        END IF;
    END LOOP;
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE object_type = 'sequence' LOOP
        IF cmd.objid = 'ferry.changes_position_seq'::regclass
           AND (SELECT seqcache FROM pg_sequence WHERE seqrelid = cmd.objid) <> 1 THEN
            RAISE EXCEPTION 'ferry.changes_position_seq must not cache values'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Positions must grow in the order changes are written, across all sessions.';
        END IF;
    END LOOP;
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands()
               WHERE object_type IN ('table', 'table column', 'foreign table') LOOP
        -- (pg_partition_ancestors() and pg_partition_tree() return nothing
        -- for a table that is not partitioned: match the table itself too.)
        FOR t IN SELECT * FROM ferry.tracked_tables
                 WHERE relid::oid = cmd.objid
                    OR relid::oid IN (SELECT pg_partition_ancestors(cmd.objid))
                    OR relid::oid IN (SELECT inhparent FROM pg_inherits WHERE inhrelid = cmd.objid)
                    OR cmd.objid = ANY (partitions::oid[]) LOOP
            IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE (i.inhparent = t.relid OR i.inhrelid = t.relid) AND NOT c.relispartition) THEN
                RAISE EXCEPTION 'cannot make tracked table "%" part of an inheritance hierarchy', t.relid
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = 'Writes through the parent or the children would escape capture.',
                          HINT = format('Run SELECT ferry.untrack(%L) first.', t.relid::text);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_class WHERE oid = t.relid AND relpersistence <> 'p') THEN
                RAISE EXCEPTION 'cannot make tracked table "%" unlogged', t.relid
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'A crash would empty it without any change being logged.',
                          HINT = format('Run SELECT ferry.untrack(%L) first.', t.relid::text);
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = t.relid AND indisprimary
                           AND indimmediate AND indisvalid) THEN
                RAISE EXCEPTION 'cannot remove the primary key of tracked table "%"', t.relid
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'ferry identifies rows by their primary key.',
                          HINT = format('Run SELECT ferry.untrack(%L) first.', t.relid::text);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_trigger
                       WHERE (tgrelid = t.relid OR tgrelid = ANY (t.partitions::oid[]))
                         AND tgfoid = ANY (ferry._trigger_functions())
                         -- D: disabled, R: replica only. (O is accepted: pg_restore
                         -- creates triggers enabled and sets ALWAYS one at a time.)
                         AND tgenabled IN ('D', 'R')) THEN
                RAISE EXCEPTION 'cannot disable ferry''s capture on tracked table "%"', t.relid
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Writes made while capture is off would never reach the peers.',
                          HINT = format('Run SELECT ferry.untrack(%L) instead, and resynchronize after.', t.relid::text);
            END IF;
            now_parts := ferry._descendants(t.relid);
            IF EXISTS (SELECT unnest(t.partitions::oid[]) EXCEPT SELECT unnest(now_parts)) THEN
                RAISE EXCEPTION 'cannot detach a partition from tracked table "%"', t.relid
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Its rows would leave the table without being captured as deletes.',
                          HINT = 'Delete the rows through the tracked table first, or untrack it.';
            END IF;
            added := ARRAY(SELECT unnest(now_parts) EXCEPT SELECT unnest(t.partitions::oid[]));
            IF EXISTS (SELECT 1 FROM pg_class WHERE oid = ANY (added) AND relkind = 'f') THEN
                RAISE EXCEPTION 'cannot add a foreign table as a partition of tracked table "%"', t.relid
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = 'Rows of a foreign table change on the remote server, where ferry cannot capture them.';
            END IF;
            IF cardinality(added) > 0 THEN
                IF cmd.command_tag <> 'CREATE TABLE' THEN
                    RAISE EXCEPTION 'cannot attach a partition to tracked table "%"', t.relid
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              DETAIL = 'Its existing rows would join the table without being captured.',
                              HINT = 'Create the partition empty with CREATE TABLE ... PARTITION OF, then insert through the tracked table.';
                END IF;
                -- Record first: installing the guard is itself an ALTER TABLE
                -- that brings us back here, and must find the partition known.
                PERFORM ferry._record_partitions(t.relid);
                FOR i IN 1 .. cardinality(added) LOOP
                    PERFORM ferry._install_capture(added[i]::regclass, t.relid);
                END LOOP;
            END IF;
        END LOOP;
    END LOOP;
END $$;

CREATE FUNCTION ferry._drop_guard() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dropped record;
    t record;
BEGIN
    FOR dropped IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        IF dropped.object_type = 'table' THEN
            FOR t IN SELECT * FROM ferry.tracked_tables
                     WHERE relid::oid = dropped.objid OR dropped.objid = ANY (partitions::oid[]) LOOP
                RAISE EXCEPTION '%', CASE WHEN t.relid::oid = dropped.objid
                        THEN format('cannot drop "%s": it is tracked by ferry', dropped.object_identity)
                        ELSE format('cannot drop "%s": it is a partition of tracked table "%s"',
                                    dropped.object_identity, t.relid) END
                    USING ERRCODE = 'dependent_objects_still_exist',
                          DETAIL = 'Its rows would vanish from the peers'' view without being captured.',
                          HINT = CASE WHEN t.relid::oid = dropped.objid
                                      THEN format('Run SELECT ferry.untrack(%L) first.', dropped.object_identity)
                                      ELSE 'Delete its rows through the tracked table first, or untrack the table.' END;
            END LOOP;
        ELSIF dropped.object_type = 'trigger' AND dropped.address_names[3] LIKE 'ferry\_%' THEN
            -- untrack() forgets the table before dropping its triggers, so a
            -- ferry trigger dropped while its table is tracked was dropped by hand.
            FOR t IN SELECT * FROM ferry.tracked_tables
                     WHERE to_regclass(format('%I.%I', dropped.address_names[1], dropped.address_names[2]))::oid
                           IN (SELECT relid::oid UNION ALL SELECT unnest(partitions::oid[])) LOOP
                RAISE EXCEPTION 'cannot drop trigger % of tracked table "%"', dropped.address_names[3], t.relid
                    USING ERRCODE = 'dependent_objects_still_exist',
                          DETAIL = 'Writes would no longer be captured.',
                          HINT = format('Run SELECT ferry.untrack(%L) instead.', t.relid::text);
            END LOOP;
        END IF;
    END LOOP;
END $$;

CREATE EVENT TRIGGER ferry_ddl_guard ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER TRIGGER',
                 'ALTER SEQUENCE')
    EXECUTE FUNCTION ferry._ddl_guard();
CREATE EVENT TRIGGER ferry_drop_guard ON sql_drop
    EXECUTE FUNCTION ferry._drop_guard();
-- Event triggers, like triggers, do not fire under session_replication_role
-- = replica unless enabled ALWAYS; DDL is guarded whatever the role.
ALTER EVENT TRIGGER ferry_ddl_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER ferry_drop_guard ENABLE ALWAYS;

------------------------------------------------------------------------------
-- Reading changes in commit-safe batches
------------------------------------------------------------------------------
-- A cursor is a jsonb value that the consumer stores (on the target, in the
-- same transaction as the changes it applied) and passes back:
--   {"acked": S}                    every change whose transaction is visible
--                                   in snapshot S has been consumed
--   {"acked": S, "window": W, "window_end": E, "last": P}
--                                   additionally, of the changes visible in W
--                                   but not in S, those up to position P
-- A window is the set of changes of transactions that committed between two
-- snapshots. It is fixed once opened, so paging through it by position can
-- never skip a transaction that commits later with a smaller position: that
-- transaction is not in the window, and belongs to the next one. A NULL
-- cursor means "from the beginning of the log".

-- True when the change (xid, position) is covered by cursor.
CREATE FUNCTION ferry._consumed(cursor jsonb, change_xid xid8, change_position bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    -- Never NULL: a NULL here would turn "not consumed" into "unknown", and
    -- purge must treat anything it cannot prove consumed as not consumed.
    SELECT coalesce(pg_visible_in_snapshot(change_xid, (cursor->>'acked')::pg_snapshot), false)
        OR coalesce(pg_visible_in_snapshot(change_xid, (cursor->>'window')::pg_snapshot)
                    AND change_position <= (cursor->>'last')::bigint, false)
$$;

-- True when every transaction visible in inner is visible in outer (NULL
-- inner: nothing to cover).
CREATE FUNCTION ferry._snapshot_covers(outer_snapshot pg_snapshot, inner_snapshot pg_snapshot)
RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT inner_snapshot IS NULL
        OR (pg_snapshot_xmax(inner_snapshot) <= pg_snapshot_xmax(outer_snapshot)
            AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(outer_snapshot) AS x
                            WHERE x < pg_snapshot_xmax(inner_snapshot)
                              AND pg_visible_in_snapshot(x, inner_snapshot)))
$$;

-- Refuses a cursor that this server cannot have handed out: malformed, from
-- another cluster (a restore into a new cluster), or naming transactions
-- that have not happened here yet (a restore from an older backup, or a
-- forged cursor, which would make purge() delete unread changes).
CREATE FUNCTION ferry._check_cursor(cursor jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    newest xid8;
BEGIN
    IF cursor IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(cursor) <> 'object' OR NOT cursor ? 'acked'
       OR (cursor ? 'window' AND NOT (cursor ? 'window_end' AND cursor ? 'last')) THEN
        RAISE EXCEPTION 'invalid change cursor: %', cursor
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to read from the beginning, or a cursor returned by ferry.read_changes().';
    END IF;
    IF cursor ? 'system'
       AND cursor->>'system' <> (SELECT system_identifier::text FROM pg_control_system()) THEN
        RAISE EXCEPTION 'change cursor belongs to another database cluster'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The cursor was made by cluster %s.', cursor->>'system'),
                  HINT = 'The database was restored or copied into a new cluster: resynchronize the consumer with a full sync.';
    END IF;
    newest := greatest(pg_snapshot_xmax((cursor->>'acked')::pg_snapshot),
                       pg_snapshot_xmax((cursor->>'window')::pg_snapshot));
    IF newest > '1'::xid8 THEN
        BEGIN
            PERFORM pg_xact_status(((newest::text)::numeric - 1)::text::xid8);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION 'change cursor is ahead of this server''s transaction history'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('The cursor names transaction %s, which has not happened here.', newest),
                      HINT = 'The database was restored from a backup (or the cursor was not made here): resynchronize the consumer with a full sync.';
        END;
    END IF;
END $$;

-- The cursor form returned to consumers: snapshots as text, plus this
-- cluster's system identifier.
CREATE FUNCTION ferry._make_cursor(acked pg_snapshot, win pg_snapshot, win_end bigint, last bigint)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'system', (SELECT system_identifier::text FROM pg_control_system()),
        'acked', acked::text, 'window', win::text, 'window_end', win_end, 'last', last))
        || CASE WHEN acked IS NULL THEN '{"acked": null}'::jsonb ELSE '{}'::jsonb END
$$;

CREATE FUNCTION ferry.read_changes(after jsonb, max_changes integer DEFAULT 1000,
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
    current pg_snapshot;
    remaining integer := max_changes;
    fetched integer;
    windows_opened integer := 0;
    emitted_last boolean := false;
    change record;
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
            -- called nextval() before its transaction committed.
            SELECT s.last_value INTO win_end FROM ferry.changes_position_seq s;
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

        fetched := 0;
        FOR change IN
            SELECT c.*
            FROM ferry.changes c
            WHERE c.position > last_pos AND c.position <= win_end
              AND pg_visible_in_snapshot(c.xid, win)
              AND (acked IS NULL OR NOT pg_visible_in_snapshot(c.xid, acked))
            ORDER BY c.position
            LIMIT remaining
        LOOP
            fetched := fetched + 1;
            last_pos := change.position;
            emitted_last := false;
            CONTINUE WHEN skip_origin IS NOT NULL AND change.origin IS NOT DISTINCT FROM skip_origin;
            emitted_last := true;
            "position" := change.position;
            xid := change.xid;
            table_name := change.relid::regclass::text;
            operation := CASE change.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE'
                                        WHEN 'D' THEN 'DELETE' WHEN 'T' THEN 'TRUNCATE' END;
            key := change.key;
            new_row := change.new_row;
            old_hash := change.old_hash;
            origin := change.origin;
            changed_at := change.changed_at;
            cursor := ferry._make_cursor(acked, win, win_end, last_pos);
            RETURN NEXT;
        END LOOP;
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

-- A cursor covering every change committed as of the caller's snapshot: the
-- starting point of a consumer that has just copied the tables in the same
-- snapshot (a full sync run on an exported snapshot).
CREATE FUNCTION ferry.current_cursor() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ferry._make_cursor(pg_current_snapshot(), NULL, NULL, NULL)
$$;

-- Marks this transaction's writes as applied on behalf of peer (ferry.origin,
-- until the transaction ends), so they are never sent back to it. Setting
-- ferry.origin directly needs superuser; this is what a sync role is granted.
CREATE FUNCTION ferry.set_origin(peer text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF peer IS NULL OR peer = '' THEN
        RAISE EXCEPTION 'origin peer must be named' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('ferry.origin', peer, true);
END $$;

------------------------------------------------------------------------------
-- Consumers, acknowledgement and retention
------------------------------------------------------------------------------

CREATE TABLE ferry.consumers (
    name           text PRIMARY KEY,
    cursor         jsonb,                 -- last acknowledged cursor; NULL = nothing yet
    acked_at       timestamptz,
    registered_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ferry.consumers IS 'Peers that read this change log; ferry.purge() keeps what any of them has not acknowledged';

-- Registers a consumer; until it acknowledges, purge keeps everything.
CREATE FUNCTION ferry.register_consumer(consumer text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO ferry.consumers (name) VALUES (consumer) ON CONFLICT (name) DO NOTHING
$$;

CREATE FUNCTION ferry.drop_consumer(consumer text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (DELETE FROM ferry.consumers WHERE name = consumer RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$$;

-- Records that the consumer has applied everything up to cursor.
CREATE FUNCTION ferry.ack(consumer text, cursor jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF cursor IS NULL THEN
        RAISE EXCEPTION 'invalid change cursor: NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Acknowledge a cursor returned by ferry.read_changes().';
    END IF;
    PERFORM ferry._check_cursor(cursor);
    INSERT INTO ferry.consumers AS c (name, cursor, acked_at)
    VALUES (consumer, ack.cursor, now())
    ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, acked_at = excluded.acked_at;
END $$;

-- Removes the changes that every registered consumer has acknowledged and
-- returns how many. With no consumer registered nothing is removed.
CREATE FUNCTION ferry.purge() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed bigint;
    horizon xid8;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ferry.consumers) THEN
        RAISE NOTICE 'no consumer is registered: nothing purged'
            USING HINT = 'Consumers register with ferry.register_consumer() or ferry.ack().';
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM ferry.consumers WHERE cursor IS NULL) THEN
        RETURN 0;
    END IF;
    -- No change at or past the newest xmax of any consumer can be covered by all.
    SELECT max(greatest(pg_snapshot_xmax((cursor->>'acked')::pg_snapshot),
                        coalesce(pg_snapshot_xmax((cursor->>'window')::pg_snapshot), '0'::xid8)))
    INTO horizon FROM ferry.consumers;
    DELETE FROM ferry.changes ch
    WHERE ch.xid < horizon
      AND NOT EXISTS (SELECT 1 FROM ferry.consumers c
                      WHERE ferry._consumed(c.cursor, ch.xid, ch.position) IS NOT TRUE);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;

------------------------------------------------------------------------------
-- Checkpoints
------------------------------------------------------------------------------
-- One row per job and scope. Written on the target in the same transaction as
-- the data it covers, so progress recorded is progress made.

CREATE TABLE ferry.checkpoints (
    job                text NOT NULL,
    scope              text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'completed', 'failed')),
    position           jsonb,          -- where to resume: a number, a key, a change cursor
    total              bigint,
    done               bigint NOT NULL DEFAULT 0,
    last_attempt_at    timestamptz,
    last_completed_at  timestamptz,
    last_error         text,
    PRIMARY KEY (job, scope)
);

-- Starts (or resumes) a run. A completed checkpoint, or restart => true,
-- starts over from no position; a running or failed one keeps its position.
CREATE FUNCTION ferry.checkpoint_begin(job text, scope text DEFAULT '', total bigint DEFAULT NULL,
                                       restart boolean DEFAULT false)
RETURNS ferry.checkpoints
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO ferry.checkpoints AS c (job, scope, status, total, last_attempt_at)
    VALUES (job, scope, 'running', total, now())
    ON CONFLICT (job, scope) DO UPDATE SET
        status = 'running',
        total = coalesce(excluded.total, c.total),
        last_attempt_at = now(),
        position = CASE WHEN restart OR c.status = 'completed' THEN NULL ELSE c.position END,
        done = CASE WHEN restart OR c.status = 'completed' THEN 0 ELSE c.done END
    RETURNING *
$$;

CREATE FUNCTION ferry.checkpoint_advance(job text, scope text, new_position jsonb, done bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE ferry.checkpoints c SET position = checkpoint_advance.new_position,
                                   done = checkpoint_advance.done
    WHERE c.job = checkpoint_advance.job AND c.scope = checkpoint_advance.scope
      AND c.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'checkpoint "%" scope "%" is not running', job, scope
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call ferry.checkpoint_begin() first.';
    END IF;
END $$;

CREATE FUNCTION ferry.checkpoint_complete(job text, scope text DEFAULT '') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE ferry.checkpoints c SET status = 'completed', last_completed_at = now(),
                                   last_error = NULL, done = coalesce(c.total, c.done)
    WHERE c.job = checkpoint_complete.job AND c.scope = checkpoint_complete.scope;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no checkpoint "%" scope "%"', job, scope USING ERRCODE = 'undefined_object';
    END IF;
END $$;

CREATE FUNCTION ferry.checkpoint_fail(job text, scope text, error text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE ferry.checkpoints c SET status = 'failed', last_error = error
    WHERE c.job = checkpoint_fail.job AND c.scope = checkpoint_fail.scope;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no checkpoint "%" scope "%"', job, scope USING ERRCODE = 'undefined_object';
    END IF;
END $$;

-- Where a run should start: 'fresh' (completed within fresh_within: nothing
-- to do), 'resume' (from position), or 'start' (from the beginning).
CREATE FUNCTION ferry.checkpoint_resume_point(job text, scope text DEFAULT '',
                                              fresh_within interval DEFAULT NULL,
                                              OUT action text, OUT resume_position jsonb, OUT done bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
               CASE WHEN c.status = 'completed' AND fresh_within IS NOT NULL
                         AND c.last_completed_at > now() - fresh_within THEN 'fresh'
                    WHEN c.status IN ('running', 'failed') AND c.position IS NOT NULL THEN 'resume'
               END, 'start'),
           CASE WHEN c.status IN ('running', 'failed') THEN c.position END,
           CASE WHEN c.status IN ('running', 'failed') AND c.position IS NOT NULL THEN c.done ELSE 0 END
    FROM (SELECT 1) one
    LEFT JOIN ferry.checkpoints c ON c.job = checkpoint_resume_point.job
                                 AND c.scope = checkpoint_resume_point.scope
$$;

------------------------------------------------------------------------------
-- Leases
------------------------------------------------------------------------------
-- A lease is a row, not a session-level lock: it survives the holder's
-- connection and crash, and expires by itself when its time is up.

CREATE TABLE ferry.locks (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    since       timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Takes or renews the lease. True when holder now has it.
CREATE FUNCTION ferry.try_lock(name text, holder text, ttl interval) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    taken boolean;
BEGIN
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION 'lease time to live must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF holder IS NULL OR holder = '' THEN
        RAISE EXCEPTION 'lease holder must be named' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ferry.locks AS l (name, holder, since, expires_at)
    VALUES (try_lock.name, try_lock.holder, clock_timestamp(), clock_timestamp() + ttl)
    ON CONFLICT ON CONSTRAINT locks_pkey DO UPDATE SET
        holder = excluded.holder,
        since = CASE WHEN l.holder = excluded.holder THEN l.since ELSE excluded.since END,
        expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
    RETURNING true INTO taken;
    RETURN coalesce(taken, false);
END $$;

-- Releases the holder's own lease. True when it held it.
CREATE FUNCTION ferry.unlock(name text, holder text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    released boolean;
BEGIN
    IF holder IS NULL OR holder = '' THEN
        RAISE EXCEPTION 'lease holder must be named'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'To release another holder''s lease, a DBA runs ferry.force_unlock(name).';
    END IF;
    DELETE FROM ferry.locks l WHERE l.name = unlock.name AND l.holder = unlock.holder
    RETURNING true INTO released;
    RETURN coalesce(released, false);
END $$;

-- Releases a lease whoever holds it: the DBA's `ferry unlock NAME`, for a
-- holder that is gone and whose lease has not expired yet. Not for sync roles.
CREATE FUNCTION ferry.force_unlock(name text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (DELETE FROM ferry.locks l WHERE l.name = force_unlock.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$$;

------------------------------------------------------------------------------
-- Sessions, conflicts, status
------------------------------------------------------------------------------

CREATE TABLE ferry.sessions (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('full', 'incremental', 'diff')),
    direction         text CHECK (direction IN ('pull', 'push', 'both')),
    source            text,           -- peer names or redacted addresses, never passwords
    target            text,
    method            text,
    phase             text,
    bytes_done        bigint NOT NULL DEFAULT 0,
    bytes_total       bigint,
    rows_done         bigint NOT NULL DEFAULT 0,
    rows_total        bigint,
    rows_per_second   double precision,
    estimated_finish  timestamptz,
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    error             text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz
);

CREATE FUNCTION ferry.session_start(kind text, direction text, source text, target text,
                                    method text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF kind IS NULL OR kind NOT IN ('full', 'incremental', 'diff') THEN
        RAISE EXCEPTION 'invalid session kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use full, incremental or diff.';
    END IF;
    IF direction IS NOT NULL AND direction NOT IN ('pull', 'push', 'both') THEN
        RAISE EXCEPTION 'invalid session direction "%"', direction
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use pull, push, both or NULL.';
    END IF;
    INSERT INTO ferry.sessions (kind, direction, source, target, method)
    VALUES (kind, direction, source, target, method) RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- Records progress and returns true when a cancel has been requested.
CREATE FUNCTION ferry.session_progress(id bigint, phase text, rows_done bigint,
                                       rows_total bigint DEFAULT NULL, bytes_done bigint DEFAULT 0,
                                       bytes_total bigint DEFAULT NULL) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ferry.sessions s SET
        phase = session_progress.phase,
        rows_done = session_progress.rows_done,
        rows_total = session_progress.rows_total,
        bytes_done = session_progress.bytes_done,
        bytes_total = session_progress.bytes_total,
        rows_per_second = session_progress.rows_done
            / nullif(extract(epoch FROM clock_timestamp() - s.started_at), 0),
        estimated_finish = CASE WHEN session_progress.rows_total IS NOT NULL
                                 AND session_progress.rows_done > 0 THEN
            clock_timestamp() + (clock_timestamp() - s.started_at)
                * ((session_progress.rows_total - session_progress.rows_done)::double precision
                   / session_progress.rows_done) END,
        updated_at = clock_timestamp()
    WHERE s.id = session_progress.id AND s.status = 'running'
    RETURNING s.cancel_requested
$$;

CREATE FUNCTION ferry.session_finish(id bigint, status text, error text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF status IS NULL OR status NOT IN ('succeeded', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'invalid session status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use succeeded, failed or cancelled.';
    END IF;
    UPDATE ferry.sessions s SET status = session_finish.status, error = session_finish.error,
                                finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                                estimated_finish = NULL
    WHERE s.id = session_finish.id AND s.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % is not running', id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- Asks a running session to stop at its next batch boundary.
CREATE FUNCTION ferry.cancel(id bigint) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH asked AS (
        UPDATE ferry.sessions s SET cancel_requested = true
        WHERE s.id = cancel.id AND s.status = 'running' RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM asked)
$$;

CREATE TABLE ferry.conflicts (
    id           bigserial PRIMARY KEY,
    table_name   regclass NOT NULL,
    key          jsonb NOT NULL,
    peer         text NOT NULL,        -- the peer whose change conflicted
    local_row    jsonb,                -- this peer's version (NULL: deleted here)
    remote_row   jsonb,                -- the peer's version (NULL: deleted there)
    policy       text NOT NULL,
    resolution   text,                 -- what was kept; NULL while open (manual policy)
    detected_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);

-- One row per tracked table and consumer: "is it in sync, how far behind?"
CREATE VIEW ferry.status AS
SELECT t.relid AS table_name,
       c.name AS peer,
       count(ch.position) AS pending_changes,
       min(ch.changed_at) AS oldest_pending_at,
       coalesce(clock_timestamp() - min(ch.changed_at), interval '0') AS lag,
       c.acked_at AS last_sync_at,
       (SELECT count(*) FROM ferry.conflicts f
        WHERE f.table_name = t.relid AND f.resolved_at IS NULL
          AND (c.name IS NULL OR f.peer = c.name)) AS open_conflicts
FROM ferry.tracked_tables t
LEFT JOIN ferry.consumers c ON true
LEFT JOIN ferry.changes ch ON ch.relid = t.relid::oid
                            AND ferry._consumed(c.cursor, ch.xid, ch.position) IS NOT TRUE
GROUP BY t.relid, c.name, c.acked_at;

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
-- Functions are revoked from PUBLIC; docs/permissions.md lists the grants for
-- a sync role. The trigger functions need no EXECUTE grant to fire.
REVOKE ALL ON ALL TABLES IN SCHEMA ferry FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ferry FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ferry FROM PUBLIC;
GRANT SELECT ON ferry.tracked_tables TO PUBLIC;
-- Used by the view ferry.status, so that a role granted the view can use it.
GRANT EXECUTE ON FUNCTION ferry._consumed(jsonb, xid8, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ferry._snapshot_covers(pg_snapshot, pg_snapshot),
                          ferry._check_cursor(jsonb),
                          ferry._make_cursor(pg_snapshot, pg_snapshot, bigint, bigint) TO PUBLIC;
-- CREATE TRIGGER needs EXECUTE on the trigger function: a table owner adding a
-- partition to a tracked table gets ferry's triggers on it. They are safe to
-- grant: they log only for tables in ferry.tracked_tables, under the table
-- they fire on (or its partition root), and do nothing elsewhere.
GRANT EXECUTE ON FUNCTION ferry.capture_statement(), ferry.capture_truncate(),
                          ferry.truncate_finished(), ferry.guard_partition_truncate() TO PUBLIC;
-- Called by the event triggers, which run as whoever issues DDL.
GRANT EXECUTE ON FUNCTION ferry._ddl_guard(), ferry._drop_guard(), ferry._trigger_functions(),
                          ferry._descendants(regclass), ferry._install_capture(regclass, regclass),
                          ferry._record_partitions(regclass)
    TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('ferry.tracked_tables', '');
SELECT pg_catalog.pg_extension_config_dump('ferry.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('ferry.checkpoints', '');
