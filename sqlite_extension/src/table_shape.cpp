// Table descriptions from sqlite_schema and pragma_table_xinfo (see table_shape.hpp).
#include "table_shape.hpp"

#include <algorithm>
#include <cctype>

namespace ferry::sqlite {
namespace {

std::string upper(std::string_view text) {
    std::string out;
    for (char c : text)
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

// "TIMESTAMP(3) WITH TIME ZONE" → "TIMESTAMP WITH TIME ZONE": precision and
// length modifiers do not change the kind.
std::string without_modifiers(const std::string& type) {
    std::string out;
    int depth = 0;
    for (char c : type) {
        if (c == '(')
            depth++;
        else if (c == ')')
            depth = std::max(0, depth - 1);
        else if (depth == 0)
            out += c;
    }
    std::string collapsed;
    for (char c : out) {
        if (c == ' ' && (collapsed.empty() || collapsed.back() == ' '))
            continue;
        collapsed += c;
    }
    while (!collapsed.empty() && collapsed.back() == ' ')
        collapsed.pop_back();
    return collapsed;
}

bool contains(const std::string& text, const char* part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

ValueKind kind_of_declared_type(std::string_view declared_type) {
    std::string type = without_modifiers(upper(declared_type));
    if (type == "JSON" || type == "JSONB")
        return ValueKind::json;
    if (type == "UUID")
        return ValueKind::uuid;
    if (type == "BOOL" || type == "BOOLEAN")
        return ValueKind::boolean;
    if (type == "DATE")
        return ValueKind::date;
    if (type == "TIME" || type == "TIME WITHOUT TIME ZONE")
        return ValueKind::time;
    if (type == "TIMESTAMP" || type == "DATETIME" || type == "TIMESTAMP WITHOUT TIME ZONE")
        return ValueKind::timestamp;
    if (type == "TIMESTAMPTZ" || type == "TIMESTAMP WITH TIME ZONE")
        return ValueKind::timestamptz;
    if (type == "CHAR" || type == "CHARACTER" || type == "BPCHAR" || type == "NCHAR")
        return ValueKind::bpchar;
    if (type == "BLOB" || type == "BYTEA")
        return ValueKind::bytes;
    // SQLite's own affinity rules (datatype3.html, 3.1), minus TEXT affinity.
    if (contains(type, "INT") || contains(type, "REAL") || contains(type, "FLOA") ||
        contains(type, "DOUB") || contains(type, "NUMERIC") || contains(type, "DECIMAL"))
        return ValueKind::numeric;
    return ValueKind::plain;
}

namespace {

// Whether SQLite keeps the table's primary key in an index of its own.
bool has_key_index(sqlite3* db, const std::string& table) {
    Statement indexes(db, "SELECT 1 FROM pragma_index_list(?1) WHERE origin = 'pk'");
    indexes.bind(1, table);
    return indexes.step();
}

}  // namespace

TableShape describe_table(sqlite3* db, std::string_view name) {
    if (name.empty())
        throw ferry::Error(ErrorKind::invalid_input, "table name must not be empty");
    Statement find(db,
                   "SELECT name, sql FROM sqlite_schema WHERE type IN ('table', 'view') "
                   "AND name = ?1 COLLATE NOCASE");
    find.bind(1, name);
    std::string quoted = quote_identifier(name);
    if (!find.step())
        throw ferry::Error(ErrorKind::not_found, "no such table: " + quoted, "",
                           "Name the table as it is written in CREATE TABLE, without quotes.");
    TableShape shape;
    shape.name = find.text(0);
    std::string sql = upper(find.text(1));
    if (sql.rfind("CREATE VIEW", 0) == 0)
        throw ferry::Error(ErrorKind::unsupported, "cannot use view " + quoted,
                           "Only tables can be tracked and hashed.");
    if (sql.rfind("CREATE VIRTUAL TABLE", 0) == 0)
        throw ferry::Error(ErrorKind::unsupported, "cannot use virtual table " + quoted,
                           "Only ordinary tables can be tracked and hashed.");
    std::string upper_name = upper(shape.name);
    if (upper_name.rfind("FERRY_", 0) == 0 || upper_name.rfind("SQLITE_", 0) == 0)
        throw ferry::Error(ErrorKind::unsupported,
                           "cannot use " + quoted + ": it is ferry's or SQLite's own table");

    Statement columns(db,
                      "SELECT name, type, pk, hidden IN (2, 3) FROM pragma_table_xinfo(?1) "
                      "WHERE hidden IN (0, 2, 3) ORDER BY cid");
    columns.bind(1, shape.name);
    while (columns.step()) {
        Column column;
        column.name = columns.text(0);
        column.declared_type = columns.text(1);
        column.kind = kind_of_declared_type(column.declared_type);
        column.key_position = static_cast<int>(columns.integer(2));
        column.generated = columns.integer(3) != 0;
        shape.columns.push_back(std::move(column));
    }
    for (size_t i = 0; i < shape.columns.size(); i++) {
        shape.name_order.push_back(i);
        if (shape.columns[i].key_position > 0)
            shape.key.push_back(i);
    }
    std::sort(shape.key.begin(), shape.key.end(), [&](size_t a, size_t b) {
        return shape.columns[a].key_position < shape.columns[b].key_position;
    });
    std::sort(shape.name_order.begin(), shape.name_order.end(),
              [&](size_t a, size_t b) { return shape.columns[a].name < shape.columns[b].name; });
    // A table has a rowid unless it is WITHOUT ROWID; asking SQLite beats
    // parsing its CREATE TABLE, where quoted names may hold anything.
    for (const char* alias : {"rowid", "_rowid_", "oid"}) {
        bool taken = std::any_of(shape.columns.begin(), shape.columns.end(), [&](const Column& c) {
            return sqlite3_stricmp(c.name.c_str(), alias) == 0;
        });
        if (!taken) {
            std::string probe = std::string("SELECT ") + alias + " FROM main." +
                                quote_identifier(shape.name) + " LIMIT 0";
            sqlite3_stmt* stmt = nullptr;
            if (sqlite3_prepare_v2(db, probe.c_str(), -1, &stmt, nullptr) == SQLITE_OK)
                shape.rowid_alias = alias;
            sqlite3_finalize(stmt);
            break;
        }
    }
    // An INTEGER PRIMARY KEY is the rowid, except when SQLite made an index
    // for it (`INTEGER PRIMARY KEY DESC`): then it holds any value.
    bool without_rowid = shape.rowid_alias.empty();
    shape.rowid_key = !without_rowid && shape.key.size() == 1 &&
                      upper(shape.columns[shape.key[0]].declared_type) == "INTEGER" &&
                      !has_key_index(db, shape.name);
    return shape;
}

TableShape describe_keyed_table(sqlite3* db, std::string_view name) {
    TableShape shape = describe_table(db, name);
    if (shape.key.empty())
        throw ferry::Error(
            ErrorKind::unsupported, "table " + quote_identifier(shape.name) + " has no primary key",
            "ferry identifies rows by their primary key; a rowid is not one (VACUUM may "
            "renumber it).",
            "SQLite cannot add a primary key to a table: create a new table with one, copy the "
            "rows, and track that.");
    return shape;
}

}  // namespace ferry::sqlite
