// Rows as jsonb for the change log: readable in psql, self-describing (column
// names travel with the values, so ADD/DROP/RENAME COLUMN never make old log
// entries ambiguous). Integers and finite numerics and floats are JSON
// numbers, booleans JSON booleans, jsonb nested JSON, json its text as a JSON
// string (jsonb cannot hold every valid json); dates and times use the
// canonical ISO text of docs/hashing.md, bytea "\x" hex, and every other type
// its text output.
#pragma once

#include "pg_headers.hpp"

#include "table_info.hpp"

namespace ferry::pg {

// jsonb object of a row's primary key columns.
Datum key_to_jsonb(const TableInfo& table, const DeformedRow& row);

// jsonb objects of a row's primary key and of the whole row, built in one
// pass over the columns.
struct KeyAndRow {
    Datum key;
    Datum row;
};
KeyAndRow key_and_row_to_jsonb(const TableInfo& table, const DeformedRow& row);

// True when the primary key values of the two rows are binary equal.
bool same_key(const TableInfo& table, const DeformedRow& a, const DeformedRow& b, TupleDesc desc);

}  // namespace ferry::pg
