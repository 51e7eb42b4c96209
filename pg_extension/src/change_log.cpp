// Writing the change log (see change_log.hpp).
#include "change_log.hpp"

#include "boundary.hpp"

namespace ferry::pg {
namespace {

char* origin_setting = nullptr;

// OIDs of ferry.changes and its position sequence, looked up once per backend
// and forgotten on any relcache invalidation of either (e.g. the extension was
// dropped and created again).
Oid changes_oid = InvalidOid;
Oid position_seq_oid = InvalidOid;

void forget_oids(Datum, Oid relid) {
    if (relid == InvalidOid || relid == changes_oid || relid == position_seq_oid) {
        changes_oid = InvalidOid;
        position_seq_oid = InvalidOid;
    }
}

enum Column {
    col_position,
    col_xid,
    col_relid,
    col_op,
    col_key,
    col_new_row,
    col_old_hash,
    col_origin,
    col_changed_at,
    column_count
};

void look_up_oids() noexcept {
    Oid schema = get_namespace_oid("ferry", false);
    changes_oid = get_relname_relid("changes", schema);
    position_seq_oid = get_relname_relid("changes_position_seq", schema);
    if (!OidIsValid(changes_oid) || !OidIsValid(position_seq_oid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("ferry's change log is missing"),
                        errhint("Reinstall the extension: ALTER EXTENSION ferry UPDATE.")));
}

// Inserts the index entries of a new log tuple. Only plain column indexes are
// supported: expression and partial indexes would need an executor state.
void insert_index_entries(Relation log, HeapTuple tuple) noexcept {
    List* indexes = RelationGetIndexList(log);
    if (indexes == NIL)
        return;
    TupleTableSlot* slot = MakeSingleTupleTableSlot(RelationGetDescr(log), &TTSOpsHeapTuple);
    ExecStoreHeapTuple(tuple, slot, false);
    ListCell* cell;
    foreach (cell, indexes) {
        Relation index = index_open(lfirst_oid(cell), RowExclusiveLock);
        IndexInfo* info = BuildIndexInfo(index);
        if (info->ii_Expressions != NIL || info->ii_Predicate != NIL)
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("index \"%s\" on ferry.changes is an expression or partial index",
                            RelationGetRelationName(index)),
                     errhint("Drop it; ferry.changes supports plain column indexes only.")));
        Datum values[INDEX_MAX_KEYS];
        bool nulls[INDEX_MAX_KEYS];
        FormIndexDatum(info, slot, nullptr, values, nulls);
        index_insert(index, values, nulls, &tuple->t_self, log,
                     index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false,
                     info);
        index_close(index, NoLock);
    }
    ExecDropSingleTupleTableSlot(slot);
    list_free(indexes);
}

}  // namespace

const char* current_origin() {
    return origin_setting && origin_setting[0] != '\0' ? origin_setting : nullptr;
}

void define_change_log_settings() {
    DefineCustomStringVariable(
        "ferry.origin", "Peer whose changes this session is applying.",
        "Changes captured while it is set are tagged with this origin and are never "
        "sent back to that peer. Empty means local writes.",
        &origin_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    CacheRegisterRelcacheCallback(forget_oids, 0);
}

void append_change(const Change& change) {
    pg::call([&]() noexcept {
        if (!OidIsValid(changes_oid) || !OidIsValid(position_seq_oid))
            look_up_oids();
        Datum values[column_count];
        bool nulls[column_count] = {};
        values[col_position] = Int64GetDatum(nextval_internal(position_seq_oid, false));
        values[col_xid] = FullTransactionIdGetDatum(GetTopFullTransactionId());
        values[col_relid] = ObjectIdGetDatum(change.table);
        values[col_op] = CharGetDatum(static_cast<char>(change.op));
        nulls[col_key] = !change.key;
        values[col_key] = change.key.value_or(0);
        nulls[col_new_row] = !change.new_row;
        values[col_new_row] = change.new_row.value_or(0);
        nulls[col_old_hash] = !change.old_hash;
        values[col_old_hash] = Int64GetDatum(change.old_hash.value_or(0));
        const char* origin = current_origin();
        nulls[col_origin] = origin == nullptr;
        values[col_origin] = origin ? CStringGetTextDatum(origin) : 0;
        values[col_changed_at] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

        Relation log = table_open(changes_oid, RowExclusiveLock);
        if (RelationGetDescr(log)->natts != column_count)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("ferry.changes does not have the expected columns"),
                            errhint("Do not alter ferry's tables; reinstall the extension.")));
        HeapTuple tuple = heap_form_tuple(RelationGetDescr(log), values, nulls);
        simple_heap_insert(log, tuple);
        insert_index_entries(log, tuple);
        table_close(log, NoLock);
    });
}

}  // namespace ferry::pg
