// Turning a peer's data dump into idempotent upserts (SPEC §2.4).
//
// Input is the text of `pg_dump --data-only --inserts` (or --column-inserts,
// --rows-per-insert=N) or of `sqlite3 DB .dump`. Output is, for every data
// INSERT, one INSERT ... ON CONFLICT (key) DO UPDATE ... that writes a row
// only where it differs, in the target engine's dialect, so that applying
// the same dump twice writes nothing the second time.
//
// In PostgreSQL the WHERE clause compares the old and new row with IS
// DISTINCT FROM; the columns the lookup names in compared_by_text (json,
// xml, point, and every type hashed by its text) are compared as text, so
// that a row differs exactly where its hash would.
//
// A dump is data, never SQL to run: every output statement is rebuilt from
// validated tokens (names re-quoted, values that must be literals re-written)
// and nothing of the input is copied through. Dump framing (SET, BEGIN,
// COMMIT, PRAGMA foreign_keys, comments) is dropped; any other statement is an
// error unless the caller asks to skip it.
//
// The converter streams: it holds one statement at a time, so dumps far
// larger than memory pass through.
//
//   UpsertConverter converter(Dialect::postgresql, lookup, {}, [&](std::string_view sql) {
//       run(sql);
//   });
//   while (read(chunk))
//       converter.feed(chunk);
//   converter.finish();
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/sql_lexer.hpp"

namespace ferry::upsert {

using sql::Dialect;

// A table as an INSERT names it: unquoted, with unquoted names folded to
// lower case when the dump is PostgreSQL's and kept as written when it is
// SQLite's (whose names compare case-insensitively: a SQLite lookup should
// match them so).
struct TableName {
    std::optional<std::string> schema;
    std::string name;
};

// What the converter needs to know of a table on the target.
struct TableColumns {
    std::vector<std::string> columns;      // every column, in table order
    std::vector<std::string> key_columns;  // the primary key, or a unique key
    // The name to write in the output when it differs from the dump's, e.g.
    // a PostgreSQL dump's "public"."t" applied to SQLite's "t".
    std::optional<TableName> output_name;
    // A table the target keeps for itself (ferry's own state): an INSERT
    // into it is not data but a statement like any other, refused or, with
    // skip_other_statements, dropped, as sqlite_sequence is. Nothing else
    // of it is used.
    bool internal = false;
    // Columns a PostgreSQL upsert compares by their text, not with `=`: types
    // without an equality operator (json, xml, point), and types hashed by
    // their text (docs/hashing.md), whose `=` can hold between values that
    // hash apart ('1 day' and '24:00:00' as intervals, citext's 'A' and 'a').
    std::vector<std::string> compared_by_text{};
};

// Looks a table up on the target; nullopt when there is no such table.
// Called once per table of the dump (the converter keeps the answers).
using TableLookup = std::function<std::optional<TableColumns>(const TableName&)>;

struct Options {
    // The dialect the dump is written in; the target's when not given.
    std::optional<Dialect> source;
    // Drop statements other than data INSERTs and dump framing (CREATE,
    // ALTER, DELETE, COPY, setval, sqlite_sequence, ...) instead of failing.
    bool skip_other_statements = false;
    // The longest statement accepted, so that a quote never closed cannot
    // make the rest of a huge dump one statement held in memory.
    size_t max_statement_bytes = size_t{1} << 30;
};

struct Stats {
    uint64_t statements_read = 0;     // every statement, framing included
    uint64_t inserts_converted = 0;   // output statements
    uint64_t rows = 0;                // rows in them
    uint64_t statements_skipped = 0;  // dropped by skip_other_statements
};

namespace detail {

// What the converter keeps of a table of the target, resolved once.
struct Table {
    bool internal = false;             // TableColumns::internal
    std::string display;               // schema.name, for messages
    std::string written_name;          // "schema"."name" [AS "existing"]
    std::string qualifier;             // how WHERE names the existing row
    std::vector<std::string> columns;  // in table order
    std::vector<std::string> quoted_columns;
    std::vector<bool> is_key;
    std::vector<bool> by_text;  // TableColumns::compared_by_text, by position
    std::vector<size_t> keys;   // column positions, in key order
    std::map<std::string, size_t> by_name;
    std::map<std::string, size_t> by_folded_name;  // ASCII lower case
};

}  // namespace detail

class UpsertConverter {
  public:
    using Emit = std::function<void(std::string_view statement)>;

    // `emit` receives each output statement, ending in ';', in input order.
    UpsertConverter(Dialect target, TableLookup lookup, Options options, Emit emit);

    // Takes the next piece of the dump, cut anywhere (inside a string, a
    // name or a UTF-8 character), and emits the statements it completes.
    // Throws Error naming the line for anything not accepted; the converter
    // cannot be fed again after an error.
    void feed(std::string_view chunk);
    // Throws Error(invalid_input) if the dump ends inside a statement, a
    // quote or a comment.
    void finish();

    Stats stats() const { return stats_; }

  private:
    using Table = detail::Table;

    void on_statement(const sql::Statement& statement);
    void convert_insert(const sql::Statement& statement);
    bool is_framing(const sql::Statement& statement) const;
    void other_statement(const sql::Statement& statement);
    const Table& table(const TableName& name, size_t line);
    std::vector<size_t> map_columns(const Table& table,
                                    const std::optional<std::vector<std::string>>& listed,
                                    size_t line) const;
    void check_usable() const;

    Dialect target_;
    Dialect source_;
    TableLookup lookup_;
    Options options_;
    Emit emit_;
    sql::StatementSplitter splitter_;
    std::map<std::string, Table> tables_;
    std::string output_;
    Stats stats_;
    bool failed_ = false;
    bool finished_ = false;
};

// The whole dump at once: the output statements joined by "\n".
std::string convert_dump(std::string_view dump, Dialect target, TableLookup lookup,
                         Options options = {});

}  // namespace ferry::upsert
