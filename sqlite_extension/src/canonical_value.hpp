// SQLite values in the canonical encoding of docs/hashing.md.
#pragma once

#include <string>

#include "ferry/canonical.hpp"
#include "table_shape.hpp"

namespace ferry::sqlite {

struct CanonicalValue {
    canonical::ValueClass value_class;
    std::string text;
};

// A stored value of a column, by its storage class and the column's kind.
CanonicalValue canonical_value(const Column& column, sqlite3_value* value);

// A TEXT value of a column of the given kind.
CanonicalValue canonical_text(ValueKind kind, std::string text);

void add_to_row(canonical::RowEncoder& encoder, const std::string& column,
                const CanonicalValue& value);

// The value as JSON text (for keys): numbers as numbers, bytes as "\x…".
std::string canonical_json(const CanonicalValue& value);

}  // namespace ferry::sqlite
