// A SQLite table as ferry sees it: its columns with their declared types
// reduced to the value kinds of docs/hashing.md, and its primary key.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "database.hpp"

namespace ferry::sqlite {

// How text in a column is read for hashing, from the column's declared type
// (SQLite stores any value in any column; the declared type says what the
// application meant). docs/sqlite.md lists the declared types of each kind.
enum class ValueKind {
    plain,        // by storage class alone
    numeric,      // INT…, REAL, FLOAT, DOUBLE, NUMERIC, DECIMAL: numeric text is a number
    boolean,      // BOOL, BOOLEAN: also 't', 'true', 'f', 'false'
    json,         // JSON, JSONB
    uuid,         // UUID
    date,         // DATE
    time,         // TIME
    timestamp,    // TIMESTAMP, DATETIME
    timestamptz,  // TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE
    bpchar,       // CHAR(n), CHARACTER(n): trailing blanks are not significant
    bytes,        // BLOB, BYTEA: "\x…" text in a change log row is a blob
};

ValueKind kind_of_declared_type(std::string_view declared_type);

struct Column {
    std::string name;
    std::string declared_type;
    ValueKind kind = ValueKind::plain;
    int key_position = 0;    // 1-based position in the primary key; 0 = not a key column
    bool generated = false;  // GENERATED ALWAYS AS: computed by SQLite, never written
};

struct TableShape {
    std::string name;                // as stored in sqlite_schema
    std::vector<Column> columns;     // in table order (generated columns included)
    std::vector<size_t> key;         // indices into columns, in key order
    std::vector<size_t> name_order;  // indices into columns, by name bytes (docs/hashing.md)
    bool rowid_key = false;          // INTEGER PRIMARY KEY: the key is always an integer
    // How to name the rowid in a query ("rowid", or "_rowid_" or "oid" when a
    // column has that name); empty for WITHOUT ROWID tables.
    std::string rowid_alias;
};

// Describes a table of the main database, found by name as SQLite finds it
// (case-insensitively). Throws a clear error if there is no such table, or it
// is a view, a virtual table or one of ferry's or SQLite's own tables.
TableShape describe_table(sqlite3* db, std::string_view name);

// The same, and refuses a table without a primary key.
TableShape describe_keyed_table(sqlite3* db, std::string_view name);

}  // namespace ferry::sqlite
