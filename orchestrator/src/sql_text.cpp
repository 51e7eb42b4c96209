#include "sql_text.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"

namespace ferry::cli {

std::string join_quoted(const std::vector<std::string>& names, const std::string& prefix) {
    std::string out;
    for (const auto& name : names)
        out += (out.empty() ? "" : ", ") + prefix + quote_identifier(name);
    return out;
}

std::string key_match(const std::vector<std::string>& keys, const std::string& a,
                      const std::string& b, const char* op) {
    std::string out;
    for (const auto& key : keys) {
        std::string quoted = quote_identifier(key);
        out +=
            fmt::format("{}{}.{} {} {}.{}", out.empty() ? "" : " AND ", a, quoted, op, b, quoted);
    }
    return out;
}

std::vector<std::string> json_arrays(const std::vector<std::string>& items, size_t per_array) {
    std::vector<std::string> arrays;
    for (size_t first = 0; first < items.size(); first += per_array) {
        size_t last = std::min(items.size(), first + per_array);
        std::string array = "[";
        for (size_t k = first; k < last; k++)
            array += (k > first ? "," : "") + items[k];
        arrays.push_back(array + "]");
    }
    return arrays;
}

StatementPtr prepare(SqliteConnection& db, const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
        throw Error(ErrorKind::invalid_input, sqlite3_errmsg(db.handle()),
                    fmt::format("In {}.", db.peer()));
    return StatementPtr(raw);
}

void step_done(SqliteConnection& db, sqlite3_stmt* statement) {
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(statement);
        return;
    }
    int extended = sqlite3_extended_errcode(db.handle());
    std::string message = sqlite3_errmsg(db.handle());
    // Reset now: a statement left in its error state takes no new bindings,
    // and the next step would run it again with this row's values.
    sqlite3_reset(statement);
    if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY)
        throw UniqueViolation(ErrorKind::conflict, message, fmt::format("In {}.", db.peer()));
    throw Error((extended & 0xff) == SQLITE_CONSTRAINT ? ErrorKind::conflict : ErrorKind::io,
                message, fmt::format("In {}.", db.peer()));
}

}  // namespace ferry::cli
