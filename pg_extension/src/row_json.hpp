// Rows as jsonb for the change log: readable in psql, self-describing (column
// names travel with the values, so ADD/DROP/RENAME COLUMN never make old log
// entries ambiguous). Integers and finite numerics and floats are JSON
// numbers, booleans JSON booleans, json/jsonb nested JSON; dates and times use
// the canonical ISO text of docs/hashing.md, bytea "\x" hex, and every other
// type its text output.
#pragma once

#include "pg_headers.hpp"

#include "table_info.hpp"

namespace ferry::pg {

// jsonb object of every column of a row, or of its primary key columns only.
Datum row_to_jsonb(const TableInfo& table, const DeformedRow& row, bool key_only);

// True when the primary key values of the two rows are binary equal.
bool same_key(const TableInfo& table, const DeformedRow& a, const DeformedRow& b, TupleDesc desc);

}  // namespace ferry::pg
