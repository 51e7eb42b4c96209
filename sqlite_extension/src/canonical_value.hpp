// SQLite values in the canonical encoding of docs/hashing.md.
#pragma once

#include <string>
#include <string_view>

#include "ferry/canonical.hpp"
#include "table_shape.hpp"

namespace ferry::sqlite {

// The value's class and canonical text. The text is `owned` when it had to
// be rewritten (numbers, dates …); otherwise `view` points into SQLite's copy
// of the value, valid until the statement steps again.
class CanonicalValue {
  public:
    CanonicalValue() = default;
    CanonicalValue(canonical::ValueClass cls, std::string text)
        : value_class(cls), owned_(std::move(text)), borrowed_(false) {}
    CanonicalValue(canonical::ValueClass cls, std::string_view borrowed)
        : value_class(cls), view_(borrowed), borrowed_(true) {}

    std::string_view view() const { return borrowed_ ? view_ : std::string_view(owned_); }

    canonical::ValueClass value_class = canonical::ValueClass::null;

  private:
    std::string owned_;
    std::string_view view_;
    bool borrowed_ = false;
};

// A stored value of a column, by its storage class and the column's kind.
CanonicalValue canonical_value(const Column& column, sqlite3_value* value);

// A TEXT value of a column of the given kind; the result may borrow `text`.
CanonicalValue canonical_text(ValueKind kind, std::string_view text);

void add_to_row(canonical::RowEncoder& encoder, const std::string& column,
                const CanonicalValue& value);

// The value as JSON text (for keys): numbers as numbers, bytes as "\x…".
std::string canonical_json(const CanonicalValue& value);

}  // namespace ferry::sqlite
