// PostgreSQL's COPY text format: the row stream of a full sync.
//
// A row is one line; fields are separated by tabs; \N is NULL; a backslash,
// tab, newline or carriage return inside a value is written as \\, \t, \n,
// \r. pg_dump writes table data this way and COPY ... FROM STDIN reads it,
// so a PostgreSQL-to-PostgreSQL sync passes lines through untouched; the
// SQLite side of a sync decodes and encodes them with these functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::copy_text {

struct Field {
    bool is_null = false;
    std::string value;  // decoded; empty when is_null
};

// Splits one line (without its end of line) into fields, decoding escapes:
// the six letters \b \f \n \r \t \v, octal \ooo, \xhh and a backslash before
// any other character. `fields` is resized to the number of fields and its
// strings are reused, so decoding a stream of rows allocates next to nothing.
// Throws Error(invalid_input) for a line ending in a lone backslash.
void decode_line(std::string_view line, std::vector<Field>& fields);

// Appends a value, escaped, to a line being built (no separator).
void append_value(std::string& line, std::string_view value);

// Appends NULL (\N).
inline void append_null(std::string& line) {
    line += "\\N";
}

// The end-of-data marker that ends a COPY block in a dump.
inline constexpr std::string_view kEndOfData = "\\.";

}  // namespace ferry::copy_text
