// The floor of trigger-based capture, for bench/capture_floor.sh: a row-level
// AFTER trigger that writes one small row per change and does nothing else.
// With argument 'b' the row also gets a position from a sequence and goes
// into a table with a btree primary key, as ferry.changes does; without it,
// three columns into a table without indexes. Not part of ferry: it only
// measures what any capture that logs a row per change pays.
//
// Only PostgreSQL calls and trivially destructible locals: no C++ exception
// or destructor can meet an ereport longjmp here (docs/design.md, "Errors").
extern "C" {
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_namespace.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/xid8.h"

PG_MODULE_MAGIC;
PG_FUNCTION_INFO_V1(floor_log);
}

namespace {

struct FloorTargets {
    Oid plain = InvalidOid;     // public.floor_a (xid, relid, op)
    Oid keyed = InvalidOid;     // public.floor_b (position, xid, relid, op)
    Oid keyed_pk = InvalidOid;  // its primary key
    Oid keyed_seq = InvalidOid;
};

const FloorTargets& targets() {
    static FloorTargets found;
    if (!OidIsValid(found.plain)) {
        found.keyed = get_relname_relid("floor_b", PG_PUBLIC_NAMESPACE);
        found.keyed_pk = get_relname_relid("floor_b_pkey", PG_PUBLIC_NAMESPACE);
        found.keyed_seq = get_relname_relid("floor_b_seq", PG_PUBLIC_NAMESPACE);
        found.plain = get_relname_relid("floor_a", PG_PUBLIC_NAMESPACE);
    }
    return found;
}

char operation(TriggerEvent event) {
    if (TRIGGER_FIRED_BY_INSERT(event))
        return 'I';
    return TRIGGER_FIRED_BY_UPDATE(event) ? 'U' : 'D';
}

}  // namespace

extern "C" Datum floor_log(PG_FUNCTION_ARGS) {
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    const Trigger* trigger = data->tg_trigger;
    bool keyed = trigger->tgnargs > 0 && strcmp(trigger->tgargs[0], "b") == 0;
    const FloorTargets& found = targets();
    Relation log = table_open(keyed ? found.keyed : found.plain, RowExclusiveLock);
    Datum values[4];
    bool nulls[4] = {false, false, false, false};
    int column = 0;
    if (keyed)
        values[column++] = Int64GetDatum(nextval_internal(found.keyed_seq, false));
    values[column++] = FullTransactionIdGetDatum(GetTopFullTransactionId());
    values[column++] = ObjectIdGetDatum(RelationGetRelid(data->tg_relation));
    values[column++] = CharGetDatum(operation(data->tg_event));
    HeapTuple row = heap_form_tuple(RelationGetDescr(log), values, nulls);
    simple_heap_insert(log, row);
    if (keyed) {
        Relation pk = index_open(found.keyed_pk, RowExclusiveLock);
        index_insert(pk, values, nulls, &row->t_self, log, UNIQUE_CHECK_YES, false,
                     BuildIndexInfo(pk));
        index_close(pk, NoLock);
    }
    heap_freetuple(row);
    table_close(log, NoLock);
    return PointerGetDatum(nullptr);
}
