// ferry.defer_indexes(regclass) and ferry.build_deferred_indexes(regclass):
// a bulk load into an empty table that leaves its indexes alone while the
// rows go in, then builds each one by sorting, as CREATE INDEX does. That is
// about a quarter cheaper than maintaining the indexes row by row
// (docs/full-sync.md, "Loading an empty table").
//
// Both halves run in the caller's transaction. Deferring marks the table's
// indexes "not ready, not valid" in pg_index, the state of an index that
// CREATE INDEX CONCURRENTLY has not built yet: inserts skip them and the
// planner does not use them. Building them is REINDEX, which marks them
// ready and valid again. The catalog change is transactional, so a crash or
// an error at any point leaves the indexes as they were; and a transaction
// that deferred indexes without building them cannot commit.
#include "pg_headers.hpp"

#include "boundary.hpp"
#include "deferred_indexes.hpp"
#include "transaction_events.hpp"

namespace ferry::pg {
namespace {

// Indexes this transaction deferred, in TopMemoryContext; forgotten when
// it ends. Kept even once built: a savepoint rolled back after the build
// would defer them again.
List* deferred_indexes = NIL;

// PostgreSQL calls only, from here to the callbacks.

bool index_usable(Oid index) noexcept {
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
    if (!HeapTupleIsValid(tuple))
        return false;
    auto form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    bool usable = form->indisvalid && form->indisready && form->indislive;
    ReleaseSysCache(tuple);
    return usable;
}

// Whether a trigger could run while rows are inserted and read the table
// through an index that is not there yet. Foreign-key checks against
// another table look up that table only.
bool trigger_fires_on_insert(const Trigger& trigger, Oid relid) noexcept {
    if (!TRIGGER_FOR_INSERT(trigger.tgtype) || trigger.tgenabled == TRIGGER_DISABLED)
        return false;
    return !(trigger.tgfoid == F_RI_FKEY_CHECK_INS && trigger.tgconstrrelid != relid);
}

// Whether another session holds a lock on the index that building it
// would wait for. Asks the lock manager without taking the lock: a
// standby keeps an ACCESS EXCLUSIVE lock, once taken, to the end of the
// transaction, and would hold its own readers of the table that long.
bool used_by_others(Oid index) noexcept {
    LOCKTAG tag;
    SET_LOCKTAG_RELATION(tag, MyDatabaseId, index);
    int holders = 0;
    pfree(GetLockConflicts(&tag, AccessExclusiveLock, &holders));
    return holders > 0;
}

bool any_used_by_others(List* indexes) noexcept {
    for (int i = 0; i < list_length(indexes); i++)
        if (used_by_others(list_nth_oid(indexes, i)))
            return true;
    return false;
}

// A plain table of the caller's (REINDEX needs ownership), with indexes,
// all of them in use and by no one else (building them will need them to
// itself), and no trigger that would read it during the load. Not under
// SERIALIZABLE: a reader's predicate locks on an index are checked by the
// inserts into it, which a deferred index does not get.
bool can_defer(Relation rel) noexcept {
    Oid relid = RelationGetRelid(rel);
    if (IsolationIsSerializable() || rel->rd_rel->relkind != RELKIND_RELATION ||
        rel->rd_rel->relispartition || IsSystemRelation(rel) || RELATION_IS_OTHER_TEMP(rel) ||
        !pg_class_ownercheck(relid, GetUserId()))
        return false;
    if (rel->trigdesc) {
        for (int i = 0; i < rel->trigdesc->numtriggers; i++)
            if (trigger_fires_on_insert(rel->trigdesc->triggers[i], relid))
                return false;
    }
    List* indexes = RelationGetIndexList(rel);
    bool usable = indexes != NIL;
    ListCell* cell;
    foreach (cell, indexes)
        usable = usable && index_usable(lfirst_oid(cell));
    usable = usable && !any_used_by_others(indexes);
    list_free(indexes);
    return usable;
}

// Marks the index in use (ready and valid) or not, in this transaction's
// catalog; its indcheckxmin is left as it was.
void set_in_use(Relation pg_index, Oid index, bool in_use) noexcept {
    HeapTuple tuple = SearchSysCacheCopy1(INDEXRELID, ObjectIdGetDatum(index));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for index %u", index);
    auto form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    form->indisready = in_use;
    form->indisvalid = in_use;
    CatalogTupleUpdate(pg_index, &tuple->t_self, tuple);
    heap_freetuple(tuple);
}

void mark_not_ready(Relation pg_index, Oid index) noexcept {
    set_in_use(pg_index, index, false);
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    deferred_indexes = lappend_oid(deferred_indexes, index);
    MemoryContextSwitchTo(old);
}

// SHARE ROW EXCLUSIVE, kept to the end of the transaction once deferred:
// no one else writes the table, or changes its indexes, until they are
// built and committed. Readers go on with the indexes as committed.
bool defer(Oid relid) noexcept {
    Relation rel = table_open(relid, ShareRowExclusiveLock);
    if (!can_defer(rel)) {
        table_close(rel, ShareRowExclusiveLock);
        return false;
    }
    List* indexes = RelationGetIndexList(rel);
    Relation pg_index = table_open(IndexRelationId, RowExclusiveLock);
    ListCell* cell;
    foreach (cell, indexes)
        mark_not_ready(pg_index, lfirst_oid(cell));
    table_close(pg_index, RowExclusiveLock);
    list_free(indexes);
    // This backend's relcache and plans drop the indexes now; other
    // sessions see nothing until commit, and by then they are built.
    CacheInvalidateRelcache(rel);
    table_close(rel, NoLock);
    CommandCounterIncrement();
    return true;
}

bool deferred_here(Oid index) noexcept {
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
    if (!HeapTupleIsValid(tuple))
        return false;  // dropped since
    bool deferred = !reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple))->indisready &&
                    list_member_oid(deferred_indexes, index);
    ReleaseSysCache(tuple);
    return deferred;
}

bool try_lock_all(List* indexes) noexcept {
    for (int i = 0; i < list_length(indexes); i++) {
        if (ConditionalLockRelationOid(list_nth_oid(indexes, i), AccessExclusiveLock))
            continue;
        while (--i >= 0)
            UnlockRelationOid(list_nth_oid(indexes, i), AccessExclusiveLock);
        return false;
    }
    return true;
}

// Takes ACCESS EXCLUSIVE on each index, as REINDEX does, but never queues
// for it: a queued request would hold up every new reader of the table
// (planning a query locks all of its indexes) behind the sessions it waits
// for, an idle transaction's for as long as it stays open. Polls instead,
// for at most lock_timeout (0: no limit).
void lock_for_build(Relation rel, List* indexes) noexcept {
    TimestampTz start = GetCurrentTimestamp();
    while (any_used_by_others(indexes) || !try_lock_all(indexes)) {
        if (LockTimeout > 0 &&
            TimestampDifferenceExceeds(start, GetCurrentTimestamp(), LockTimeout))
            ereport(ERROR,
                    (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
                     errmsg("could not build the deferred indexes of table \"%s\": other "
                            "sessions are using them",
                            RelationGetRelationName(rel)),
                     errdetail("Building an index needs it to itself, and a session that read "
                               "the table holds its indexes until its transaction ends; some "
                               "still did after lock_timeout (%d ms).",
                               LockTimeout),
                     errhint("The transaction is rolled back. Find those sessions in pg_locks, "
                             "let them finish (or end idle ones), and load again.")));
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10L,
                        WAIT_EVENT_PG_SLEEP);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

// Builds the table's indexes that this transaction deferred (and no
// other: an index left invalid by a failed CREATE INDEX CONCURRENTLY is
// the DBA's to rebuild). Unique and exclusion constraints are checked as
// each is built.
//
// Each index is marked in use again first, so that reindex_index()
// rebuilds a valid index, as a plain REINDEX does. Rebuilding one it
// finds not ready would also set indcheckxmin if the table holds an old
// HOT chain, and the planner would then ignore the index in every session
// until the oldest transaction now running ends. The chains are sound: an
// index that is not ready still counts when an update decides to be HOT.
int build(Oid relid) noexcept {
    Relation rel = table_open(relid, ShareLock);
    if (!pg_class_ownercheck(relid, GetUserId()))
        aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(rel->rd_rel->relkind),
                       RelationGetRelationName(rel));
    char persistence = rel->rd_rel->relpersistence;
    List* indexes = RelationGetIndexList(rel);
    List* pending = NIL;
    for (int i = 0; i < list_length(indexes); i++)
        if (deferred_here(list_nth_oid(indexes, i)))
            pending = lappend_oid(pending, list_nth_oid(indexes, i));
    list_free(indexes);
    if (pending != NIL) {
        lock_for_build(rel, pending);
        Relation pg_index = table_open(IndexRelationId, RowExclusiveLock);
        for (int i = 0; i < list_length(pending); i++)
            set_in_use(pg_index, list_nth_oid(pending, i), true);
        table_close(pg_index, RowExclusiveLock);
        CacheInvalidateRelcache(rel);  // its primary key, for this backend
        CommandCounterIncrement();
    }
    table_close(rel, NoLock);
    for (int i = 0; i < list_length(pending); i++) {
        ReindexParams params = {};
        params.options = REINDEXOPT_REPORT_PROGRESS;
        reindex_index(list_nth_oid(pending, i), false, persistence, &params);
        CommandCounterIncrement();
    }
    int built = list_length(pending);
    list_free(pending);
    return built;
}

// A duplicate found while building reads as PostgreSQL's own for a row
// inserted into a built index, since that is what it is here; "could not
// create unique index" would send the reader looking for a CREATE INDEX.
void explain_constraint_error(ErrorData* error) {
    const char* message = nullptr;
    if (error->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
        message = "duplicate key value violates unique constraint \"%s\"";
    else if (error->sqlerrcode == ERRCODE_EXCLUSION_VIOLATION)
        message = "conflicting key value violates exclusion constraint \"%s\"";
    if (!message || !error->constraint_name)
        return;
    call([&]() noexcept {
        error->message = psprintf(message, error->constraint_name);
        error->hint = pstrdup(
            "It was found as the indexes deferred by ferry.defer_indexes() "
            "were built; the transaction is rolled back.");
    });
}

void refuse_commit_before_build(XactEvent event, void*) {
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
        event == XACT_EVENT_PRE_PREPARE) {
        ListCell* cell;
        foreach (cell, deferred_indexes) {
            Oid index = lfirst_oid(cell);
            if (!deferred_here(index))
                continue;
            ereport(ERROR,
                    (errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
                     errmsg("the indexes of table \"%s\" were deferred and not built",
                            get_rel_name(IndexGetRelation(index, false))),
                     errdetail("Committing would leave them without the rows written since "
                               "ferry.defer_indexes(); the transaction is rolled back."),
                     errhint("Call ferry.build_deferred_indexes() on the table before COMMIT.")));
        }
    } else if (ends_transaction(event)) {
        list_free(deferred_indexes);
        deferred_indexes = NIL;
    }
}

}  // namespace

void register_deferred_index_callbacks() {
    RegisterXactCallback(refuse_commit_before_build, nullptr);
}

}  // namespace ferry::pg

using namespace ferry::pg;

// ferry.defer_indexes(regclass) → boolean: whether the table's indexes are
// now deferred (false, and nothing changed, when the table does not qualify).
FERRY_FUNCTION(defer_indexes) {
    Oid relid = PG_GETARG_OID(0);
    return BoolGetDatum(ferry::pg::value([&]() noexcept { return defer(relid); }));
}

// ferry.build_deferred_indexes(regclass) → integer: how many were built.
FERRY_FUNCTION(build_deferred_indexes) {
    Oid relid = PG_GETARG_OID(0);
    try {
        return Int32GetDatum(ferry::pg::value([&]() noexcept { return build(relid); }));
    } catch (const PgError& error) {
        explain_constraint_error(error.data());
        throw;
    }
}
