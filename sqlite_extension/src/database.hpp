// Small RAII layer over the SQLite C API: prepared statements, savepoints and
// errors as C++ exceptions. SQLite is C: an exception must never unwind
// through it, so every entry point from SQLite (functions.hpp, the virtual
// tables) catches everything before returning to SQLite.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "sqlite_api.hpp"

namespace ferry::sqlite {

// An error SQLite reported: the message is SQLite's, with the statement's
// purpose in front so the user knows what ferry was doing.
ferry::Error sqlite_error(sqlite3* db, std::string_view doing);

class Statement {
  public:
    Statement(sqlite3* db, std::string_view sql);

    Statement& bind(int index, std::nullopt_t);
    Statement& bind(int index, int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const std::string& text) {
        return bind(index, std::string_view(text));
    }
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::optional<std::string>& text);
    Statement& bind_value(int index, sqlite3_value* value);

    // Advances to the next row: true while there is one.
    bool step();
    // Runs a statement that returns no row (or ignores them).
    void run();
    void reset();

    bool is_null(int column) const;
    int64_t integer(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    std::optional<std::string> optional_text(int column) const;
    sqlite3_value* value(int column) const;
    int column_count() const;
    sqlite3_stmt* handle() const { return stmt_.get(); }

  private:
    struct Finalize {
        void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
    };
    sqlite3* db_;
    std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
};

// Runs SQL that needs no parameters (DDL, several statements).
void exec(sqlite3* db, const std::string& sql);

// A savepoint that rolls back unless release() was called: what a function
// writes is all or nothing, whether or not the caller opened a transaction.
class Savepoint {
  public:
    explicit Savepoint(sqlite3* db);
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    ~Savepoint();
    void release();

  private:
    sqlite3* db_;
    bool open_ = true;
};

// Identifiers and literals in the DDL ferry generates are quoted by core;
// values in ordinary statements are always bound.
using ferry::quote_identifier;
using ferry::quote_literal;

// The current time as ferry stores it: ISO 8601 in UTC with milliseconds,
// which sorts as text ("2024-02-29T12:14:15.123Z").
inline constexpr const char* kNowSql = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

}  // namespace ferry::sqlite
