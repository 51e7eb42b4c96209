// Canonical text of PostgreSQL values and the canonical row hash, on top of
// core's encoding (docs/hashing.md). The text forms do not depend on session
// settings (DateStyle, bytea_output, extra_float_digits), so the same row
// hashes the same in every session and the change log reads the same.
#pragma once

#include "pg_headers.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/canonical.hpp"
#include "table_info.hpp"

namespace ferry::pg {

struct CanonicalValue {
    canonical::ValueClass value_class;
    std::string text;  // canonical number, UTF-8 text, or raw bytes
};

// The bytes of a text-like or bytea value, detoasted but not copied.
std::string_view varlena_view(Datum value);

// The column type's text output of a non-null value.
std::string output_text(const ColumnInfo& column, Datum value);

// Canonical form of a non-null value of column.
CanonicalValue canonical_value(const ColumnInfo& column, Datum value);

// Canonical encoding of a row's columns, or of its primary key columns alone.
void encode_row(const TableInfo& table, const DeformedRow& row, canonical::RowEncoder& encoder,
                bool key_only);

// Canonical hash of a whole row, as a signed 64-bit integer for SQL bigint.
int64_t canonical_row_hash(const TableInfo& table, const DeformedRow& row);

// XXH3-128 of the whole row, for table digests.
canonical::Hash128 canonical_row_hash128(const TableInfo& table, const DeformedRow& row);

// XXH3-64 of the key columns' encoding, which picks the row's bucket.
uint64_t canonical_key_hash(const TableInfo& table, const DeformedRow& row);

}  // namespace ferry::pg
