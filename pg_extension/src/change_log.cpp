// Writing the change log (see change_log.hpp).
#include "change_log.hpp"

#include <algorithm>

#include "boundary.hpp"
#include "ferry/change_wakeup.hpp"

namespace ferry::pg {
namespace {

char* origin_setting = nullptr;
bool notify_setting = true;

// The top-level transaction that logged the backend's latest change: it
// wakes listeners when it commits (wake_listeners_at_commit).
LocalTransactionId logged_by = InvalidLocalTransactionId;

// A batch of buffered entries is written when it holds this many entries or
// bytes, whichever comes first: enough to fill heap pages whole, little
// enough that wide rows do not pile up in memory.
constexpr int kBatchEntries = 1000;
constexpr Size kBatchBytes = 1024 * 1024;

// What appending to the log needs besides the tuple: ferry.changes, its
// sequence and its indexes with their IndexInfo. Built on the first change of
// a transaction in a context under TopTransactionContext (index AMs keep
// per-index caches in IndexInfo, e.g. BRIN's descriptor, which must not
// outlive the transaction), and dropped on relcache invalidation of any of
// them (e.g. the extension was dropped and created again).
struct LogTargets {
    LocalTransactionId transaction = InvalidLocalTransactionId;
    Oid changes = InvalidOid;
    Oid position_seq = InvalidOid;
    int index_count = 0;
    LogIndex indexes[8];
};

LogTargets targets;

// The first position the newest top-level transaction to log a change took
// (ferry._first_position_logged()): every row it logs comes after it.
FullTransactionId first_logged_by = InvalidFullTransactionId;
int64 first_logged_position = 0;

// The writer that reserved the backend's latest block of positions (see
// ChangeLogWriter::next_position()). Only compared, never followed: a
// writer gone since, or a new one at its address, starts without a block.
const ChangeLogWriter* latest_block_writer = nullptr;

// How many positions a value just taken from the position sequence reserves:
// the sequence's step, at most kPositionsPerBlock, and none past the largest
// bigint. A step of 1 (a log not yet upgraded to 0.13) reserves the value
// alone. The step is read after nextval(), whose lock keeps ALTER SEQUENCE
// out until this transaction ends.
int64 positions_reserved(Oid sequence, int64 first) {
    HeapTuple tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(sequence));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for sequence %u", sequence);
    int64 step = reinterpret_cast<Form_pg_sequence>(GETSTRUCT(tuple))->seqincrement;
    ReleaseSysCache(tuple);
    int64 reserved = std::clamp<int64>(step, 1, kPositionsPerBlock);
    return std::min<int64>(reserved, PG_INT64_MAX - first + 1);
}

// Whether another session holds the listener lock (ferry/change_wakeup.hpp).
// RowExclusiveLock conflicts with the listeners' ShareLock but not with
// itself, so committing writers never take each other for listeners; the
// lock is let go at once, so nothing waits on it.
bool someone_listens() {
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(wakeup::kListenerLockClass),
                         static_cast<uint32>(wakeup::kListenerLockId), 2);
    if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
        return true;
    LockRelease(&tag, RowExclusiveLock, false);
    return false;
}

// At the commit of a transaction that logged changes: NOTIFY, if anyone
// listens. Sent at commit rather than by the capture so that the listener
// lock is looked at as late as possible (a listener that starts meanwhile
// is woken), and so that a transaction that is prepared instead (PREPARE
// TRANSACTION refuses one that sent a NOTIFY) sends none. A C callback:
// PostgreSQL calls only.
void wake_listeners_at_commit(XactEvent event, void*) {
    if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
        return;
    if (logged_by != MyProc->lxid)
        return;
    logged_by = InvalidLocalTransactionId;
    if (event == XACT_EVENT_PRE_COMMIT && notify_setting && someone_listens())
        Async_Notify(wakeup::kChannel, nullptr);
}

void forget_targets(Datum, Oid relid) {
    bool ours = relid == InvalidOid || relid == targets.changes || relid == targets.position_seq;
    for (int i = 0; i < targets.index_count; i++)
        ours = ours || relid == targets.indexes[i].oid;
    if (ours) {
        targets.transaction = InvalidLocalTransactionId;
        targets.changes = InvalidOid;
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

[[noreturn]] void refuse_index(Relation index, const char* why) noexcept {
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("index \"%s\" on ferry.changes is %s", RelationGetRelationName(index), why),
             errhint("Drop it; ferry.changes supports plain column indexes only.")));
    pg_unreachable();
}

// Fills targets for the current transaction. PostgreSQL calls only.
// Opening a relation takes a lock, which processes pending invalidations:
// forget_targets() may run in the middle (a TRUNCATE by ferry.purge() in
// another session, say). So the lookup fills a local copy and publishes it
// only after its last open.
void look_up_targets() noexcept {
    LogTargets found;
    Oid schema = get_namespace_oid("ferry", false);
    found.changes = get_relname_relid("changes", schema);
    found.position_seq = get_relname_relid("changes_position_seq", schema);
    if (!OidIsValid(found.changes) || !OidIsValid(found.position_seq))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("ferry's change log is missing"),
                        errhint("Reinstall the extension: ALTER EXTENSION ferry UPDATE.")));
    Relation log = table_open(found.changes, RowExclusiveLock);
    if (RelationGetDescr(log)->natts != column_count)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("ferry.changes does not have the expected columns"),
                        errhint("Do not alter ferry's tables; reinstall the extension.")));
    MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
    List* index_oids = RelationGetIndexList(log);
    if (list_length(index_oids) > static_cast<int>(lengthof(found.indexes)))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("ferry.changes has too many indexes"),
                        errhint("Drop the indexes you added to ferry.changes.")));
    ListCell* cell;
    foreach (cell, index_oids) {
        Relation index = index_open(lfirst_oid(cell), RowExclusiveLock);
        // An index being built concurrently takes entries only once ready;
        // marking it ready invalidates the relcache, and so these targets.
        if (!index->rd_index->indisready) {
            index_close(index, RowExclusiveLock);
            continue;
        }
        IndexInfo* info = BuildIndexInfo(index);
        if (info->ii_Expressions != NIL)
            refuse_index(index, "an expression index");
        if (info->ii_Predicate != NIL)
            refuse_index(index, "a partial index");
        found.indexes[found.index_count++] = {RelationGetRelid(index), index->rd_index->indisunique,
                                              index->rd_rel->relam == BRIN_AM_OID, info};
        index_close(index, NoLock);
    }
    MemoryContextSwitchTo(old);
    table_close(log, NoLock);
    found.transaction = MyProc->lxid;
    targets = found;
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
        // SUSET: a writer that could set it could hide its writes from a peer.
        // The sync role sets it through ferry.set_origin(), SECURITY DEFINER.
        &origin_setting, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "ferry.notify", "Wake ferry follow when changes are captured.",
        "A NOTIFY on channel ferry_changes when a transaction that logged changes commits, "
        "while a listener holds ferry's listener lock. Off: never.",
        &notify_setting, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    CacheRegisterRelcacheCallback(forget_targets, 0);
    RegisterXactCallback(wake_listeners_at_commit, nullptr);
}

ChangeLogWriter::ChangeLogWriter(int64_t expected_changes) {
    pg::call([&]() noexcept {
        // Lock the log first: taking the lock processes pending invalidations,
        // so the cached targets checked next are current. (The OID itself is
        // forgotten when the relation is invalidated, e.g. dropped.)
        if (!OidIsValid(targets.changes))
            look_up_targets();
        Oid changes = targets.changes;
        log_ = table_open(changes, RowExclusiveLock);
        if (targets.transaction != MyProc->lxid || targets.changes != changes)
            look_up_targets();
        // This writer's own copy: a nested writer may look the targets up again.
        index_count_ = targets.index_count;
        for (int i = 0; i < index_count_; i++) {
            index_targets_[i] = targets.indexes[i];
            indexes_[i] = index_open(index_targets_[i].oid, RowExclusiveLock);
        }
        position_seq_ = targets.position_seq;
        xid_ = FullTransactionIdGetDatum(GetTopFullTransactionId());
        changed_at_ = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        const char* origin = current_origin();
        origin_ = origin ? pstrdup(origin) : nullptr;
        // A single-row statement (most OLTP writes) writes directly: setting
        // up a batch would cost it more than it saves.
        batching_ = expected_changes > 1;
        if (batching_) {
            batch_context_ = AllocSetContextCreate(CurrentMemoryContext, "ferry log batch",
                                                   ALLOCSET_DEFAULT_SIZES);
            batch_slots_ =
                static_cast<TupleTableSlot**>(palloc0(sizeof(TupleTableSlot*) * kBatchEntries));
        }
    });
}

void ChangeLogWriter::append(const Change& change) {
    pg::call([&]() noexcept {
        Datum values[column_count];
        bool nulls[column_count] = {};
        int64 position = next_position();
        FullTransactionId top = DatumGetFullTransactionId(xid_);
        if (!FullTransactionIdEquals(top, first_logged_by)) {
            first_logged_by = top;
            first_logged_position = position;
        }
        values[col_position] = Int64GetDatum(position);
        values[col_xid] = xid_;
        values[col_relid] = ObjectIdGetDatum(change.table);
        values[col_op] = CharGetDatum(static_cast<char>(change.op));
        nulls[col_key] = !change.key;
        values[col_key] = change.key.value_or(0);
        nulls[col_new_row] = !change.new_row;
        values[col_new_row] = change.new_row.value_or(0);
        nulls[col_old_hash] = !change.old_hash;
        values[col_old_hash] = Int64GetDatum(change.old_hash.value_or(0));
        nulls[col_origin] = origin_ == nullptr;
        values[col_origin] = origin_ ? CStringGetTextDatum(origin_) : 0;
        values[col_changed_at] = changed_at_;

        if (!batching_) {
            HeapTuple entry = heap_form_tuple(RelationGetDescr(log_), values, nulls);
            write_now(entry, values, nulls);
            heap_freetuple(entry);
            return;
        }
        MemoryContext caller = MemoryContextSwitchTo(batch_context_);
        buffer(heap_form_tuple(RelationGetDescr(log_), values, nulls));
        MemoryContextSwitchTo(caller);
    });
}

// PostgreSQL calls only (as the helpers below).
//
// One nextval() reserves a block of positions (the sequence steps by
// kPositionsPerBlock), handed to this writer's entries in order; what a
// statement leaves unused is never used. A block taken later starts past
// every position of one taken earlier, so positions still grow in the order
// entries are written: within a statement, and across sessions as the
// blocks were taken. A nested writer (an output function writing a tracked
// table while this one builds an entry) takes a block of its own, after
// which this writer takes a new one, so that its next entry comes after the
// nested writer's too.
int64 ChangeLogWriter::next_position() {
    if (block_left_ == 0 || latest_block_writer != this) {
        block_next_ = nextval_internal(position_seq_, false);
        block_left_ = positions_reserved(position_seq_, block_next_);
        latest_block_writer = this;
    }
    int64 position = block_next_;
    if (--block_left_ > 0)
        block_next_++;
    return position;
}

void ChangeLogWriter::write_now(HeapTuple entry, const Datum* values, const bool* nulls) {
    simple_heap_insert(log_, entry);
    insert_index_entries(&entry->t_self, values, nulls);
}

void ChangeLogWriter::buffer(HeapTuple entry) {
    if (batch_count_ == batch_slot_count_) {
        MemoryContext batch = MemoryContextSwitchTo(GetMemoryChunkContext(batch_slots_));
        batch_slots_[batch_slot_count_++] =
            MakeSingleTupleTableSlot(RelationGetDescr(log_), &TTSOpsHeapTuple);
        MemoryContextSwitchTo(batch);
    }
    // The slot owns the tuple: heap_multi_insert then takes it without a copy.
    ExecStoreHeapTuple(entry, batch_slots_[batch_count_++], true);
    batch_bytes_ += entry->t_len;
    if (batch_count_ == kBatchEntries || batch_bytes_ >= kBatchBytes)
        write_buffered();
}

void ChangeLogWriter::write_buffered() {
    if (batch_count_ == 0)
        return;
    MemoryContext caller = MemoryContextSwitchTo(batch_context_);
    heap_multi_insert(log_, batch_slots_, batch_count_, GetCurrentCommandId(true), 0, nullptr);
    Datum values[column_count];
    bool nulls[column_count];
    for (int i = 0; i < batch_count_; i++) {
        TupleTableSlot* slot = batch_slots_[i];
        heap_deform_tuple(ExecFetchSlotHeapTuple(slot, false, nullptr), RelationGetDescr(log_),
                          values, nulls);
        insert_index_entries(&slot->tts_tid, values, nulls);
        ExecClearTuple(slot);
    }
    MemoryContextSwitchTo(caller);
    MemoryContextReset(batch_context_);
    batch_count_ = 0;
    batch_bytes_ = 0;
}

// The indexes are plain column indexes: their keys come straight from the
// entry's values.
void ChangeLogWriter::insert_index_entries(ItemPointer tid, const Datum* values,
                                           const bool* nulls) {
    BlockNumber block = ItemPointerGetBlockNumber(tid);
    for (int i = 0; i < index_count_; i++) {
        const LogIndex& target = index_targets_[i];
        Datum key_values[INDEX_MAX_KEYS];
        bool key_nulls[INDEX_MAX_KEYS];
        for (int k = 0; k < target.info->ii_NumIndexAttrs; k++) {
            AttrNumber attnum = target.info->ii_IndexAttrNumbers[k];
            key_values[k] = values[attnum - 1];
            key_nulls[k] = nulls[attnum - 1];
        }
        if (target.brin && brin_entry_redundant(i, key_values, key_nulls, block))
            continue;
        index_insert(indexes_[i], key_values, key_nulls, tid, log_,
                     target.unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, target.info);
    }
    previous_block_ = block;
}

// A BRIN index summarizes each range of heap blocks by a summary that covers
// every value of the range's tuples, including tuples still being inserted (a
// concurrent summarization either reads them or is handed their values by
// their own index insertion). An entry whose key equals that of this writer's previous
// entry, in the same heap block, is therefore already covered by whatever
// summary covers the previous one, which is still there: inserting it again
// would only cost a summary lookup. A bulk statement's entries share the
// transaction id, so the xid index is touched about once per heap block.
bool ChangeLogWriter::brin_entry_redundant(int index, const Datum* key_values,
                                           const bool* key_nulls, BlockNumber block) {
    const IndexInfo* info = index_targets_[index].info;
    TupleDesc desc = RelationGetDescr(indexes_[index]);
    Datum* previous = previous_keys_[index];
    bool* previous_nulls = previous_nulls_[index];
    bool same = block == previous_block_;
    for (int k = 0; k < info->ii_NumIndexAttrs; k++) {
        // Keys are compared by value only: a by-reference key dies with its row.
        if (!TupleDescAttr(desc, k)->attbyval)
            return false;
        if (key_nulls[k] != previous_nulls[k] || (!key_nulls[k] && key_values[k] != previous[k]))
            same = false;
    }
    // Every block change inserts, so the remembered key is in this block.
    if (same)
        return true;
    for (int k = 0; k < info->ii_NumIndexAttrs; k++) {
        previous_nulls[k] = key_nulls[k];
        previous[k] = key_nulls[k] ? 0 : key_values[k];
    }
    return false;
}

void ChangeLogWriter::finish() {
    pg::call([&]() noexcept {
        if (batching_) {
            write_buffered();
            for (int i = 0; i < batch_slot_count_; i++)
                ExecDropSingleTupleTableSlot(batch_slots_[i]);
            MemoryContextDelete(batch_context_);
        }
        for (int i = 0; i < index_count_; i++)
            index_close(indexes_[i], NoLock);
        table_close(log_, NoLock);
        logged_by = MyProc->lxid;
    });
}

void append_change(const Change& change) {
    ChangeLogWriter writer;
    writer.append(change);
    writer.finish();
}

}  // namespace ferry::pg

// ferry._first_position_logged() → bigint: the first position this
// transaction's changes took, or NULL when it logged none. With it,
// ferry.keep_change_times() reads this transaction's rows from the end of
// the position index instead of scanning the log by transaction id (the
// xid BRIN index matches every page it has not summarized yet).
FERRY_FUNCTION(first_position_logged) {
    FullTransactionId top =
        ferry::pg::value([]() noexcept { return GetTopFullTransactionIdIfAny(); });
    if (!FullTransactionIdIsValid(top) ||
        !FullTransactionIdEquals(top, ferry::pg::first_logged_by)) {
        fcinfo->isnull = true;
        return 0;
    }
    return Int64GetDatum(ferry::pg::first_logged_position);
}
