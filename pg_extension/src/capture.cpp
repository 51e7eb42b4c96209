// The capture triggers installed by ferry.track(): one AFTER ROW trigger for
// INSERT, UPDATE and DELETE, and TRUNCATE triggers. Each trigger gets the OID of
// the tracked table as its argument, so that row triggers cloned onto
// partitions still log changes under the tracked (root) table.
#include "capture.hpp"

#include <string>
#include <vector>

#include "boundary.hpp"
#include "canonical_row.hpp"
#include "change_log.hpp"
#include "row_json.hpp"
#include "table_info.hpp"

namespace ferry::pg {
namespace {

// Roots of partition trees whose TRUNCATE is under way in this transaction:
// truncating the root truncates its partitions, whose guards must then allow it.
std::vector<Oid> truncating_roots;

void forget_truncations(XactEvent event, void*) {
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
        event == XACT_EVENT_PREPARE)
        truncating_roots.clear();
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
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (data->tg_trigger->tgnargs != 1)
        throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                       std::string("function \"") + function +
                           "\" needs the tracked table's OID as its only argument",
                       {}, "Create ferry's triggers with ferry.track(), not by hand.");
    return data;
}

Oid tracked_table(const TriggerData* data) {
    return static_cast<Oid>(std::stoul(data->tg_trigger->tgargs[0]));
}

Datum return_row(const TriggerData* data) {
    return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(data->tg_event) ? data->tg_newtuple
                                                                   : data->tg_trigtuple);
}

}  // namespace

void register_capture_callbacks() {
    RegisterXactCallback(forget_truncations, nullptr);
    RegisterSubXactCallback(forget_truncations_on_subabort, nullptr);
}

}  // namespace ferry::pg

using namespace ferry::pg;

// AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW: logs the change.
FERRY_FUNCTION(capture_row) {
    TriggerData* data = trigger_data(fcinfo, "capture_row");
    if (!TRIGGER_FIRED_AFTER(data->tg_event) || !TRIGGER_FIRED_FOR_ROW(data->tg_event))
        throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                       "function \"capture_row\" must be fired AFTER ROW");
    const TableInfo& table = table_info(data->tg_relation);
    TupleDesc desc = RelationGetDescr(data->tg_relation);
    Oid root = tracked_table(data);
    // The inserted row for INSERT, the old row for UPDATE and DELETE.
    DeformedRow row = deform(data->tg_trigtuple, desc);

    if (TRIGGER_FIRED_BY_INSERT(data->tg_event)) {
        append_change({root, ChangeOp::insert, row_to_jsonb(table, row, true),
                       row_to_jsonb(table, row, false), std::nullopt});
        return return_row(data);
    }
    DeformedRow& old_row = row;
    int64_t old_hash = canonical_row_hash(table, old_row);
    if (TRIGGER_FIRED_BY_DELETE(data->tg_event)) {
        append_change(
            {root, ChangeOp::remove, row_to_jsonb(table, old_row, true), std::nullopt, old_hash});
        return return_row(data);
    }
    DeformedRow new_row = deform(data->tg_newtuple, desc);
    if (same_key(table, old_row, new_row, desc)) {
        append_change({root, ChangeOp::update, row_to_jsonb(table, new_row, true),
                       row_to_jsonb(table, new_row, false), old_hash});
    } else {
        // A new primary key is a different row for every peer: log it as the
        // delete of the old key and the insert of the new one.
        append_change(
            {root, ChangeOp::remove, row_to_jsonb(table, old_row, true), std::nullopt, old_hash});
        append_change({root, ChangeOp::insert, row_to_jsonb(table, new_row, true),
                       row_to_jsonb(table, new_row, false), std::nullopt});
    }
    return return_row(data);
}

// BEFORE TRUNCATE FOR EACH STATEMENT on a tracked table: logs the truncation.
FERRY_FUNCTION(capture_truncate) {
    TriggerData* data = trigger_data(fcinfo, "capture_truncate");
    if (!TRIGGER_FIRED_BY_TRUNCATE(data->tg_event))
        throw SqlError(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                       "function \"capture_truncate\" must be fired for TRUNCATE");
    Oid root = tracked_table(data);
    append_change({root, ChangeOp::truncate, std::nullopt, std::nullopt, std::nullopt});
    truncating_roots.push_back(root);
    return PointerGetDatum(nullptr);
}

// AFTER TRUNCATE on a tracked partitioned table: its partitions are done.
FERRY_FUNCTION(truncate_finished) {
    TriggerData* data = trigger_data(fcinfo, "truncate_finished");
    Oid root = tracked_table(data);
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
    Oid root = tracked_table(data);
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
