// The capture triggers installed by ferry.track(): statement-level AFTER
// INSERT, UPDATE and DELETE triggers that read the statement's transition
// tables (one call per statement, however many rows it touched), and TRUNCATE
// triggers. A partitioned table's partitions carry the same triggers (a
// statement that names a partition fires only the partition's statement
// triggers); every change is logged under the tracked table, which
// table_info() derives from the relation the trigger fires on.
#include "capture.hpp"

#include <string>
#include <vector>

#include "boundary.hpp"
#include "canonical_row.hpp"
#include "change_log.hpp"
#include "row_json.hpp"
#include "table_info.hpp"
#include "transaction_events.hpp"

namespace ferry::pg {
namespace {

// Roots of partition trees whose TRUNCATE is under way in this transaction:
// truncating the root truncates its partitions, whose guards must then allow it.
std::vector<Oid> truncating_roots;

// Statement captures under way in this backend (see StatementCapture). An
// error skips their finish(), so the count is reset when a transaction ends.
int active_captures = 0;

void forget_truncations(XactEvent event, void*) {
    if (ends_transaction(event)) {
        truncating_roots.clear();
        active_captures = 0;
    }
}

void forget_truncations_on_subabort(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
    if (event == SUBXACT_EVENT_ABORT_SUB)
        truncating_roots.clear();
}

TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* function) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw SqlError(
            ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            std::string("function \"") + function + "\" was not called by trigger manager");
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

[[noreturn]] void missing_transition_table(const char* which) {
    throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                   std::string("capture trigger has no ") + which + " TABLE",
                   "ferry's capture triggers read the statement's transition tables.",
                   "Create ferry's triggers with ferry.track(), not by hand.");
}

// Reads a transition table with a read pointer of its own, so that other
// triggers reading the same table later are not disturbed. The pointer stays
// selected until close(): in a tuplestore that spilled to disk, switching
// pointers seeks, and a seek per row would re-read a file block per row.
class TransitionReader {
  public:
    TransitionReader(Tuplestorestate* table, TupleDesc desc) : table_(table) {
        pg::call([&]() noexcept {
            int pointer = tuplestore_alloc_read_pointer(table_, EXEC_FLAG_REWIND);
            tuplestore_select_read_pointer(table_, pointer);
            tuplestore_rescan(table_);
            slot_ = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        });
    }

    // Moves to the next row; false at the end.
    bool next() {
        return pg::value([&]() noexcept {
            bool found = tuplestore_gettupleslot(table_, true, false, slot_);
            if (found)
                slot_getallattrs(slot_);
            return found;
        });
    }

    // The current row's attributes; valid until the next call to next().
    DeformedRow row() const { return {slot_->tts_values, slot_->tts_isnull}; }

    // Gives the table back to its default read pointer and drops the slot
    // (and its tuple descriptor reference).
    void close() {
        pg::call([&]() noexcept {
            tuplestore_select_read_pointer(table_, 0);
            ExecDropSingleTupleTableSlot(slot_);
        });
    }

  private:
    Tuplestorestate* table_;
    TupleTableSlot* slot_ = nullptr;
};

// Logs the rows of one statement, resetting a memory context per row so that
// a statement touching millions of rows runs in constant memory.
class StatementCapture {
  public:
    StatementCapture(const TableInfo& table, Relation rel, int64_t rows)
        : table_(table), desc_(RelationGetDescr(rel)), tracked_(table.tracked_root), writer_(rows) {
        // One context per backend, reset after every row: creating one per
        // statement would cost a single-row statement as much as its row. A
        // capture nested in another (an output function that writes a tracked
        // table) gets a context of its own.
        static MemoryContext shared_row_context = nullptr;
        MemoryContext parent = active_captures == 0 ? TopMemoryContext : CurrentMemoryContext;
        if (active_captures > 0 || !shared_row_context) {
            MemoryContext created = pg::value([&]() noexcept {
                return AllocSetContextCreate(parent, "ferry capture row", ALLOCSET_DEFAULT_SIZES);
            });
            if (active_captures == 0)
                shared_row_context = created;
            row_context_ = created;
        } else {
            row_context_ = shared_row_context;
        }
        active_captures++;
    }

    void inserted(const DeformedRow& row) {
        in_row_context([&] {
            KeyAndRow json = key_and_row_to_jsonb(table_, row);
            writer_.append({tracked_, ChangeOp::insert, json.key, json.row, std::nullopt});
        });
    }

    void deleted(const DeformedRow& row) {
        in_row_context([&] {
            writer_.append({tracked_, ChangeOp::remove, key_to_jsonb(table_, row), std::nullopt,
                            canonical_row_hash(table_, row)});
        });
    }

    void updated(const DeformedRow& old_row, const DeformedRow& new_row) {
        in_row_context([&] {
            int64_t old_hash = canonical_row_hash(table_, old_row);
            KeyAndRow json = key_and_row_to_jsonb(table_, new_row);
            if (same_key(table_, old_row, new_row, desc_)) {
                writer_.append({tracked_, ChangeOp::update, json.key, json.row, old_hash});
                return;
            }
            // A new primary key is a different row for every peer: log the
            // delete of the old key and the insert of the new one.
            writer_.append({tracked_, ChangeOp::remove, key_to_jsonb(table_, old_row), std::nullopt,
                            old_hash});
            writer_.append({tracked_, ChangeOp::insert, json.key, json.row, std::nullopt});
        });
    }

    void finish() {
        writer_.finish();
        active_captures--;
    }
    TupleDesc desc() const { return desc_; }

  private:
    template <class Body>
    void in_row_context(Body&& body) {
        in_context(row_context_, body);
        pg::call([&]() noexcept { MemoryContextReset(row_context_); });
    }

    const TableInfo& table_;
    TupleDesc desc_;
    Oid tracked_;
    MemoryContext row_context_ = nullptr;
    ChangeLogWriter writer_;
};

}  // namespace

void register_capture_callbacks() {
    RegisterXactCallback(forget_truncations, nullptr);
    RegisterSubXactCallback(forget_truncations_on_subabort, nullptr);
}

}  // namespace ferry::pg

using namespace ferry::pg;

// AFTER INSERT, UPDATE or DELETE FOR EACH STATEMENT, with transition tables:
// logs every row the statement changed, in one call.
FERRY_FUNCTION(capture_statement) {
    TriggerData* data = trigger_data(fcinfo, "capture_statement");
    if (!TRIGGER_FIRED_AFTER(data->tg_event) || TRIGGER_FIRED_FOR_ROW(data->tg_event))
        throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                       "function \"capture_statement\" must be fired AFTER ... FOR EACH STATEMENT");
    bool by_update = TRIGGER_FIRED_BY_UPDATE(data->tg_event);
    bool by_insert = TRIGGER_FIRED_BY_INSERT(data->tg_event);
    Tuplestorestate* old_rows = data->tg_oldtable;
    Tuplestorestate* new_rows = data->tg_newtable;
    if ((by_insert || by_update) && !new_rows)
        missing_transition_table("NEW");
    if (!by_insert && !old_rows)
        missing_transition_table("OLD");

    // ferry's triggers on a table that is not tracked (left behind by a
    // restore or created by hand) log nothing.
    const TableInfo& table = table_info(data->tg_relation);
    if (!table.tracked)
        return PointerGetDatum(nullptr);
    int64_t rows = ferry::pg::value([&]() noexcept {
        return tuplestore_tuple_count(by_insert || by_update ? new_rows : old_rows);
    });
    StatementCapture capture(table, data->tg_relation, rows);
    if (by_insert) {
        TransitionReader rows(new_rows, capture.desc());
        while (rows.next())
            capture.inserted(rows.row());
        rows.close();
    } else if (by_update) {
        // PostgreSQL appends each updated row's old and new versions to the
        // two tables together, so they pair up in order.
        TransitionReader before(old_rows, capture.desc());
        TransitionReader after(new_rows, capture.desc());
        bool paired = true;
        while (paired && before.next()) {
            paired = after.next();
            if (paired)
                capture.updated(before.row(), after.row());
        }
        // They differ when a row moved to another partition and a BEFORE
        // INSERT trigger there discarded it: the old and new versions can no
        // longer be matched, and guessing could log the wrong change.
        if (!paired || after.next())
            throw SqlError(ERRCODE_FEATURE_NOT_SUPPORTED,
                           "cannot capture an UPDATE whose old and new rows do not pair up",
                           "A row moved to another partition was discarded by a BEFORE INSERT "
                           "trigger of that partition.",
                           "Let the trigger keep the row, or DELETE the row instead of moving it.");
        before.close();
        after.close();
    } else {
        TransitionReader rows(old_rows, capture.desc());
        while (rows.next())
            capture.deleted(rows.row());
        rows.close();
    }
    capture.finish();
    return PointerGetDatum(nullptr);
}

// BEFORE TRUNCATE FOR EACH STATEMENT on a tracked table: logs the truncation.
FERRY_FUNCTION(capture_truncate) {
    TriggerData* data = trigger_data(fcinfo, "capture_truncate");
    if (!TRIGGER_FIRED_BY_TRUNCATE(data->tg_event))
        throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                       "function \"capture_truncate\" must be fired for TRUNCATE");
    const TableInfo& table = table_info(data->tg_relation);
    if (!table.tracked)
        return PointerGetDatum(nullptr);
    Oid root = table.tracked_root;
    append_change({root, ChangeOp::truncate, std::nullopt, std::nullopt, std::nullopt});
    truncating_roots.push_back(root);
    return PointerGetDatum(nullptr);
}

// AFTER TRUNCATE on a tracked partitioned table: its partitions are done.
FERRY_FUNCTION(truncate_finished) {
    TriggerData* data = trigger_data(fcinfo, "truncate_finished");
    Oid root = RelationGetRelid(data->tg_relation);
    for (auto it = truncating_roots.begin(); it != truncating_roots.end(); ++it) {
        if (*it == root) {
            truncating_roots.erase(it);
            break;
        }
    }
    return PointerGetDatum(nullptr);
}

// BEFORE TRUNCATE on a partition of a tracked table: allowed only as part of
// truncating the tracked table itself, which is logged.
FERRY_FUNCTION(guard_partition_truncate) {
    TriggerData* data = trigger_data(fcinfo, "guard_partition_truncate");
    const TableInfo& table = table_info(data->tg_relation);
    if (!table.tracked)
        return PointerGetDatum(nullptr);
    Oid root = table.tracked_root;
    for (Oid truncating : truncating_roots)
        if (truncating == root)
            return PointerGetDatum(nullptr);
    std::string partition = RelationGetRelationName(data->tg_relation);
    char* root_name = ferry::pg::value([&]() noexcept { return get_rel_name(root); });
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                   "cannot truncate partition \"" + partition + "\" of tracked table \"" +
                       std::string(root_name ? root_name : "?") + "\"",
                   "ferry logs TRUNCATE for the whole tracked table only.",
                   "DELETE the partition's rows (captured row by row), or TRUNCATE the tracked "
                   "table itself.");
}

// ddl_command_start on ALTER TABLE. DETACH PARTITION ... CONCURRENTLY commits
// its first transaction, the partition's rows already out of the table,
// before ddl_command_end, where ferry._ddl_guard() refuses detaching: too late,
// and the partition stays "detach pending". Such a statement is refused here,
// from its parse tree, before it has done anything.
FERRY_FUNCTION(guard_detach_concurrently) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        throw SqlError(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED,
                       "function \"guard_detach_concurrently\" was not called by the event "
                       "trigger manager");
    Node* tree = reinterpret_cast<EventTriggerData*>(fcinfo->context)->parsetree;
    if (!tree || !IsA(tree, AlterTableStmt))
        return PointerGetDatum(nullptr);
    auto* statement = reinterpret_cast<AlterTableStmt*>(tree);
    bool concurrently = false;
    ListCell* cell;
    foreach (cell, statement->cmds) {
        auto* command = static_cast<AlterTableCmd*>(lfirst(cell));
        if (command->subtype == AT_DetachPartition &&
            reinterpret_cast<PartitionCmd*>(command->def)->concurrent)
            concurrently = true;
    }
    if (!concurrently)
        return PointerGetDatum(nullptr);
    // A missing table is the statement's own error to report.
    Relation parent = ferry::pg::value([&]() noexcept {
        Oid relid = RangeVarGetRelid(statement->relation, NoLock, true);
        return OidIsValid(relid) ? try_relation_open(relid, AccessShareLock) : nullptr;
    });
    if (!parent)
        return PointerGetDatum(nullptr);
    const TableInfo& table = table_info(parent);
    bool tracked = table.tracked;
    Oid root = table.tracked_root;
    ferry::pg::call([&]() noexcept { relation_close(parent, NoLock); });
    if (!tracked)
        return PointerGetDatum(nullptr);
    // Schema-qualified, as ferry._ddl_guard() names it.
    const char* root_name = ferry::pg::value([&]() noexcept -> const char* {
        char* name = get_rel_name(root);
        return name ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(root)), name)
                    : "?";
    });
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                   "cannot detach a partition concurrently from tracked table \"" +
                       std::string(root_name) + "\"",
                   "Its rows would leave the table without being captured as deletes.",
                   "Delete the rows through the tracked table first, or untrack it.");
}
