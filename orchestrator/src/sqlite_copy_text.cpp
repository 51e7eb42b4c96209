// See sqlite_copy_text.hpp.
#include "sqlite_copy_text.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ferry/copy_text.hpp"

namespace ferry::cli {

void append_sqlite_value(std::string& line, sqlite3_value* value) {
    switch (sqlite3_value_type(value)) {
        case SQLITE_NULL:
            copy_text::append_null(line);
            break;
        case SQLITE_INTEGER:
            line += std::to_string(sqlite3_value_int64(value));
            break;
        case SQLITE_FLOAT: {
            double number = sqlite3_value_double(value);
            if (std::isinf(number))
                line += number > 0 ? "Infinity" : "-Infinity";
            else
                line += fmt::format("{}", number);  // shortest text that reads back exactly
            break;
        }
        case SQLITE_BLOB: {
            static const char digits[] = "0123456789abcdef";
            const auto* bytes = static_cast<const unsigned char*>(sqlite3_value_blob(value));
            int size = sqlite3_value_bytes(value);
            line += "\\\\x";  // bytea's hex form, its backslash escaped for COPY
            for (int i = 0; i < size; i++) {
                line += digits[bytes[i] >> 4];
                line += digits[bytes[i] & 15];
            }
            break;
        }
        default:
            copy_text::append_value(
                line, std::string_view(reinterpret_cast<const char*>(sqlite3_value_text(value)),
                                       static_cast<size_t>(sqlite3_value_bytes(value))));
    }
}

void SqliteRowLines::add(sqlite3_stmt* row, int columns) {
    for (int i = 0; i < columns; i++) {
        if (i)
            lines_ += '\t';
        append_sqlite_value(lines_, sqlite3_column_value(row, i));
    }
    lines_ += '\n';
    if (++rows_ >= 4096 || lines_.size() >= (size_t{1} << 20))
        flush();
}

void SqliteRowLines::flush() {
    if (lines_.empty())
        return;
    consumer_(lines_, rows_);
    lines_.clear();
    rows_ = 0;
}

}  // namespace ferry::cli
