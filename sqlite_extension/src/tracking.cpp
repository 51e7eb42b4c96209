// ferry_track(), ferry_untrack() and the capture triggers (docs/sqlite.md).
//
// The triggers are plain SQL: they call no ferry function, so a writer that
// never loaded ferry is captured all the same. SQLite has row triggers only;
// each row costs one INSERT into ferry_changes, and an inserted row also a
// look-up of its key (for INSERT OR REPLACE).
#include "tracking.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>

#include "schema.hpp"
#include "table_shape.hpp"

namespace ferry::sqlite {
namespace {

// ferry_<operation>_<table>: the capture triggers of a table.
const char* const kTriggerOperations[] = {"insert",  "update",   "rekey",    "delete",
                                          "replace", "replaced", "displace", "displaced"};

std::string trigger_name(const char* operation, const std::string& table) {
    return quote_identifier(std::string("ferry_") + operation + "_" + table);
}

// A column value as the change log holds it. json_object() cannot hold a
// blob and prints reals with 15 digits (0.30000000000000004 would come out
// as 0.3) and infinities as invalid JSON, so those are spelled out: blobs as
// "\x…" hex (PostgreSQL's bytea form), reals with 17 digits (which read back
// as the same double), infinities as "Infinity" strings. An INTEGER PRIMARY
// KEY is always an integer and needs none of it.
std::string captured_value(const std::string& ref, bool always_integer) {
    if (always_integer)
        return ref;
    return "CASE typeof(" + ref + ") WHEN 'blob' THEN '\\x' || lower(hex(" + ref +
           ")) WHEN 'real' THEN json(CASE WHEN " + ref +
           " > 1.7976931348623157e308 THEN '\"Infinity\"' WHEN " + ref +
           " < -1.7976931348623157e308 THEN '\"-Infinity\"' ELSE printf('%!.17g', " + ref +
           ") END) ELSE " + ref + " END";
}

// json_object('col', value, …) over the given columns of NEW or OLD.
std::string json_of(const TableShape& shape, const std::vector<size_t>& columns, const char* row) {
    std::string out = "json_object(";
    for (size_t n = 0; n < columns.size(); n++) {
        const Column& column = shape.columns[columns[n]];
        if (n > 0)
            out += ", ";
        std::string ref = std::string(row) + "." + quote_identifier(column.name);
        out += quote_literal(column.name) + ", " +
               captured_value(ref, shape.rowid_key && column.key_position == 1);
    }
    return out + ")";
}

std::vector<size_t> all_columns(const TableShape& shape) {
    std::vector<size_t> all;
    for (size_t i = 0; i < shape.columns.size(); i++)
        all.push_back(i);
    return all;
}

// One INSERT INTO ferry_changes.
std::string log_statement(const TableShape& shape, char op, const char* key_row,
                          const std::string& new_row, const std::string& old_row) {
    return "INSERT INTO ferry_changes (table_name, op, key, new_row, old_row, origin, changed_at) "
           "VALUES (" +
           quote_literal(shape.name) + ", '" + op + "', " + json_of(shape, shape.key, key_row) +
           ", " + new_row + ", " + old_row + ", NULL, julianday('now'));\n";
}

// A column of a UNIQUE set, compared under the index's collation (a
// UNIQUE index on `email COLLATE NOCASE` makes room for 'ANN@x' by removing
// 'ann@x').
struct UniqueColumn {
    std::string name;
    std::string collation;  // empty: none to name
};
using UniqueSet = std::vector<UniqueColumn>;

// The primary key's columns, then those of each UNIQUE constraint and index
// on plain columns (not partial, no expressions): what an INSERT OR REPLACE
// or UPDATE OR REPLACE makes room through. An INTEGER PRIMARY KEY has no
// index of its own (it is the rowid) and no collation: an integer. Naming
// one costs about a tenth of a bulk insert's capture.
std::vector<UniqueSet> unique_sets(sqlite3* db, const TableShape& shape) {
    std::vector<UniqueSet> sets(1);
    Statement indexes(db,
                      "SELECT name, origin = 'pk' FROM pragma_index_list(?1) WHERE \"unique\" AND "
                      "NOT partial ORDER BY origin = 'pk' DESC, seq");
    indexes.bind(1, shape.name);
    while (indexes.step()) {
        Statement columns(db,
                          "SELECT cid, name, coll FROM pragma_index_xinfo(?1) WHERE key ORDER BY "
                          "seqno");
        columns.bind(1, indexes.text(0));
        UniqueSet set;
        bool plain = true;
        while (columns.step()) {
            plain = plain && columns.integer(0) >= 0;
            if (plain)
                set.push_back({columns.text(1), columns.text(2)});
        }
        if (indexes.integer(1))
            sets[0] = std::move(set);
        else if (plain && !set.empty())
            sets.push_back(std::move(set));
    }
    if (sets[0].empty())
        for (size_t i : shape.key)
            sets[0].push_back({shape.columns[i].name, ""});
    return sets;
}

// SQL that is true for a row `alias` of the table that a NEW row would
// meet: the same values of any of the sets.
std::string conflict_condition(const std::vector<UniqueSet>& sets, const std::string& alias) {
    std::string any;
    for (const UniqueSet& set : sets) {
        std::string all;
        for (const UniqueColumn& column : set)
            all +=
                (all.empty() ? "" : " AND ") + alias + "." + quote_identifier(column.name) +
                " = NEW." + quote_identifier(column.name) +
                (column.collation.empty() ? "" : " COLLATE " + quote_identifier(column.collation));
        any += (any.empty() ? "(" : " OR (") + all + ")";
    }
    return any;
}

// The columns of the sets, each once: an UPDATE that sets one of them can
// meet another row. A generated column in a set changes with columns SQLite
// does not name, so then any column the UPDATE sets can.
std::vector<std::string> displacing_columns(const TableShape& shape,
                                            const std::vector<UniqueSet>& sets) {
    std::vector<std::string> columns;
    for (const UniqueSet& set : sets)
        for (const UniqueColumn& column : set) {
            auto found = std::find_if(shape.columns.begin(), shape.columns.end(),
                                      [&](const Column& c) { return c.name == column.name; });
            if (found != shape.columns.end() && found->generated) {
                columns.clear();
                for (const Column& c : shape.columns)
                    if (!c.generated)
                        columns.push_back(c.name);
                return columns;
            }
            if (std::find(columns.begin(), columns.end(), column.name) == columns.end())
                columns.push_back(column.name);
        }
    return columns;
}

std::vector<std::string> trigger_ddl(const TableShape& shape, const std::vector<UniqueSet>& sets) {
    std::string table = quote_identifier(shape.name);
    std::string table_literal = quote_literal(shape.name);
    std::vector<size_t> all = all_columns(shape);
    std::string new_row = json_of(shape, all, "NEW");
    std::string old_row = json_of(shape, all, "OLD");
    std::string new_key = json_of(shape, shape.key, "NEW");
    // INSERT OR REPLACE removes the rows it meets without firing DELETE
    // triggers (unless the writer turned recursive_triggers on), so the
    // rows an INSERT is about to meet are noted in ferry_replaced first. An
    // INSERT that then happens replaced them: the row it met under its own
    // key is logged as updated, the others as deleted. An INSERT that did
    // not happen (OR IGNORE, an upsert, a failure) leaves its notes to the
    // next INSERT into the table, which clears them first.
    std::string noted =
        "EXISTS (SELECT 1 FROM ferry_replaced WHERE table_name = " + table_literal + ")";
    std::string meets = conflict_condition(sets, "r");
    // An UPDATE that changes the key is a DELETE of the old key and an INSERT
    // of the new one, as in PostgreSQL. Compared byte for byte: under the
    // column's NOCASE or RTRIM, `abc` to `ABC` would pass for the same key,
    // and a peer that tells them apart would never hear of `ABC`.
    std::string same_key;
    for (size_t i : shape.key) {
        std::string column = quote_identifier(shape.columns[i].name);
        same_key += (same_key.empty() ? "" : " AND ") + std::string("NEW.") + column + " IS OLD." +
                    column + " COLLATE BINARY";
    }
    std::string noted_old_row =
        "(SELECT old_row FROM ferry_replaced WHERE table_name = " + table_literal +
        " AND key = " + new_key + ")";
    std::string clear_notes =
        "DELETE FROM ferry_replaced WHERE table_name = " + table_literal + ";\n";
    // Rows of the table (as r) that meet `condition`: whether there are any,
    // and noting them, the notes of an earlier statement cleared first.
    auto any_row = [&](const std::string& condition) {
        return "EXISTS (SELECT 1 FROM " + table + " AS r WHERE " + condition + ")";
    };
    auto note_rows = [&](const std::string& condition) {
        return clear_notes +
               "INSERT OR REPLACE INTO ferry_replaced (table_name, key, old_row) SELECT " +
               table_literal + ", " + json_of(shape, shape.key, "r") + ", " +
               json_of(shape, all, "r") + " FROM " + table + " AS r WHERE " + condition + ";\n";
    };
    // Before an INSERT that lets SQLite choose the rowid, NEW holds -1 for
    // it: a row -1 is then noted without being met. Only noted rows that are
    // gone were replaced.
    std::string noted_row_gone = "1";
    if (shape.rowid_key)
        noted_row_gone = "NOT EXISTS (SELECT 1 FROM " + table + " AS r WHERE r." +
                         quote_identifier(shape.columns[shape.key[0]].name) +
                         " = (SELECT value FROM json_each(ferry_replaced.key)))";
    auto log_noted_deletes = [&](const std::string& condition) {
        return "INSERT INTO ferry_changes (table_name, op, key, new_row, old_row, origin, "
               "changed_at) SELECT table_name, 'D', key, NULL, old_row, NULL, julianday('now') "
               "FROM ferry_replaced WHERE table_name = " +
               table_literal + " AND " + condition + " ORDER BY key;\n";
    };
    // The columns whose update can meet another row, and the rows other
    // than the one updated that it meets.
    std::string displacing, updated_row;
    for (const std::string& column : displacing_columns(shape, sets))
        displacing += (displacing.empty() ? "" : ", ") + quote_identifier(column);
    for (size_t i : shape.key) {
        std::string column = quote_identifier(shape.columns[i].name);
        updated_row +=
            (updated_row.empty() ? "" : " AND ") + std::string("r.") + column + " IS OLD." + column;
    }
    std::string met_by_update = "(" + meets + ") AND NOT (" + updated_row + ")";
    // Two UPDATE triggers, told apart by WHEN, so that the common case runs
    // one statement (and two AFTER INSERT ones likewise).
    return {
        "CREATE TRIGGER " + trigger_name("replace", shape.name) + " BEFORE INSERT ON " + table +
            " WHEN " + noted + " OR " + any_row(meets) + " BEGIN\n" + note_rows(meets) + "END",
        "CREATE TRIGGER " + trigger_name("insert", shape.name) + " AFTER INSERT ON " + table +
            " WHEN NOT " + noted + " BEGIN\n" + log_statement(shape, 'I', "NEW", new_row, "NULL") +
            "END",
        "CREATE TRIGGER " + trigger_name("replaced", shape.name) + " AFTER INSERT ON " + table +
            " WHEN " + noted + " BEGIN\n" +
            log_noted_deletes("key <> " + new_key + " AND " + noted_row_gone) +
            "INSERT INTO ferry_changes (table_name, op, key, new_row, old_row, "
            "origin, changed_at) VALUES (" +
            table_literal + ", CASE WHEN " + noted_old_row + " IS NULL THEN 'I' ELSE 'U' END, " +
            new_key + ", " + new_row + ", " + noted_old_row + ", NULL, julianday('now'));\nEND",
        "CREATE TRIGGER " + trigger_name("update", shape.name) + " AFTER UPDATE ON " + table +
            " WHEN " + same_key + " BEGIN\n" + log_statement(shape, 'U', "NEW", new_row, old_row) +
            "END",
        "CREATE TRIGGER " + trigger_name("rekey", shape.name) + " AFTER UPDATE ON " + table +
            " WHEN NOT (" + same_key + ") BEGIN\n" +
            log_statement(shape, 'D', "OLD", "NULL", old_row) +
            log_statement(shape, 'I', "NEW", new_row, "NULL") + "END",
        // A writer with recursive_triggers on has REPLACE fire this one: the
        // row is then logged deleted here, and no longer noted as replaced.
        "CREATE TRIGGER " + trigger_name("delete", shape.name) + " AFTER DELETE ON " + table +
            " BEGIN\n" + log_statement(shape, 'D', "OLD", "NULL", old_row) +
            "DELETE FROM ferry_replaced WHERE table_name = " + table_literal +
            " AND key = " + json_of(shape, shape.key, "OLD") + ";\nEND",
        // UPDATE OR REPLACE (or a column's ON CONFLICT REPLACE) removes the
        // other rows that hold the new key or UNIQUE values, again without a
        // DELETE trigger. Only updates that set such a column fire these
        // two: the rows the update meets are noted first, and logged as
        // deleted once it happened. SQLite fires a table's triggers newest
        // first, so this one, made last, logs those deletes before the
        // update or rekey that took their place (a peer must free the
        // value before it can take it; tests/sqlite/sql/capture.sql checks
        // the order).
        "CREATE TRIGGER " + trigger_name("displace", shape.name) + " BEFORE UPDATE OF " +
            displacing + " ON " + table + " WHEN " + noted + " OR " + any_row(met_by_update) +
            " BEGIN\n" + note_rows(met_by_update) + "END",
        "CREATE TRIGGER " + trigger_name("displaced", shape.name) + " AFTER UPDATE OF " +
            displacing + " ON " + table + " WHEN " + noted + " BEGIN\n" + log_noted_deletes("1") +
            clear_notes + "END",
    };
}

void drop_triggers(sqlite3* db, const std::string& table) {
    for (const char* operation : kTriggerOperations)
        exec(db, "DROP TRIGGER IF EXISTS " + trigger_name(operation, table));
}

void create_triggers(sqlite3* db, const TableShape& shape) {
    drop_triggers(db, shape.name);
    for (const std::string& ddl : trigger_ddl(shape, unique_sets(db, shape)))
        exec(db, ddl);
}

std::string json_names(const TableShape& shape, const std::vector<size_t>& columns) {
    nlohmann::json names = nlohmann::json::array();
    for (size_t i : columns)
        names.push_back(shape.columns[i].name);
    return names.dump();
}

void check_options(const std::optional<std::string>& options) {
    if (!options)
        return;
    nlohmann::json parsed = nlohmann::json::parse(*options, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object())
        throw ferry::Error(ErrorKind::invalid_input, "options must be a JSON object");
    for (const auto& item : parsed.items())
        throw ferry::Error(
            ErrorKind::invalid_input, "unknown tracking option \"" + item.key() + "\"", "",
            "ferry defines no tracking options yet; pass '{}' or omit the argument.");
}

std::optional<std::string> tracked_columns(sqlite3* db, const std::string& table) {
    Statement find(db, "SELECT columns FROM ferry_tracked_tables WHERE table_name = ?1");
    find.bind(1, table);
    return find.step() ? find.optional_text(0) : std::nullopt;
}

// ferry_track(table [, options]) → 'tracking', 'already tracked' or 'triggers refreshed'.
void track(const Call& call, const Args& args, Result& result) {
    std::string name = args.text(0, "table");
    check_options(args.optional_text(1));
    install_schema(call.db);
    TableShape shape = describe_keyed_table(call.db, name);
    std::string columns = json_names(shape, all_columns(shape));
    std::optional<std::string> before = tracked_columns(call.db, shape.name);
    Statement state(call.db, "SELECT capture_state FROM ferry_tracked WHERE table_name = ?1");
    state.bind(1, shape.name);
    if (before == columns && state.step() && state.optional_text(0) == "capturing") {
        result.text("already tracked");
        return;
    }
    Savepoint savepoint(call.db);
    create_triggers(call.db, shape);
    Statement record(
        call.db,
        "INSERT INTO ferry_tracked_tables (table_name, key_columns, columns, options, "
        "tracked_at) VALUES (?1, ?2, ?3, coalesce(?4, '{}'), " +
            std::string(kNowSql) +
            ") ON CONFLICT (table_name) DO UPDATE SET key_columns = excluded.key_columns, "
            "columns = excluded.columns, options = excluded.options");
    record.bind(1, shape.name)
        .bind(2, json_names(shape, shape.key))
        .bind(3, columns)
        .bind(4, args.optional_text(1))
        .run();
    savepoint.release();
    result.text(before ? "triggers refreshed" : "tracking");
}

// ferry_untrack(table): drops the triggers; logged changes stay.
void untrack(const Call& call, const Args& args, Result& result) {
    std::string name = args.text(0, "table");
    require_schema(call.db);
    Statement find(
        call.db,
        "SELECT table_name FROM ferry_tracked_tables WHERE table_name = ?1 COLLATE NOCASE");
    find.bind(1, name);
    if (!find.step())
        throw ferry::Error(ErrorKind::not_found,
                           "table " + quote_identifier(name) + " is not tracked", "",
                           "SELECT * FROM ferry_tracked lists tracked tables.");
    std::string table = find.text(0);
    Savepoint savepoint(call.db);
    drop_triggers(call.db, table);
    Statement forget(call.db, "DELETE FROM ferry_tracked_tables WHERE table_name = ?1");
    forget.bind(1, table).run();
    savepoint.release();
    result.null();
}

// The commit hook of a connection with an open origin: its changes are not
// tagged yet, and committing them untagged would send them back to the peer
// they came from. Returning non-zero turns the COMMIT into a ROLLBACK.
int refuse_commit_with_open_origin(void* state) {
    auto* connection = static_cast<ConnectionState*>(state);
    if (connection->origin_active)
        return 1;
    connection->origin_closed = false;  // the transaction ends
    return 0;
}

void forget_origin(void* state) {
    auto* connection = static_cast<ConnectionState*>(state);
    connection->origin_active = false;
    connection->origin_closed = false;
}

int64_t newest_position(sqlite3* db) {
    Statement newest(db, "SELECT coalesce(max(position), 0) FROM ferry_changes");
    newest.step();
    return newest.integer(0);
}

// Tags every change logged since the origin was opened. SQLite runs one
// write transaction at a time, so the changes after that position are this
// transaction's own: what ferry applied for the peer.
void close_origin(sqlite3* db, ConnectionState& state) {
    Statement tag(db,
                  "UPDATE ferry_changes SET origin = ?1 WHERE position > ?2 AND origin IS NULL");
    tag.bind(1, state.origin).bind(2, state.origin_after).run();
    state.origin_active = false;
    state.origin_closed = true;
}

// ferry_set_origin(peer) opens an origin: the changes this transaction
// makes from here on are the peer's. ferry_set_origin(NULL) closes it, and
// must come before COMMIT. The triggers need nothing from ferry for this:
// the changes are tagged when the origin closes. Closing again tags again,
// for a close undone by ROLLBACK TO (which no hook reports).
void set_origin(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::optional<std::string> peer = args.optional_text(0);
    if (sqlite3_get_autocommit(call.db))
        throw ferry::Error(ErrorKind::invalid_input,
                           "ferry_set_origin() must run inside a transaction", "",
                           "BEGIN IMMEDIATE; SELECT ferry_set_origin('peer'); apply the changes; "
                           "SELECT ferry_set_origin(NULL); COMMIT;");
    if (peer && peer->empty())
        throw ferry::Error(ErrorKind::invalid_input, "origin peer must be named", "",
                           "Pass the peer's name, or NULL to close the origin.");
    if (call.state.origin_active || (!peer && call.state.origin_closed))
        close_origin(call.db, call.state);
    if (peer) {
        call.state.origin = *peer;
        call.state.origin_after = newest_position(call.db);
        call.state.origin_active = true;
        sqlite3_commit_hook(call.db, refuse_commit_with_open_origin, &call.state);
        sqlite3_rollback_hook(call.db, forget_origin, &call.state);
    }
    result.null();
}

}  // namespace

void add_tracking_functions(std::vector<FunctionSpec>& specs) {
    specs.push_back({"ferry_track", 1, 2, track, SQLITE_DIRECTONLY});
    specs.push_back({"ferry_untrack", 1, 1, untrack, SQLITE_DIRECTONLY});
    specs.push_back({"ferry_set_origin", 1, 1, set_origin, SQLITE_DIRECTONLY});
}

// Made again, the triggers of a table whose capture was already broken
// would hide that changes were lost or logged stale: one that lacks a
// trigger every version made (the table was made again, which drops them)
// or has an application's trigger made after ferry's keeps its triggers,
// and ferry_tracked goes on reporting it until ferry_track() runs again.
void refresh_sound_triggers(sqlite3* db) {
    Statement tracked(
        db,
        "SELECT t.table_name FROM ferry_tracked_tables t WHERE EXISTS (SELECT 1 FROM "
        "sqlite_schema s WHERE s.type = 'table' AND s.name = t.table_name) AND (SELECT count(*) "
        "FROM sqlite_schema s WHERE s.type = 'trigger' AND s.tbl_name = t.table_name AND s.name "
        "IN ('ferry_insert_' || t.table_name, 'ferry_update_' || t.table_name, 'ferry_delete_' "
        "|| t.table_name)) = 3 AND NOT EXISTS (SELECT 1 FROM sqlite_schema a WHERE a.type = "
        "'trigger' AND a.tbl_name = t.table_name AND substr(a.name, 1, 6) <> 'ferry_' AND "
        "a.rowid > (SELECT min(s.rowid) FROM sqlite_schema s WHERE s.type = 'trigger' AND "
        "s.tbl_name = t.table_name AND substr(s.name, 1, 6) = 'ferry_'))");
    std::vector<std::string> tables;
    while (tracked.step())
        tables.push_back(tracked.text(0));
    for (const std::string& table : tables)
        create_triggers(db, describe_keyed_table(db, table));
}

std::string row_json_sql(const TableShape& shape, const std::string& alias) {
    return json_of(shape, all_columns(shape), alias.c_str());
}

}  // namespace ferry::sqlite
