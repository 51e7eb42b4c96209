// SQLite peers' tables (see sqlite_peer.hpp).
#include "sqlite_peer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "schema.hpp"
#include "table_shape.hpp"

namespace ferry::cli {

void require_sqlite_ferry(SqliteConnection& db) {
    std::optional<int> installed = sqlite::installed_schema_version(db.handle());
    if (!installed)
        throw Error(ErrorKind::not_found, fmt::format("ferry is not installed in {}", db.peer()),
                    {}, fmt::format("Run: ferry init {}", db.peer()));
    int found = *installed;
    if (found < sqlite::kSchemaVersion)
        throw Error(ErrorKind::unsupported,
                    fmt::format("the ferry tables in {} are of version {}, older than this "
                                "ferry's ({})",
                                db.peer(), found, sqlite::kSchemaVersion),
                    {}, fmt::format("Run: ferry init {} (upgrades them in place)", db.peer()));
    if (found > sqlite::kSchemaVersion)
        throw Error(ErrorKind::unsupported,
                    fmt::format("the ferry tables in {} are of version {}, newer than this "
                                "ferry's ({})",
                                db.peer(), found, sqlite::kSchemaVersion),
                    {}, "Upgrade ferry on this machine.");
}

namespace {

// The class of values a column's declared kind reads (PeerTable::value_classes).
std::string value_class_of(const sqlite::Column& column) {
    switch (column.kind) {
        case sqlite::ValueKind::numeric:
            return "number";
        case sqlite::ValueKind::boolean:
            return "boolean";
        case sqlite::ValueKind::json:
            return "json";
        case sqlite::ValueKind::uuid:
            return "uuid";
        case sqlite::ValueKind::date:
            return "date";
        case sqlite::ValueKind::time:
            return "time";
        case sqlite::ValueKind::timestamp:
            return "timestamp";
        case sqlite::ValueKind::timestamptz:
            return "timestamptz";
        case sqlite::ValueKind::bpchar:
            return "text";
        case sqlite::ValueKind::bytes:
            return "bytes";
        case sqlite::ValueKind::plain:
            break;
    }
    // TEXT affinity (SQLite's rule: CHAR, CLOB or TEXT in the type) stores
    // a number as text; without a type a value keeps its storage class.
    std::string type = column.declared_type;
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const char* text : {"CHAR", "CLOB", "TEXT"})
        if (type.find(text) != std::string::npos)
            return "text";
    return "any";
}

}  // namespace

PeerTable describe_sqlite_table(SqliteConnection& db, const std::string& table) {
    sqlite::TableShape shape;
    try {
        shape = sqlite::describe_keyed_table(db.handle(), sqlite_table_name(db, table));
    } catch (const Error& e) {
        throw Error(e.kind(), fmt::format("{} in {}", e.what(), db.peer()), e.detail(), e.hint());
    }
    // A peer names the tables: never let it name SQLite's own or ferry's state.
    auto starts_with = [&](const char* prefix) {
        return sqlite3_strnicmp(shape.name.c_str(), prefix, static_cast<int>(strlen(prefix))) == 0;
    };
    if (starts_with("sqlite_") || starts_with("ferry_"))
        throw Error(
            ErrorKind::unsupported,
            fmt::format("\"{}\" in {} is SQLite's or ferry's own table", shape.name, db.peer()),
            "ferry reads and writes user tables only: its own state (ferry_*) and "
            "SQLite's (sqlite_*) are never copied, compared or synced.",
            "Leave the table out (--tables), or untrack it on the peer that lists it.");
    PeerTable described;
    described.name = shape.name;
    for (const auto& column : shape.columns) {
        described.columns.push_back(column.name);
        described.value_classes[column.name] = {value_class_of(column), column.declared_type.empty()
                                                                            ? std::string("no type")
                                                                            : column.declared_type};
        if (column.key_position > 0)
            described.key_columns.push_back(column.name);
    }
    std::sort(described.columns.begin(), described.columns.end());
    std::sort(described.key_columns.begin(), described.key_columns.end());
    // An estimate, as PostgreSQL's reltuples: it sizes the first round of a
    // diff. The rowid range costs two B-tree descents where count(*) reads
    // the whole table. Each bound needs its own SELECT: SQLite answers a
    // lone min() or max() from the B-tree's edge, but a query with both
    // scans every row (175 ms for 1M rows).
    std::string table_sql = "main." + quote_identifier(shape.name);
    auto bound = [&](const char* aggregate) {
        return fmt::format("(SELECT {}({}) FROM {})", aggregate, shape.rowid_alias, table_sql);
    };
    auto count = db.query(shape.rowid_alias.empty() ? "SELECT count(*) FROM " + table_sql
                                                    : "SELECT coalesce(" + bound("max") + " - " +
                                                          bound("min") + " + 1, 0)");
    described.estimated_rows = std::stoull(*count.at(0).at(0));
    return described;
}

std::string sql_written_name(const std::string& name) {
    bool plain = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name)
        plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    return plain ? name : quote_identifier(name);
}

std::vector<std::string> sqlite_tracked_tables(SqliteConnection& db) {
    require_sqlite_ferry(db);
    std::vector<std::string> names;
    for (const auto& row : db.query("SELECT table_name FROM ferry_tracked_tables ORDER BY 1"))
        names.push_back(sql_written_name(*row.at(0)));
    return names;
}

std::vector<std::string> sqlite_checkpoint_scopes(SqliteConnection& db, const std::string& job) {
    return db.texts(
        "SELECT scope FROM ferry_checkpoints WHERE job = ?1 ORDER BY "
        "last_attempt_at IS NULL, last_attempt_at DESC, scope",
        {job});
}

UuidKeySpelling::UuidKeySpelling(SqliteConnection& db, const std::string& table,
                                 const std::vector<std::string>& key_columns)
    : db_(db) {
    sqlite::TableShape shape = sqlite::describe_keyed_table(db.handle(), table);
    std::string table_name = "main." + quote_identifier(shape.name);
    std::string where, upper, lower;
    for (size_t n = 0; n < key_columns.size(); n++) {
        auto column =
            std::find_if(shape.columns.begin(), shape.columns.end(),
                         [&](const sqlite::Column& c) { return c.name == key_columns[n]; });
        if (column == shape.columns.end())
            throw Error(ErrorKind::internal, "a key column is not in the table");
        std::string name = quote_identifier(column->name);
        uuid_.push_back(column->kind == sqlite::ValueKind::uuid);
        where += fmt::format("{}{} IS ?{}", n ? " AND " : "", name, n + 1);
        if (uuid_.back()) {
            upper += fmt::format("{}{} GLOB '*[A-F]*'", upper.empty() ? "" : " OR ", name);
            lower += fmt::format("{}{} GLOB '*[a-f]*'", lower.empty() ? "" : " OR ", name);
        }
    }
    if (upper.empty()) {
        uuid_.clear();
        return;
    }
    auto spelled =
        db.query(fmt::format("SELECT EXISTS (SELECT 1 FROM {0} WHERE {1}), "
                             "EXISTS (SELECT 1 FROM {0} WHERE {2})",
                             table_name, upper, lower));
    upper_held_ = spelled.at(0).at(0) == std::optional<std::string>("1");
    lower_held_ = spelled.at(0).at(1) == std::optional<std::string>("1");
    exists_ = prepare(db, fmt::format("SELECT 1 FROM {} WHERE {}", table_name, where));
}

bool UuidKeySpelling::held(const std::vector<std::string>& key) {
    for (size_t n = 0; n < key.size(); n++)
        sqlite3_bind_text(exists_.get(), static_cast<int>(n) + 1, key[n].data(),
                          static_cast<int>(key[n].size()), SQLITE_STATIC);
    int rc = sqlite3_step(exists_.get());
    sqlite3_reset(exists_.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        throw Error(ErrorKind::io, sqlite3_errmsg(db_.handle()),
                    fmt::format("Looking up a key in {}.", db_.peer()));
    return rc == SQLITE_ROW;
}

std::optional<std::vector<std::string>> UuidKeySpelling::held_spelling(
    const std::vector<std::string>& key) {
    if (!applies() || key.size() != uuid_.size() || held(key))
        return std::nullopt;
    for (int (*to_case)(int) : {::toupper, ::tolower}) {
        if (!(to_case == ::toupper ? upper_held_ : lower_held_))
            continue;
        std::vector<std::string> other = key;
        for (size_t n = 0; n < other.size(); n++)
            if (uuid_[n])
                std::transform(other[n].begin(), other[n].end(), other[n].begin(),
                               [&](unsigned char c) { return static_cast<char>(to_case(c)); });
        if (other != key && held(other))
            return other;
    }
    return std::nullopt;
}

}  // namespace ferry::cli
