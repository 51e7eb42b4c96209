-- ferry 0.6 → 0.7: ALTER TABLE … DETACH PARTITION … CONCURRENTLY on a
-- tracked table is refused before it starts (docs/tracking.md).

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.7'" to load this file. \quit

-- DETACH … CONCURRENTLY commits its first transaction, the partition's rows
-- already out of the table, before ddl_command_end, where ferry._ddl_guard()
-- refuses detaching: too late. This guard reads the statement's parse tree
-- at ddl_command_start, which only a C function can.
CREATE FUNCTION ferry._guard_detach_concurrently() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'guard_detach_concurrently';
-- Called by the event trigger, which runs as whoever issues the DDL.
GRANT EXECUTE ON FUNCTION ferry._guard_detach_concurrently() TO PUBLIC;

CREATE EVENT TRIGGER ferry_detach_guard ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION ferry._guard_detach_concurrently();
ALTER EVENT TRIGGER ferry_detach_guard ENABLE ALWAYS;
