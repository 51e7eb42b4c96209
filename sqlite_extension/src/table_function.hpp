// Table-valued functions (SELECT * FROM ferry_bucket_hashes('t', 256)) as
// eponymous virtual tables: the arguments are hidden columns, and the rows
// are computed in full when the scan starts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "functions.hpp"

namespace ferry::sqlite {

using Cell = std::variant<std::monostate, int64_t, std::string>;
using Rows = std::vector<std::vector<Cell>>;

struct TableFunctionSpec {
    const char* name;
    // Result columns, then the arguments as HIDDEN columns, as in
    // "CREATE TABLE x(rows INTEGER, digest TEXT, table_name HIDDEN, filter HIDDEN)".
    const char* schema;
    int result_columns;
    int min_args;
    int max_args;
    Rows (*produce)(const Call& call, const Args& args);
};

// Registers the functions as modules; returns an SQLite result code.
int register_table_functions(sqlite3* db, const std::shared_ptr<ConnectionState>& state,
                             const std::vector<TableFunctionSpec>& specs);

}  // namespace ferry::sqlite
