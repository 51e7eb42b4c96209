// SQL-callable functions of the SQLite extension: argument access, results,
// and the boundary that turns every C++ exception into sqlite3_result_error,
// so that none unwinds through SQLite's C frames.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection_state.hpp"
#include "database.hpp"

namespace ferry::sqlite {

// The arguments of one call, with checks that name the function and the
// argument in their errors.
class Args {
  public:
    Args(const char* function, int count, sqlite3_value** values)
        : function_(function), count_(count), values_(values) {}

    int size() const { return count_; }
    bool has(int i) const { return i < count_ && sqlite3_value_type(values_[i]) != SQLITE_NULL; }
    sqlite3_value* raw(int i) const { return values_[i]; }

    std::string text(int i, const char* name) const;
    std::optional<std::string> optional_text(int i) const;
    int64_t integer(int i, const char* name) const;
    std::optional<int64_t> optional_integer(int i, const char* name) const;
    // A duration in seconds: a number, or text such as '30 seconds' or '5 minutes'.
    double seconds(int i, const char* name) const;

  private:
    [[noreturn]] void wrong(int i, const char* name, const char* expected) const;
    const char* function_;
    int count_;
    sqlite3_value** values_;
};

// What a function returns.
class Result {
  public:
    explicit Result(sqlite3_context* context) : context_(context) {}
    void null() { sqlite3_result_null(context_); }
    void integer(int64_t value) { sqlite3_result_int64(context_, value); }
    void boolean(bool value) { sqlite3_result_int(context_, value ? 1 : 0); }
    void text(std::string_view value) {
        sqlite3_result_text64(context_, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    // JSON text that json_*() functions treat as JSON, not as a string.
    void json(std::string_view value);

  private:
    sqlite3_context* context_;
};

// The database a function runs in, and this connection's ferry state.
struct Call {
    sqlite3* db;
    ConnectionState& state;
};

using FunctionBody = void (*)(const Call&, const Args&, Result&);

struct FunctionSpec {
    const char* name;
    int min_args;
    int max_args;
    FunctionBody body;
    // SQLITE_DIRECTONLY for everything that writes: a view or trigger in a
    // database someone else wrote can then never call it.
    int flags;
};

// Registers the functions; returns an SQLite result code.
int register_functions(sqlite3* db, const std::shared_ptr<ConnectionState>& state,
                       const std::vector<FunctionSpec>& specs);

// The text SQLite shows for an error: message, then DETAIL and HINT lines as
// psql prints them.
std::string error_text(const ferry::Error& error);

}  // namespace ferry::sqlite
