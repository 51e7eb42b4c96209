// SQLite values as PostgreSQL COPY text fields: how rows of a SQLite source
// travel to a PostgreSQL target in a full sync, and how they are stored in a
// dump file (docs/dump-files.md). Numbers print so that they read back
// exactly, blobs as bytea's hex form.
#pragma once

#include "sqlite_api.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ferry::cli {

// Appends a SQLite value as a COPY text field (no separator).
void append_sqlite_value(std::string& line, sqlite3_value* value);

// Rows of a SQLite statement gathered into COPY text lines and handed on
// about a mebibyte at a time, so that each piece costs one call downstream.
class SqliteRowLines {
  public:
    using Consumer = std::function<void(std::string_view lines, uint64_t rows)>;
    explicit SqliteRowLines(Consumer consumer) : consumer_(std::move(consumer)) {}

    // The first `columns` values of the statement's current row.
    void add(sqlite3_stmt* row, int columns);
    // Hands on what is gathered; call it once the rows are over.
    void flush();

  private:
    Consumer consumer_;
    std::string lines_;
    uint64_t rows_ = 0;
};

}  // namespace ferry::cli
