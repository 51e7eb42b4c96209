// Per-relation capture metadata cache (see table_info.hpp).
#include "table_info.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "boundary.hpp"

namespace ferry::pg {
namespace {

struct CacheEntry {
    Oid relid;  // hash key
    bool valid;
    MemoryContext context;
    TableInfo info;
};

HTAB* cache = nullptr;

void invalidate(Datum, Oid relid) {
    if (!cache)
        return;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, cache);
    while (auto* entry = static_cast<CacheEntry*>(hash_seq_search(&scan))) {
        if (relid == InvalidOid || entry->relid == relid)
            entry->valid = false;
    }
}

// Whether root is a row of ferry.tracked_tables, as the current statement
// sees it. PostgreSQL calls only.
bool is_tracked(Oid root) noexcept {
    Oid schema = get_namespace_oid("ferry", true);
    Oid tracked_tables =
        OidIsValid(schema) ? get_relname_relid("tracked_tables", schema) : InvalidOid;
    Oid tracked_pkey =
        OidIsValid(schema) ? get_relname_relid("tracked_tables_pkey", schema) : InvalidOid;
    if (!OidIsValid(tracked_tables) || !OidIsValid(tracked_pkey))
        return false;
    Relation table = table_open(tracked_tables, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(root));
    Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
    SysScanDesc scan = systable_beginscan(table, tracked_pkey, true, snapshot, 1, &key);
    bool found = HeapTupleIsValid(systable_getnext(scan));
    systable_endscan(scan);
    table_close(table, AccessShareLock);
    return found;
}

}  // namespace

TypeClass classify(Oid type) {
    switch (type) {
        case INT2OID:
        case INT4OID:
        case INT8OID:
        case OIDOID:
            return TypeClass::integer;
        case NUMERICOID:
            return TypeClass::numeric;
        case FLOAT4OID:
            return TypeClass::float4;
        case FLOAT8OID:
            return TypeClass::float8;
        case BOOLOID:
            return TypeClass::boolean;
        case TEXTOID:
        case VARCHAROID:
        case NAMEOID:
        case CHAROID:
            return TypeClass::text;
        case BPCHAROID:
            return TypeClass::bpchar;
        case BYTEAOID:
            return TypeClass::bytea;
        case JSONOID:
            return TypeClass::json;
        case JSONBOID:
            return TypeClass::jsonb;
        case DATEOID:
            return TypeClass::date;
        case TIMEOID:
            return TypeClass::time;
        case TIMESTAMPOID:
            return TypeClass::timestamp;
        case TIMESTAMPTZOID:
            return TypeClass::timestamptz;
        default:
            return TypeClass::other;
    }
}

void describe_columns(TableInfo& info, TupleDesc desc, MemoryContext context) noexcept {
    MemoryContext old = MemoryContextSwitchTo(context);
    info.columns = static_cast<ColumnInfo*>(palloc0(sizeof(ColumnInfo) * desc->natts));
    info.column_count = 0;
    info.has_jsonb = false;
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute attr = TupleDescAttr(desc, i);
        if (attr->attisdropped)
            continue;
        ColumnInfo& column = info.columns[info.column_count++];
        column.attnum = attr->attnum;
        column.name = pstrdup(NameStr(attr->attname));
        column.name_length = std::strlen(column.name);
        Oid base_type = getBaseType(attr->atttypid);
        column.type_class = classify(base_type);
        info.has_jsonb = info.has_jsonb || column.type_class == TypeClass::jsonb;
        Oid output_fn;
        bool varlena;
        getTypeOutputInfo(base_type, &output_fn, &varlena);
        fmgr_info_cxt(output_fn, &column.output, context);
    }
    info.name_order = static_cast<int*>(palloc(sizeof(int) * std::max(info.column_count, 1)));
    info.json_order = static_cast<int*>(palloc(sizeof(int) * std::max(info.column_count, 1)));
    for (int c = 0; c < info.column_count; c++)
        info.name_order[c] = info.json_order[c] = c;
    MemoryContextSwitchTo(old);
}

void order_columns(TableInfo& info) {
    std::sort(info.name_order, info.name_order + info.column_count, [&](int a, int b) {
        return std::strcmp(info.columns[a].name, info.columns[b].name) < 0;
    });
    auto jsonb_key_less = [&](int a, int b) {
        std::string_view x = info.columns[a].name, y = info.columns[b].name;
        return x.size() != y.size() ? x.size() < y.size() : x < y;
    };
    std::sort(info.json_order, info.json_order + info.column_count, jsonb_key_less);
    if (info.json_key_order)
        std::sort(info.json_key_order, info.json_key_order + info.key_count, jsonb_key_less);
}

namespace {

// Fills entry->info for rel inside entry->context. PostgreSQL calls only.
void build(CacheEntry* entry, Relation rel, bool* has_key) noexcept {
    MemoryContext old = MemoryContextSwitchTo(entry->context);
    TupleDesc desc = RelationGetDescr(rel);
    TableInfo& info = entry->info;
    info.relid = RelationGetRelid(rel);
    info.tracked_root = info.relid;
    if (rel->rd_rel->relispartition) {
        List* ancestors = get_partition_ancestors(info.relid);
        info.tracked_root = llast_oid(ancestors);
        list_free(ancestors);
    }
    info.tracked = is_tracked(info.tracked_root);
    describe_columns(info, desc, entry->context);
    info.key_count = 0;
    info.key_columns = info.json_key_order = nullptr;
    Oid key_index = RelationGetPrimaryKeyIndex(rel);
    *has_key = OidIsValid(key_index);
    if (*has_key) {
        Relation index = index_open(key_index, AccessShareLock);
        int key_count = index->rd_index->indnkeyatts;
        info.key_columns = static_cast<int*>(palloc(sizeof(int) * key_count));
        info.json_key_order = static_cast<int*>(palloc(sizeof(int) * key_count));
        for (int k = 0; k < key_count; k++) {
            AttrNumber attnum = index->rd_index->indkey.values[k];
            for (int c = 0; c < info.column_count; c++) {
                if (info.columns[c].attnum != attnum)
                    continue;
                info.columns[c].is_key = true;
                info.json_key_order[info.key_count] = c;
                info.key_columns[info.key_count++] = c;
            }
        }
        index_close(index, AccessShareLock);
    }
    MemoryContextSwitchTo(old);
}

}  // namespace

DeformedRow deform(HeapTuple tuple, TupleDesc desc) {
    DeformedRow row{};
    pg::call([&]() noexcept {
        row.values = static_cast<Datum*>(palloc(sizeof(Datum) * desc->natts));
        row.nulls = static_cast<bool*>(palloc(sizeof(bool) * desc->natts));
        heap_deform_tuple(tuple, desc, row.values, row.nulls);
    });
    return row;
}

void register_table_info_invalidation() {
    CacheRegisterRelcacheCallback(invalidate, 0);
}

const TableInfo& table_info(Relation rel) {
    Oid relid = RelationGetRelid(rel);
    if (!cache) {
        pg::call([&]() noexcept {
            HASHCTL ctl;
            ctl.keysize = sizeof(Oid);
            ctl.entrysize = sizeof(CacheEntry);
            cache = hash_create("ferry table info", 64, &ctl, HASH_ELEM | HASH_BLOBS);
        });
    }
    CacheEntry* entry = nullptr;
    bool has_key = true;
    bool built = false;
    pg::call([&]() noexcept {
        bool found;
        entry = static_cast<CacheEntry*>(hash_search(cache, &relid, HASH_ENTER, &found));
        if (found && entry->valid)
            return;
        built = true;
        if (found && entry->context)
            MemoryContextDelete(entry->context);
        entry->context = nullptr;
        entry->valid = false;
        entry->context =
            AllocSetContextCreate(CacheMemoryContext, "ferry table info", ALLOCSET_SMALL_SIZES);
        build(entry, rel, &has_key);
        entry->valid = has_key || !entry->info.tracked;
    });
    if (!has_key && entry->info.tracked) {
        throw SqlError(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            std::string("table \"") + RelationGetRelationName(rel) + "\" has no primary key",
            "ferry identifies rows by their primary key.",
            "Add one with ALTER TABLE ... ADD PRIMARY KEY, or untrack the table.");
    }
    TableInfo& info = entry->info;
    if (!built)
        return info;
    order_columns(info);
    return info;
}

}  // namespace ferry::pg
