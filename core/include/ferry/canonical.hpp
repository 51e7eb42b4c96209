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
// number_from_int() written to out, which holds at least kMaxIntNumberLength
// bytes; returns the length. No allocation: row hashing calls it per value.
constexpr size_t kMaxIntNumberLength = 32;
size_t format_number_from_int(int64_t value, char* out);
std::string number_from_double(double value);
std::string number_from_float(float value);

// A char(n) value without its padding: trailing blanks do not count in
// PostgreSQL's bpchar comparisons, so they are not part of the value.
// Padding is skipped eight bytes at a time (a pgbench filler is 84 blanks).
std::string_view without_trailing_blanks(std::string_view text);

// Canonical JSON text: no insignificant white space, object keys sorted by
// their UTF-8 bytes with the last duplicate winning (jsonb's rule), numbers in
// normalize_number() form, strings re-escaped one fixed way. Throws
// Error(invalid_input) for text that is not JSON.
std::string normalize_json(std::string_view text);

struct Hash128 {
    uint64_t low = 0;
    uint64_t high = 0;
};

enum class ValueClass : char { null = 'n', number = 'N', text = 't', bytes = 'b' };

// Builds the canonical encoding of one row. Columns must be added in
// ascending byte order of their names (the adapter sorts once per table), so
// that physical column order does not matter. Each column is encoded as
// u32 name length, name, class byte, and for non-null values u32 value length
// and value; lengths are little-endian. Lengths make ('ab','c') and ('a','bc')
// differ; the class byte makes NULL, '' and 'NULL' differ.
class RowEncoder {
  public:
    void clear() { size_ = 0; }
    void add_null(std::string_view column);
    void add_number(std::string_view column, std::string_view canonical_number);
    void add_int(std::string_view column, int64_t value);  // add_number(number_from_int())
    void add_text(std::string_view column, std::string_view utf8);
    void add_bytes(std::string_view column, std::string_view bytes);

    std::string_view bytes() const { return {buffer_.data(), size_}; }
    uint64_t hash() const;    // XXH3-64 of bytes()
    Hash128 hash128() const;  // XXH3-128 of bytes()

  private:
    void add(std::string_view column, ValueClass cls, const std::string_view* value);
    // The encoding is buffer_[0, size_): the buffer only grows, so that a
    // row costs no allocation and no zero-filling once the first is done.
    std::string buffer_;
    size_t size_ = 0;
};

// XXH3-64 of arbitrary bytes, as used for row hashes.
uint64_t hash_bytes(std::string_view bytes);

// Order-independent digest of a set of rows: the number of rows and the sum,
// modulo 2^128, of their XXH3-128 hashes. Two digests of the same rows are
// equal whatever order the rows were read in and however the rows were split
// into parts (add() the parts' digests); a table that differs in k rows has
// the same digest with probability 2^-128 (docs/hashing.md).
class TableDigest {
  public:
    void add_row(Hash128 row_hash);
    void add(const TableDigest& part);
    uint64_t rows() const { return rows_; }
    Hash128 sum() const { return sum_; }
    // 32 lower-case hex digits, most significant first.
    std::string hex() const;
    // The digest that hex() printed for `rows` rows. Throws
    // Error(invalid_input) unless hex is 32 hex digits.
    static TableDigest from_hex(uint64_t rows, std::string_view hex);
    bool operator==(const TableDigest& other) const {
        return rows_ == other.rows_ && sum_.low == other.sum_.low && sum_.high == other.sum_.high;
    }

  private:
    uint64_t rows_ = 0;
    Hash128 sum_;
};

// The bucket of a row among `buckets`, from the XXH3-64 hash of the canonical
// encoding of its key columns alone: the same row lands in the same bucket on
// every peer and every engine, whatever its other values. buckets > 0.
inline uint64_t bucket_of(uint64_t key_hash, uint64_t buckets) {
    return key_hash % buckets;
}

}  // namespace ferry::canonical
