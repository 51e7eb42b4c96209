// What capture needs to know about a table, computed once per relation and
// kept until PostgreSQL invalidates the relation's cache entry (any DDL on
// it), so that ADD/DROP/RENAME COLUMN and ALTER TYPE are picked up at once.
#pragma once

#include "pg_headers.hpp"

namespace ferry::pg {

// How a column's values are reduced to canonical form and to JSON.
enum class TypeClass {
    integer,
    numeric,
    float4,
    float8,
    boolean,
    text,    // text, varchar, name, "char"
    bpchar,  // blank-padded: trailing spaces are not significant
    bytea,
    json,
    jsonb,
    date,
    time,
    timestamp,
    timestamptz,
    other,  // the type's output function
};

// How values of a (base) type are encoded (docs/hashing.md).
TypeClass classify(Oid type);

// Whether values of a type of this class are compared by their text: json
// has no `=`, and a type hashed by its output text (other) can have `=`
// hold between values whose text differs.
inline bool compared_by_text(TypeClass type_class) {
    return type_class == TypeClass::other || type_class == TypeClass::json;
}

struct ColumnInfo {
    AttrNumber attnum;
    const char* name;
    size_t name_length;  // strlen(name), for hashing without a strlen per value
    TypeClass type_class;
    bool is_key;      // part of the primary key
    FmgrInfo output;  // output function of the column's (base) type
};

struct TableInfo {
    Oid relid;
    // The table whose changes these are: the relation itself, or the root of
    // its partition tree. Capture triggers carry no argument naming it, so
    // they survive dump and restore and cannot be pointed at another table.
    Oid tracked_root;
    // Whether tracked_root is in ferry.tracked_tables. ferry's triggers on a
    // table that is not tracked (left behind, or created by hand) log nothing.
    bool tracked;
    int column_count;
    ColumnInfo* columns;  // in attribute order, dropped columns left out
    int* name_order;      // column indexes sorted by name bytes: canonical order
    int key_count;
    int* key_columns;  // column indexes of the primary key, in key order
    // Column indexes in jsonb's object key order (shorter names first, then
    // by bytes), so that rows are written as jsonb without sorting per row:
    // all columns, and the key columns alone.
    int* json_order;
    int* json_key_order;
    bool has_jsonb = false;  // a column of jsonb (or a domain over it)
};

// A tuple's attributes, extracted once (heap_deform_tuple) and shared by
// everything capture computes from it. Indexed by attnum - 1; palloc'd.
struct DeformedRow {
    Datum* values;
    bool* nulls;
};

DeformedRow deform(HeapTuple tuple, TupleDesc desc);

// The column part of a TableInfo (columns, column_count and the orders,
// unsorted) for any row type, allocated in context. PostgreSQL calls only;
// then order_columns() sorts the orders.
void describe_columns(TableInfo& info, TupleDesc desc, MemoryContext context) noexcept;
void order_columns(TableInfo& info);

// Returns the cached description of rel. Throws SqlError when a tracked
// relation has no usable primary key. The cache entry is rebuilt on relcache
// invalidation, which track() and untrack() cause (they create and drop
// triggers on every relation concerned).
const TableInfo& table_info(Relation rel);

// Hooks the cache into relcache invalidation; called from _PG_init.
void register_table_info_invalidation();

}  // namespace ferry::pg
