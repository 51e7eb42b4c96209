// Canonical row encoding and row hashing, shared by every engine adapter.
//
// The same logical row must produce the same bytes (and so the same hash)
// whether PostgreSQL or SQLite stored it and however the column was typed. The
// adapters reduce each value to one of four classes (null, number, text,
// bytes); this file fixes how each class and the row around it are encoded.
// docs/hashing.md is the normative description, with test vectors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::canonical {

// Canonical text of a number given in any decimal or float notation
// ("10.50", "1.05E+1", "-0", "NaN", "Infinity"): "0", or a signed mantissa
// without leading or trailing zeros and an exponent ("1.05e1", "-5e0",
// "1e-3"), or one of "NaN", "Infinity", "-Infinity". Throws
// Error(invalid_input) when the text is not a number.
std::string normalize_number(std::string_view text);

// Canonical text of an integer, a double (shortest round-trip form, so
// 0.1 encodes as the decimal 0.1) and a boolean (0 or 1).
std::string number_from_int(int64_t value);
std::string number_from_double(double value);
std::string number_from_float(float value);

// Canonical JSON text: no insignificant white space, object keys sorted by
// their UTF-8 bytes with the last duplicate winning (jsonb's rule), numbers in
// normalize_number() form, strings re-escaped one fixed way. Throws
// Error(invalid_input) for text that is not JSON.
std::string normalize_json(std::string_view text);

enum class ValueClass : char { null = 'n', number = 'N', text = 't', bytes = 'b' };

// Builds the canonical encoding of one row. Columns must be added in
// ascending byte order of their names (the adapter sorts once per table), so
// that physical column order does not matter. Each column is encoded as
// u32 name length, name, class byte, and for non-null values u32 value length
// and value; lengths are little-endian. Lengths make ('ab','c') and ('a','bc')
// differ; the class byte makes NULL, '' and 'NULL' differ.
class RowEncoder {
  public:
    void clear() { buffer_.clear(); }
    void add_null(std::string_view column);
    void add_number(std::string_view column, std::string_view canonical_number);
    void add_text(std::string_view column, std::string_view utf8);
    void add_bytes(std::string_view column, std::string_view bytes);

    std::string_view bytes() const { return buffer_; }
    uint64_t hash() const;  // XXH3-64 of bytes()

  private:
    void add(std::string_view column, ValueClass cls, const std::string_view* value);
    void add_length(size_t length);
    std::string buffer_;
};

// XXH3-64 of arbitrary bytes, as used for row hashes.
uint64_t hash_bytes(std::string_view bytes);

}  // namespace ferry::canonical
