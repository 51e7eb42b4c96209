// PostgreSQL and SQLite sources and targets of a full sync (see sync_peers.hpp).
#include "sync_peers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "ferry/conninfo.hpp"
#include "ferry/copy_text.hpp"
#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "ferry/text.hpp"
#include "output.hpp"
#include "pg_connection.hpp"
#include "peer_identity.hpp"
#include "pg_dump_process.hpp"
#include "sqlite_connection.hpp"
#include "sql_text.hpp"
#include "sqlite_copy_text.hpp"
#include "sqlite_peer.hpp"
#include "canonical_value.hpp"
#include "table_shape.hpp"

namespace ferry::cli {
namespace {

const char* const kTableHashQuery =
    "SELECT rows, digest FROM ferry.table_hash($1::oid::regclass, $2)";

canonical::TableDigest digest_of(const std::string& rows, const std::string& hex) {
    return canonical::TableDigest::from_hex(std::stoull(rows), hex);
}

// --method diff sends keys to PostgreSQL as one jsonb array per statement,
// this many at a time: a statement's work stays bounded and its plan an
// index lookup per key.
constexpr size_t kKeysPerStatement = 10000;

// A table dumps in a group of others when it takes no more than this on
// disk (pg_table_size), which pg_dump writes in about the time it takes to
// start. A group stops at a total size and at a number of tables (each a
// --table argument), and holds the blocks that come before their turn up
// to a limit; past it, its remaining tables are dumped one by one.
constexpr uint64_t kSmallTableBytes = 4 << 20;
constexpr uint64_t kGroupBytes = 16 << 20;
constexpr size_t kGroupTables = 500;
constexpr size_t kHoldLimit = 32 << 20;

// Orders tables so that every table comes after the tables it references;
// `references` gives, for each table's position, the positions it
// references. Tables in a cycle keep their given order.
std::vector<SyncTable> topological(std::vector<SyncTable> tables,
                                   const std::vector<std::set<size_t>>& references) {
    std::vector<SyncTable> ordered;
    std::vector<bool> placed(tables.size(), false);
    while (ordered.size() < tables.size()) {
        bool progress = false;
        for (size_t i = 0; i < tables.size(); i++) {
            if (placed[i])
                continue;
            bool ready = std::all_of(references[i].begin(), references[i].end(),
                                     [&](size_t parent) { return placed[parent] || parent == i; });
            if (ready) {
                placed[i] = true;
                ordered.push_back(tables[i]);
                progress = true;
            }
        }
        if (!progress)  // a cycle: the rest in the given order
            for (size_t i = 0; i < tables.size(); i++)
                if (!placed[i]) {
                    placed[i] = true;
                    ordered.push_back(tables[i]);
                }
    }
    return ordered;
}

// ---- PostgreSQL source -------------------------------------------------------

class PostgresSource : public SyncSource {
  public:
    explicit PostgresSource(const std::string& conninfo)
        : conninfo_(conninfo), db_(connect_postgres_peer(conninfo)) {}

    const std::string& name() const override { return db_.peer(); }
    void require_ferry() override { cli::require_ferry(db_, "0.2"); }
    std::vector<std::string> tracked_tables() override { return cli::tracked_tables(db_); }
    PeerTable describe(const std::string& table) override { return describe_table(db_, table); }
    std::string identify(const std::string& table) override {
        return resolve_table(db_, table).oid;
    }

    std::string begin_snapshot() override {
        forget_plan();  // of an earlier snapshot, and using the reader replaced here
        int major = std::stoi(db_.query("SHOW server_version_num").text(0, 0)) / 10000;
        dump_.emplace(find_pg_dump(major), conninfo_, db_.options_in_effect(), db_.peer());
        std::string peer = postgres_peer_id(db_);
        db_.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        PgResult snapshot = db_.query("SELECT pg_export_snapshot(), ferry.current_cursor()::text");
        snapshot_ = snapshot.text(0, 0);
        return nlohmann::json{{"peer", peer},
                              {"snapshot", snapshot_},
                              {"cursor", nlohmann::json::parse(snapshot.text(0, 1))}}
            .dump();
    }
    void end_snapshot() override {
        forget_plan();  // stops a pg_dump left waiting on its pipe
        db_.execute("COMMIT");
    }

    // The pg_dumps of the tables to read, in order: runs of small
    // unpartitioned tables share one, as a pg_dump's start costs as much as
    // dumping a few megabytes. The first starts at once, so that its start
    // overlaps the target's preparation (docs/full-sync.md, "The five
    // phases").
    void plan_reads(const std::vector<SyncTable>& tables) override {
        std::vector<std::string> oids;
        for (const auto& table : tables)
            if (!table.filter &&
                std::find(oids.begin(), oids.end(), table.source.oid) == oids.end())
                oids.push_back(table.source.oid);
        if (oids == planned_)
            return;
        forget_plan();
        planned_ = oids;
        std::string oid_array = fmt::format("{{{}}}", fmt::join(oids, ","));
        PgResult found = db_.query(
            "SELECT c.oid::text, n.nspname, c.relname, pg_table_size(c.oid), c.relkind = 'r' AND "
            "NOT c.relispartition, c.relkind = 'p' FROM unnest($1::oid[]) WITH ORDINALITY AS "
            "o(oid, position) JOIN pg_class c ON c.oid = o.oid JOIN pg_namespace n ON n.oid = "
            "c.relnamespace ORDER BY o.position",
            {oid_array});
        for (int r = 0; r < found.rows(); r++)
            where_[found.text(r, 0)] = {found.text(r, 1), found.text(r, 2),
                                        found.text(r, 5) == "t"};
        read_column_types(oid_array);
        // A group is of consecutive tables: its pg_dump holds its tables'
        // ACCESS SHARE locks until the last is read, which a large table in
        // between would prolong.
        std::vector<DumpRequest> group;
        uint64_t group_bytes = 0;
        auto close_group = [&] {
            if (!group.empty())
                dumps_.push_back(
                    std::make_unique<PgDump>(*dump_, snapshot_, std::move(group), kHoldLimit));
            group.clear();
            group_bytes = 0;
        };
        for (int r = 0; r < found.rows(); r++) {
            std::string schema = found.text(r, 1), name = found.text(r, 2);
            uint64_t bytes = std::stoull(found.text(r, 3));
            if (found.text(r, 4) != "t" || bytes > kSmallTableBytes) {
                close_group();
                dumps_.push_back(std::make_unique<PgDump>(
                    *dump_, snapshot_,
                    std::vector<DumpRequest>{dump_request(found.text(r, 0), schema, name)}));
                continue;
            }
            if (group_bytes + bytes > kGroupBytes || group.size() == kGroupTables)
                close_group();
            group.push_back({schema, name, {quoted_name(schema, name)}});
            group_bytes += bytes;
        }
        close_group();
        if (!dumps_.empty())
            dumps_.front()->start();
    }

    void read(const SyncTable& table, RowSink& sink) override {
        auto on_columns = [&](const std::vector<std::string>& names) {
            announce_columns(table, names, sink);
        };
        auto on_lines = [&](std::string_view lines, uint64_t rows) {
            sink.copy_lines(lines, rows);
        };
        if (table.filter) {
            // pg_dump cannot filter rows: COPY the query out, in the same snapshot.
            std::vector<std::string> names = table_columns(table.source.oid);
            on_columns(names);
            db_.copy_out(fmt::format("COPY (SELECT {} FROM {} WHERE ({})) TO STDOUT",
                                     join_quoted(names), table.source.name, *table.filter),
                         {}, on_lines);
            return;
        }
        auto [schema, name, partitioned] = where_is(table.source.oid);
        // False when the dump's group gave up on the table.
        auto read_from = [&](PgDump& dump) {
            PgDump::Outcome outcome = dump.read(
                schema, name, [&](const DumpedTable& dumped) { on_columns(dumped.columns); },
                on_lines);
            if (outcome == PgDump::Outcome::no_data) {
                // Only a partitioned table without partitions has no block.
                if (!partitioned)
                    throw Error(ErrorKind::internal,
                                fmt::format("pg_dump wrote no data for {}", table.source.name), "",
                                "Check that pg_dump can dump the table on its own.");
                on_columns(table_columns(table.source.oid));
            }
            return outcome != PgDump::Outcome::abandoned;
        };
        for (const auto& dump : dumps_) {
            if (!dump->has_unread(schema, name))
                continue;
            if (read_from(*dump))
                return;
            break;
        }
        // Not planned (or read again), or its group gave up on it: a pg_dump
        // of its own.
        PgDump alone(*dump_, snapshot_, {dump_request(table.source.oid, schema, name)});
        read_from(alone);
    }

    void read_keys(const SyncTable& table, const std::vector<std::string>& keys,
                   RowSink& sink) override {
        std::vector<std::string> names = table_columns(table.source.oid);
        announce_columns(table, names, sink);
        // The keys become records of the table's columns, so that each
        // value is read by its column's input function, as it was printed.
        std::string key_list = join_quoted(table.source.key_columns);
        std::string sql = fmt::format(
            "SELECT {} FROM {} WHERE ({}) IN (SELECT {} FROM jsonb_to_recordset($1::jsonb) AS "
            "k{})",
            join_quoted(names), table.source.name, key_list, key_list,
            record_definition(db_, table.source.oid));
        std::string lines;
        for (const std::string& array : json_arrays(keys, kKeysPerStatement)) {
            PgResult rows = db_.query(sql, {array});
            for (int r = 0; r < rows.rows(); r++) {
                for (int c = 0; c < rows.columns(); c++) {
                    if (c)
                        lines += '\t';
                    if (rows.is_null(r, c))
                        copy_text::append_null(lines);
                    else
                        copy_text::append_value(lines, rows.text(r, c));
                }
                lines += '\n';
            }
            sink.copy_lines(lines, static_cast<uint64_t>(rows.rows()));
            lines.clear();
        }
    }

    DiffPeer& hashes() override {
        if (!hashes_)
            hashes_ = borrow_diff_peer(db_);
        return *hashes_;
    }

    canonical::TableDigest table_hash(const SyncTable& table) override {
        PgResult hash = db_.query(kTableHashQuery, {table.source.oid, table.filter});
        return digest_of(hash.text(0, 0), hash.text(0, 1));
    }

    std::string own_digest(const SyncTable& table) override {
        PgResult digest = db_.query(fmt::format(
            "SELECT count(*) || ':' || coalesce(sum(ferry.row_hash(t.*)::numeric), 0) "
            "FROM {} t{}",
            table.source.name, table.filter ? " WHERE (" + *table.filter + ")" : std::string()));
        return digest.text(0, 0);
    }

  private:
    // Quoted pg_dump patterns match exactly the name: no case folding, no
    // wildcards.
    static std::string quoted_name(const std::string& schema, const std::string& name) {
        return quote_identifier(schema) + "." + quote_identifier(name);
    }

    // A table to dump: a partitioned table with its partitions.
    DumpRequest dump_request(const std::string& oid, const std::string& schema,
                             const std::string& name) {
        DumpRequest request{schema, name, {quoted_name(schema, name)}};
        PgResult leaves = db_.query(
            "SELECT n.nspname, c.relname FROM "
            "pg_partition_tree($1::oid::regclass) p JOIN pg_class c ON c.oid = p.relid JOIN "
            "pg_namespace n ON n.oid = c.relnamespace WHERE p.isleaf AND p.level > 0",
            {oid});
        for (int r = 0; r < leaves.rows(); r++)
            request.patterns.push_back(quoted_name(leaves.text(r, 0), leaves.text(r, 1)));
        return request;
    }

    void announce_columns(const SyncTable& table, const std::vector<std::string>& names,
                          RowSink& sink) {
        std::map<std::string, std::string> types = column_types(table.source.oid);
        std::vector<std::string> pg_types;
        for (const auto& name : names)
            pg_types.push_back(types[name]);
        sink.columns(names, pg_types);
    }

    std::vector<std::string> table_columns(const std::string& oid) {
        return db_
            .query(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND "
                "NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                {oid})
            .texts(0);
    }

    // Where a table is: its schema and name, and whether it is partitioned.
    struct TableWhere {
        std::string schema;
        std::string name;
        bool partitioned = false;
    };
    TableWhere where_is(const std::string& oid) {
        if (auto known = where_.find(oid); known != where_.end())
            return known->second;
        PgResult where = db_.query(
            "SELECT n.nspname, c.relname, c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE c.oid = $1::oid",
            {oid});
        return {where.text(0, 0), where.text(0, 1), where.text(0, 2) == "t"};
    }

    // Column name -> the name of its type, domains resolved to their base type.
    std::map<std::string, std::string> column_types(const std::string& oid) {
        if (column_types_.count(oid) == 0)
            read_column_types(fmt::format("{{{}}}", oid));
        return column_types_[oid];
    }
    // column_types() of the tables of an oid[] literal, in one query.
    void read_column_types(const std::string& oid_array) {
        PgResult columns = db_.query(
            "SELECT a.attrelid::text, a.attname, b.typname FROM pg_attribute a JOIN pg_type t ON "
            "t.oid = a.atttypid JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN "
            "t.typbasetype ELSE t.oid END WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND "
            "NOT a.attisdropped",
            {oid_array});
        for (int r = 0; r < columns.rows(); r++)
            column_types_[columns.text(r, 0)][columns.text(r, 1)] = columns.text(r, 2);
    }
    // What plan_reads() learned, for an earlier snapshot or other tables.
    void forget_plan() {
        dumps_.clear();
        planned_.clear();
        where_.clear();
        column_types_.clear();
    }

    std::string conninfo_;
    PgConnection db_;
    std::optional<PgDumpReader> dump_;
    std::vector<std::string> planned_;            // the oids plan_reads was given
    std::vector<std::unique_ptr<PgDump>> dumps_;  // for them, in order
    std::map<std::string, TableWhere> where_;     // by oid, for them
    std::map<std::string, std::map<std::string, std::string>> column_types_;  // by oid
    std::string snapshot_;
    std::unique_ptr<DiffPeer> hashes_;
};

// ---- SQLite source ---------------------------------------------------------

std::vector<std::string> writable_columns(SqliteConnection& db, const std::string& table) {
    // table_xinfo's hidden column: 2 and 3 are generated columns.
    return db.texts("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0", {table});
}

// Finds the rows of a SQLite table by the keys ferry_bucket_rows printed for
// them (--method diff). Keys of plain, numeric and blob columns are printed
// as stored, so each key is looked up through the primary key index, its
// values bound with the types JSON gives them; a blob prints as "\\x" and hex
// digits, which text could also spell, so such columns match either. Other
// kinds (dates, booleans, uuid, ...) print in canonical form, which cannot be
// bound: the table is scanned once and each row's key printed the same way.
class SqliteKeyLookup {
  public:
    SqliteKeyLookup(SqliteConnection& db, const std::string& table)
        : db_(db), shape_(sqlite::describe_table(db.handle(), table)) {
        for (size_t n : shape_.name_order)
            if (shape_.columns[n].key_position > 0)
                key_.push_back(&shape_.columns[n]);
        for (const sqlite::Column* column : key_)
            if (column->kind != sqlite::ValueKind::plain &&
                column->kind != sqlite::ValueKind::numeric &&
                column->kind != sqlite::ValueKind::bytes)
                scan_ = true;
    }

    // Calls visit(row) for each row whose key is one of `keys`. The row
    // holds the values of `columns`, then the key columns.
    template <typename Visit>
    void for_each_row(const std::vector<std::string>& columns, const std::vector<std::string>& keys,
                      Visit visit) {
        std::string table = "main." + quote_identifier(shape_.name);
        std::string sql = fmt::format("SELECT {}{}{} FROM {}", join_quoted(columns),
                                      columns.empty() ? "" : ", ", key_list(), table);
        int first_key = static_cast<int>(columns.size());
        if (scan_) {
            std::set<std::string> wanted;
            for (const auto& key : keys)
                wanted.insert(canonical::normalize_json(key));
            StatementPtr rows = prepare(db_, sql);
            int rc;
            while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW)
                if (wanted.count(printed_key(rows.get(), first_key)))
                    visit(rows.get());
            check_done(rc);
            return;
        }
        StatementPtr row = prepare(db_, sql + " WHERE " + match());
        for (const auto& key : keys) {
            bind(row.get(), key);
            int rc;
            while ((rc = sqlite3_step(row.get())) == SQLITE_ROW)
                visit(row.get());
            check_done(rc);
            sqlite3_reset(row.get());
        }
    }

    // Deletes the rows with these keys; returns how many.
    uint64_t delete_rows(const std::vector<std::string>& keys) {
        // The stored key values first: a table is not changed while it is read.
        struct FreeValue {
            void operator()(sqlite3_value* value) const { sqlite3_value_free(value); }
        };
        std::vector<std::vector<std::unique_ptr<sqlite3_value, FreeValue>>> found;
        for_each_row({}, keys, [&](sqlite3_stmt* row) {
            auto& values = found.emplace_back();
            for (size_t k = 0; k < key_.size(); k++)
                values.emplace_back(
                    sqlite3_value_dup(sqlite3_column_value(row, static_cast<int>(k))));
        });
        std::string where;
        for (size_t k = 0; k < key_.size(); k++)
            where += fmt::format("{}{} IS ?{}", k ? " AND " : "", quote_identifier(key_[k]->name),
                                 k + 1);
        StatementPtr remove = prepare(
            db_, fmt::format("DELETE FROM main.{} WHERE {}", quote_identifier(shape_.name), where));
        uint64_t deleted = 0;
        for (const auto& values : found) {
            for (size_t k = 0; k < values.size(); k++)
                sqlite3_bind_value(remove.get(), static_cast<int>(k) + 1, values[k].get());
            step_done(db_, remove.get());
            deleted += static_cast<uint64_t>(sqlite3_changes(db_.handle()));
        }
        return deleted;
    }

  private:
    std::string key_list() const {
        std::string out;
        for (const sqlite::Column* column : key_)
            out += (out.empty() ? "" : ", ") + quote_identifier(column->name);
        return out;
    }

    // "k1 IS ?1 AND (k2 IS ?2 OR k2 = ?3)"
    std::string match() const {
        std::string out;
        int parameter = 1;
        for (const sqlite::Column* column : key_) {
            std::string name = quote_identifier(column->name);
            out += out.empty() ? "" : " AND ";
            if (may_be_blob(*column)) {
                out += fmt::format("({} IS ?{} OR {} = ?{})", name, parameter, name, parameter + 1);
                parameter += 2;
            } else {
                out += fmt::format("{} IS ?{}", name, parameter++);
            }
        }
        return out;
    }

    static bool may_be_blob(const sqlite::Column& column) {
        return column.kind == sqlite::ValueKind::bytes || column.kind == sqlite::ValueKind::plain;
    }

    // Binds a key printed as {"k1": ..., "k2": ...} for match().
    void bind(sqlite3_stmt* statement, const std::string& key) {
        nlohmann::json values = nlohmann::json::parse(key);
        int parameter = 1;
        for (const sqlite::Column* column : key_) {
            auto found = values.find(column->name);
            if (found == values.end())
                throw Error(ErrorKind::internal,
                            fmt::format("key {} has no column \"{}\"", key, column->name));
            const nlohmann::json& value = *found;
            if (value.is_null())
                sqlite3_bind_null(statement, parameter);
            else if (value.is_number_integer())
                sqlite3_bind_int64(statement, parameter, value.get<int64_t>());
            else if (value.is_number())
                sqlite3_bind_double(statement, parameter, value.get<double>());
            else if (value.is_boolean())
                sqlite3_bind_int(statement, parameter, value.get<bool>() ? 1 : 0);
            else
                sqlite3_bind_text(statement, parameter, value.get<std::string>().c_str(), -1,
                                  SQLITE_TRANSIENT);
            parameter++;
            if (may_be_blob(*column)) {
                std::optional<std::string> bytes =
                    value.is_string() ? text::bytes_from_hex(value.get<std::string>())
                                      : std::nullopt;
                if (bytes)
                    sqlite3_bind_blob(statement, parameter, bytes->data(),
                                      static_cast<int>(bytes->size()), SQLITE_TRANSIENT);
                else
                    sqlite3_bind_null(statement, parameter);
                parameter++;
            }
        }
    }

    // The row's key as ferry_bucket_rows prints it, normalized.
    std::string printed_key(sqlite3_stmt* row, int first_key) const {
        nlohmann::json key = nlohmann::json::object();
        for (size_t k = 0; k < key_.size(); k++) {
            sqlite3_value* value = sqlite3_column_value(row, first_key + static_cast<int>(k));
            key[key_[k]->name] = nlohmann::json::parse(
                sqlite3_value_type(value) == SQLITE_INTEGER
                    ? std::to_string(sqlite3_value_int64(value))
                    : sqlite::canonical_json(sqlite::canonical_value(*key_[k], value)));
        }
        return canonical::normalize_json(key.dump());
    }

    void check_done(int rc) const {
        if (rc != SQLITE_DONE)
            throw Error(ErrorKind::io, sqlite3_errmsg(db_.handle()),
                        fmt::format("Reading {} in {}.", shape_.name, db_.peer()));
    }

    SqliteConnection& db_;
    sqlite::TableShape shape_;
    std::vector<const sqlite::Column*> key_;  // in name order, as keys are printed
    bool scan_ = false;
};

class SqliteSource : public SyncSource {
  public:
    explicit SqliteSource(const std::string& path) : db_(path, false) {}

    const std::string& name() const override { return db_.peer(); }
    void require_ferry() override { require_sqlite_ferry(db_); }
    std::vector<std::string> tracked_tables() override { return sqlite_tracked_tables(db_); }
    PeerTable describe(const std::string& table) override {
        return describe_sqlite_table(db_, table);
    }
    std::string identify(const std::string& table) override {
        return sqlite::describe_table(db_.handle(), sqlite_table_name(db_, table)).name;
    }

    // A read transaction holds one snapshot of a WAL database.
    std::string begin_snapshot() override {
        std::string peer = sqlite_peer_id(db_);
        db_.execute("BEGIN");
        auto position = db_.query("SELECT coalesce(max(position), 0) FROM ferry_changes");
        return nlohmann::json{{"peer", peer},
                              {"snapshot", nullptr},
                              {"cursor", {{"position", std::stoll(*position.at(0).at(0))}}}}
            .dump();
    }
    void end_snapshot() override { db_.execute("COMMIT"); }

    std::vector<std::pair<std::string, std::string>> broken_capture(
        const std::vector<SyncTable>& tables) override {
        std::vector<std::pair<std::string, std::string>> broken;
        for (const SyncTable& table : tables) {
            auto state = db_.query("SELECT capture_state FROM ferry_tracked WHERE table_name = ?1",
                                   {sqlite_table_name(db_, table.source.name)});
            if (!state.empty() && state.at(0).at(0) && *state.at(0).at(0) != "capturing")
                broken.emplace_back(table.source.name, *state.at(0).at(0));
        }
        return broken;
    }

    void read(const SyncTable& table, RowSink& sink) override {
        std::vector<std::string> names = writable_columns(db_, table.source.name);
        sink.columns(names, {});
        std::string sql = fmt::format("SELECT {} FROM main.{}", join_quoted(names),
                                      quote_identifier(table.source.name));
        if (table.filter)
            sql += " WHERE (" + *table.filter + ")";
        StatementPtr rows = prepare(db_, sql);
        int rc;
        while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW)
            sink.sqlite_row(rows.get());
        if (rc != SQLITE_DONE)
            throw Error(ErrorKind::io, sqlite3_errmsg(db_.handle()),
                        fmt::format("Reading {} in {}.", table.source.name, db_.peer()));
    }

    void read_keys(const SyncTable& table, const std::vector<std::string>& keys,
                   RowSink& sink) override {
        std::vector<std::string> names = writable_columns(db_, table.source.name);
        sink.columns(names, {});
        SqliteKeyLookup(db_, table.source.name).for_each_row(names, keys, [&](sqlite3_stmt* row) {
            sink.sqlite_row(row);
        });
    }

    DiffPeer& hashes() override {
        if (!hashes_)
            hashes_ = borrow_diff_peer(db_);
        return *hashes_;
    }

    canonical::TableDigest table_hash(const SyncTable& table) override {
        auto hash = db_.query("SELECT rows, digest FROM ferry_table_hash(?1, ?2)",
                              {table.source.name, table.filter});
        return digest_of(*hash.at(0).at(0), *hash.at(0).at(1));
    }

    std::string own_digest(const SyncTable& table) override {
        canonical::TableDigest digest = table_hash(table);
        return fmt::format("{}:{}", digest.rows(), digest.hex());
    }

  private:
    SqliteConnection db_;
    std::unique_ptr<DiffPeer> hashes_;
};

// ---- PostgreSQL target -----------------------------------------------------

// Where a writer notes the keys of rows that --delete-missing deletes at
// the end of the run (WriteOptions::delete_later): a temporary table of the
// target's data connection.
std::string noted_keys_table(const PeerTable& table) {
    return "pg_temp.ferry_noted_" + table.oid;
}

// Into an empty table, a load this large builds the table's indexes once
// its rows are in (ferry.defer_indexes()): sorting them costs about a
// quarter less than inserting each row into each index, and a few
// milliseconds a table more, for a file per index and its sync, which
// small tables would pay for nothing (docs/full-sync.md).
constexpr uint64_t kDeferIndexRows = 100000;

class PostgresWriter : public TableWriter {
  public:
    // can_defer_indexes: the target has ferry.defer_indexes() (0.15) and
    // this role may execute it.
    PostgresWriter(PgConnection& db, const SyncTable& table, const WriteOptions& options,
                   bool can_defer_indexes)
        : db_(db), table_(table), options_(options), can_defer_indexes_(can_defer_indexes) {}

    ~PostgresWriter() override {
        if (open_) {
            try {
                db_.execute("ROLLBACK");
            } catch (...) {
            }
        }
    }

    void columns(const std::vector<std::string>& names,
                 const std::vector<std::string>& pg_types) override {
        names_ = names;
        db_.execute("BEGIN");
        open_ = true;
        db_.execute("SELECT ferry.set_origin($1)", {options_.origin});
        // A SQLite source's timestamps without a zone are UTC to ferry
        // (docs/sqlite.md); PostgreSQL reads them in the session's zone.
        // (Those of a PostgreSQL source always carry their offset.)
        if (pg_types.empty())
            db_.execute("SET LOCAL TimeZone = 'UTC'");
        // Writers wait until this table is written; readers go on. A dry
        // run writes nothing, and holds no one up.
        if (!options_.dry_run)
            db_.execute("LOCK TABLE " + table_.target.name + " IN SHARE ROW EXCLUSIVE MODE");
        direct_ =
            !options_.dry_run &&
            db_.query("SELECT EXISTS (SELECT FROM " + table_.target.name + ")").text(0, 0) == "f";
        // --method diff sends a few rows: counting the whole table before
        // and after would cost more than writing them.
        if (!direct_ && !options_.partial && !options_.dry_run)
            before_ = count("");
        std::string columns = join_quoted(names);
        if (direct_) {
            deferred_indexes_ =
                can_defer_indexes_ && options_.expected_rows >= kDeferIndexRows &&
                db_.query("SELECT ferry.defer_indexes($1::oid::regclass)", {table_.target.oid})
                        .text(0, 0) == "t";
            db_.copy_in_start(fmt::format("COPY {} ({}) FROM STDIN", table_.target.name, columns));
        } else {
            db_.execute(fmt::format(
                "CREATE TEMP TABLE ferry_staging ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
                columns, table_.target.name));
            db_.copy_in_start("COPY ferry_staging FROM STDIN");
        }
    }

    void copy_lines(std::string_view lines, uint64_t rows) override {
        db_.copy_in_put(lines);
        rows_ += rows;
        bytes_ += lines.size();
        options_.tick(options_.done_before + rows_, bytes_);
    }

    void sqlite_row(sqlite3_stmt* row) override {
        sqlite_lines_.add(row, static_cast<int>(names_.size()));
    }

    TableCounts finish() override {
        sqlite_lines_.flush();
        TableCounts counts;
        counts.source_rows = db_.copy_in_end();
        // COPY ends its data at a line `\.`, which a dump's own lines never
        // are (a value's backslash is doubled): rows after one would be
        // dropped unseen, and --delete-missing would then delete them.
        if (counts.source_rows != rows_)
            throw Error(ErrorKind::invalid_input,
                        fmt::format("{} took {} rows of {} where the source sent {}", db_.peer(),
                                    counts.source_rows, table_.target.name, rows_),
                        "A line of the source's rows is COPY's end-of-data marker (\\.).",
                        "The source's data is damaged; nothing of this table was written.");
        if (deferred_indexes_)
            build_deferred_indexes();
        const auto& partial = options_.partial;
        bool later = options_.delete_missing && options_.delete_later;
        if (later)
            start_notes();
        if (options_.dry_run) {
            count_without_writing(counts);
        } else if (direct_) {
            counts.inserted = counts.source_rows;
        } else if (partial) {
            // The few differing rows are merged by index lookups: left
            // to itself the planner hashes them and scans the whole
            // table, which costs more than the writes.
            db_.execute("ANALYZE ferry_staging");
            db_.execute("SET LOCAL enable_hashjoin = off");
            db_.execute("SET LOCAL enable_mergejoin = off");
            // Deleted first: a key that hashes differently on the two
            // peers but is one row here (citext, a time zone's spelling)
            // is then written back by the merge, never deleted after it.
            if (!options_.delete_missing)
                counts.only_on_target = partial->target_only_keys.size();
            else if (!later)
                counts.deleted = delete_keys(partial->target_only_keys);
            counts.inserted = staged_rows_not_in_target();
            counts.updated = merge() - counts.inserted;
            if (later)
                counts.deleted = note_keys(partial->target_only_keys);
        } else {
            uint64_t written = merge();
            uint64_t after = count("");
            counts.inserted = after - before_;
            counts.updated = written - counts.inserted;
            if (later) {
                counts.deleted = note_rows_not_staged();
            } else if (options_.delete_missing) {
                PgResult deleted = db_.query(fmt::format(
                    "DELETE FROM {} t WHERE {} NOT EXISTS (SELECT 1 FROM ferry_staging s "
                    "WHERE {})",
                    table_.target.name, filter_and(),
                    key_match(table_.target.key_columns, "t", "s", "=")));
                counts.deleted = std::stoull(PQcmdTuples(deleted.raw()));
            } else {
                uint64_t kept = table_.filter ? count(filter_and() + " true") : after;
                counts.only_on_target = kept - counts.source_rows;
            }
        }
        if (partial)  // only the rows that differ came
            counts.source_rows = partial->source_rows;
        if (!options_.dry_run)
            db_.execute("SELECT ferry.checkpoint_advance($1, $2, $3::jsonb, $4)",
                        {options_.job, options_.scope, options_.checkpoint_done,
                         std::to_string(options_.done_before + counts.source_rows)});
        open_ = false;
        db_.execute(options_.dry_run ? "ROLLBACK" : "COMMIT");
        return counts;
    }

  private:
    // The build needs each index to itself, so it waits for sessions that
    // hold one (it never queues ahead of new readers); a minute at most,
    // then the table's load fails and is rolled back, saying who to look
    // for. Leases are renewed first: a large build is one long statement.
    void build_deferred_indexes() {
        if (options_.tick)
            options_.tick(options_.done_before + rows_, bytes_);
        db_.execute("SET LOCAL lock_timeout = '60s'");
        db_.execute("SELECT ferry.build_deferred_indexes($1::oid::regclass)", {table_.target.oid});
    }

    // --dry-run: what the merge and the deletes would do, counted against
    // the target as it is. Writing and rolling back would not do: a child
    // row's new parent, rolled back with its own table, would be missing
    // when the child's foreign key is checked.
    void count_without_writing(TableCounts& counts) {
        const auto& keys = table_.target.key_columns;
        std::string differs = compared_columns().differs;
        PgResult staged = db_.query(fmt::format(
            "SELECT count(*) FILTER (WHERE t.ctid IS NULL), count(*) FILTER (WHERE t.ctid IS NOT "
            "NULL AND ({})) FROM ferry_staging s LEFT JOIN {} t ON {}",
            differs.empty() ? "false" : differs, table_.target.name,
            key_match(keys, "t", "s", "=")));
        counts.inserted = std::stoull(staged.text(0, 0));
        counts.updated = std::stoull(staged.text(0, 1));
        uint64_t only_on_target =
            options_.partial
                ? options_.partial->target_only_keys.size()
                : count(fmt::format("{} NOT EXISTS (SELECT FROM ferry_staging s WHERE {})",
                                    filter_and(), key_match(keys, "t", "s", "=")));
        if (options_.delete_missing)
            counts.deleted = only_on_target;
        else
            counts.only_on_target = only_on_target;
    }

    uint64_t count(const std::string& where) {
        std::string sql = "SELECT count(*) FROM " + table_.target.name + " t";
        if (!where.empty())
            sql += " WHERE " + where;
        return std::stoull(db_.query(sql).text(0, 0));
    }

    std::string filter_and() const { return table_.filter ? "(" + *table_.filter + ") AND" : ""; }

    uint64_t staged_rows_not_in_target() {
        return std::stoull(
            db_.query(fmt::format("SELECT count(*) FROM ferry_staging s WHERE NOT EXISTS (SELECT "
                                  "FROM {} t WHERE {})",
                                  table_.target.name,
                                  key_match(table_.target.key_columns, "t", "s", "=")))
                .text(0, 0));
    }

    // Deletes the rows with these keys (JSON, as ferry.bucket_rows printed
    // them); returns how many.
    uint64_t delete_keys(const std::vector<std::string>& keys) {
        std::string sql =
            fmt::format("DELETE FROM {} t USING jsonb_to_recordset($1::jsonb) AS k{} WHERE {}",
                        table_.target.name, record_definition(db_, table_.target.oid),
                        key_match(table_.target.key_columns, "t", "k", "="));
        uint64_t deleted = 0;
        for (const std::string& array : json_arrays(keys, kKeysPerStatement))
            deleted += std::stoull(PQcmdTuples(db_.query(sql, {array}).raw()));
        return deleted;
    }

    // --delete-missing on a referenced table: the keys of the rows to delete
    // go to a temporary table that outlives this transaction, and
    // PostgresTarget::delete_noted() deletes them at the end of the run.
    void start_notes() {
        std::string noted = noted_keys_table(table_.target);
        db_.execute("DROP TABLE IF EXISTS " + noted);
        db_.execute(fmt::format("CREATE TEMP TABLE {} AS SELECT {} FROM {} WITH NO DATA", noted,
                                join_quoted(table_.target.key_columns), table_.target.name));
    }

    // Notes the target's rows that match none of the staged rows (which are
    // written by now: a key the two peers spell differently, as citext may,
    // is one of them here and is kept); returns how many.
    uint64_t note_unstaged_rows(const std::string& from, const std::string& where,
                                const std::vector<Param>& params = {}) {
        const auto& keys = table_.target.key_columns;
        return std::stoull(PQcmdTuples(
            db_.query(fmt::format("INSERT INTO {} SELECT {} FROM {} t{} WHERE {} NOT EXISTS "
                                  "(SELECT FROM ferry_staging s WHERE {})",
                                  noted_keys_table(table_.target), join_quoted(keys, "t."),
                                  table_.target.name, from, where, key_match(keys, "t", "s", "=")),
                      params)
                .raw()));
    }

    // --method dump: the rows (as filtered) that the source does not have.
    uint64_t note_rows_not_staged() { return note_unstaged_rows("", filter_and()); }

    // --method diff: the rows with these keys (JSON, as ferry.bucket_rows
    // printed them).
    uint64_t note_keys(const std::vector<std::string>& keys) {
        std::string from = fmt::format(", jsonb_to_recordset($1::jsonb) AS k{}",
                                       record_definition(db_, table_.target.oid));
        std::string where = key_match(table_.target.key_columns, "t", "k", "=") + " AND";
        uint64_t noted = 0;
        for (const std::string& array : json_arrays(keys, kKeysPerStatement))
            noted += note_unstaged_rows(from, where, {array});
        return noted;
    }

    // The conditions that find a staged row different from its target row,
    // and the assignments that make it equal.
    struct Comparison {
        std::string differs;  // empty when every column is part of the key
        std::string set;
    };

    Comparison compared_columns() {
        // A row differs where its hash would (docs/hashing.md). Types hashed
        // by value compare with `=`; the others are hashed by their text,
        // and compare by it too: '1 day' = '24 hours' as intervals, 'ABC' =
        // 'abc' as citext, {1.0} = {1.00} as numeric[], yet each pair hashes
        // apart, and a target kept on `=` would never match its source.
        // (json, xml and point have no `=` at all.) Text compares under "C":
        // a case-insensitive collation's `=` would hide a difference too.
        PgResult comparable = db_.query(R"(
SELECT a.attname,
       CASE WHEN b.base NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'oid'::regtype,
                                'numeric'::regtype, 'float4'::regtype, 'float8'::regtype,
                                'bool'::regtype, 'text'::regtype, 'varchar'::regtype,
                                'name'::regtype, 'bpchar'::regtype, '"char"'::regtype,
                                'date'::regtype, 'time'::regtype, 'timestamp'::regtype,
                                'timestamptz'::regtype, 'jsonb'::regtype, 'uuid'::regtype,
                                'bytea'::regtype) THEN '::text'
            WHEN a.attcollation <> 0 THEN ' COLLATE "C"'
            ELSE '' END
FROM pg_attribute a
CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AS base
                    FROM pg_type t WHERE t.oid = a.atttypid) b
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped)",
                                        {table_.target.oid});
        std::map<std::string, std::string> compared_as;  // a cast or a collation
        for (int r = 0; r < comparable.rows(); r++)
            compared_as[comparable.text(r, 0)] = comparable.text(r, 1);
        const auto& keys = table_.target.key_columns;
        Comparison comparison;
        for (const auto& name : names_) {
            if (std::find(keys.begin(), keys.end(), name) != keys.end())
                continue;
            std::string q = quote_identifier(name);
            const std::string& as = compared_as[name];
            comparison.differs +=
                fmt::format("{}t.{}{} IS DISTINCT FROM s.{}{}",
                            comparison.differs.empty() ? "" : " OR ", q, as, q, as);
            comparison.set += fmt::format("{}{} = s.{}", comparison.set.empty() ? "" : ", ", q, q);
        }
        return comparison;
    }

    // Inserts new rows and rewrites the rows that differ; returns how many.
    uint64_t merge() {
        const auto& keys = table_.target.key_columns;
        auto [differs, set] = compared_columns();
        std::string matched =
            set.empty() ? ""
                        : fmt::format("WHEN MATCHED AND ({}) THEN UPDATE SET {} ", differs, set);
        PgResult merged = db_.query(fmt::format(
            "MERGE INTO {} t USING ferry_staging s ON {} {}WHEN NOT MATCHED THEN INSERT ({}) "
            "VALUES ({})",
            table_.target.name, key_match(keys, "t", "s", "="), matched, join_quoted(names_),
            join_quoted(names_, "s.")));
        return std::stoull(PQcmdTuples(merged.raw()));
    }

    PgConnection& db_;
    const SyncTable& table_;
    const WriteOptions& options_;
    std::vector<std::string> names_;
    bool can_defer_indexes_;
    bool open_ = false;
    bool direct_ = false;
    bool deferred_indexes_ = false;
    uint64_t before_ = 0;
    uint64_t rows_ = 0;
    uint64_t bytes_ = 0;
    SqliteRowLines sqlite_lines_{
        [this](std::string_view lines, uint64_t rows) { copy_lines(lines, rows); }};
};

// Topological order from (referencing, referenced) name pairs.
std::vector<SyncTable> order_by_references(
    std::vector<SyncTable> tables, const std::vector<std::pair<std::string, std::string>>& edges,
    const std::function<std::string(const SyncTable&)>& key_of) {
    std::map<std::string, size_t> position;
    for (size_t i = 0; i < tables.size(); i++)
        position[key_of(tables[i])] = i;
    std::vector<std::set<size_t>> references(tables.size());
    for (const auto& [child, parent] : edges) {
        auto c = position.find(child), p = position.find(parent);
        if (c != position.end() && p != position.end())
            references[c->second].insert(p->second);
    }
    return topological(std::move(tables), references);
}

class PostgresTarget : public SyncTarget {
  public:
    explicit PostgresTarget(const std::string& conninfo)
        : data_(connect_postgres_peer(conninfo)), state_(connect_postgres_peer(conninfo)) {}

    const std::string& name() const override { return data_.peer(); }
    void require_ferry() override { cli::require_ferry(data_, "0.2"); }
    PeerTable describe(const std::string& table) override { return describe_table(data_, table); }
    std::string identify(const std::string& table) override {
        return resolve_table(data_, table).oid;
    }

    std::vector<SyncTable> parents_first(std::vector<SyncTable> tables) override {
        PgResult edges = data_.query(
            "SELECT conrelid::text, confrelid::text FROM pg_constraint WHERE contype = 'f' AND "
            "conrelid <> confrelid");
        std::vector<std::pair<std::string, std::string>> pairs;
        for (int r = 0; r < edges.rows(); r++)
            pairs.emplace_back(edges.text(r, 0), edges.text(r, 1));
        return order_by_references(std::move(tables), pairs,
                                   [](const SyncTable& t) { return t.target.oid; });
    }

    std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                        int ttl_seconds) override {
        PgResult taken = state_.query("SELECT ferry.try_lock($1, $2, make_interval(secs => $3))",
                                      {lease, holder, std::to_string(ttl_seconds)});
        if (taken.text(0, 0) == "t")
            return std::nullopt;
        PgResult by = state_.query("SELECT holder FROM ferry.locks WHERE name = $1", {lease});
        return by.rows() ? by.text(0, 0) : std::string("another holder");
    }
    void unlock(const std::string& lease, const std::string& holder) override {
        state_.execute("SELECT ferry.unlock($1, $2)", {lease, holder});
    }
    // In name order, whatever the order asked: try_lock() locks the lease's
    // row until the statement commits, so two runs taking overlapping sets
    // at once must take them in one order (or deadlock).
    std::vector<std::optional<std::string>> try_lock_all(const std::vector<std::string>& leases,
                                                         const std::string& holder,
                                                         int ttl_seconds) override {
        std::string names = nlohmann::json(leases).dump();
        PgResult taken = state_.query(
            "SELECT l.name, ferry.try_lock(l.name, $2, make_interval(secs => $3)) FROM (SELECT "
            "DISTINCT u.name FROM jsonb_array_elements_text($1::jsonb) AS u(name) ORDER BY "
            "u.name) AS l",
            {names, holder, std::to_string(ttl_seconds)});
        std::map<std::string, std::optional<std::string>> by_lease;
        bool all_taken = true;
        for (int r = 0; r < taken.rows(); r++) {
            bool ok = taken.text(r, 1) == "t";
            by_lease[taken.text(r, 0)] = ok ? std::nullopt : std::optional<std::string>("");
            all_taken = all_taken && ok;
        }
        // The holders in a statement of their own: one in the same
        // statement would not see a holder that committed while it waited.
        if (!all_taken) {
            PgResult held = state_.query(
                "SELECT name, holder FROM ferry.locks WHERE name IN (SELECT "
                "jsonb_array_elements_text($1::jsonb))",
                {names});
            for (int r = 0; r < held.rows(); r++)
                if (auto found = by_lease.find(held.text(r, 0));
                    found != by_lease.end() && found->second)
                    found->second = held.text(r, 1);
        }
        std::vector<std::optional<std::string>> holders;
        for (const auto& lease : leases) {
            std::optional<std::string> by = by_lease.at(lease);
            holders.push_back(by && by->empty() ? std::optional<std::string>("another holder")
                                                : by);
        }
        return holders;
    }
    void unlock_all(const std::vector<std::string>& leases, const std::string& holder) override {
        state_.execute(
            "SELECT ferry.unlock(u.name, $2) FROM (SELECT DISTINCT name FROM "
            "jsonb_array_elements_text($1::jsonb) AS u(name) ORDER BY name) AS u",
            {nlohmann::json(leases).dump(), holder});
    }

    std::optional<std::string> begin_run(const std::string& job, const std::string& scope,
                                         uint64_t total) override {
        PgResult row = state_.query("SELECT position::text FROM ferry.checkpoint_begin($1, $2, $3)",
                                    {job, scope, std::to_string(total)});
        return row.value(0, 0);
    }
    void complete_run(const std::string& job, const std::string& scope) override {
        state_.execute("SELECT ferry.checkpoint_complete($1, $2)", {job, scope});
    }
    std::string change_cursor() override {
        return state_.query("SELECT ferry.current_cursor()::text").text(0, 0);
    }
    void fail_run(const std::string& job, const std::string& scope,
                  const std::string& error) override {
        state_.execute("SELECT ferry.checkpoint_fail($1, $2, $3)", {job, scope, error});
    }
    std::vector<std::string> checkpoint_scopes(const std::string& job) override {
        return postgres_checkpoint_scopes(state_, job);
    }

    std::unique_ptr<TableWriter> open_writer(const SyncTable& table,
                                             const WriteOptions& options) override {
        if (!can_defer_indexes_)
            can_defer_indexes_ =
                data_
                    .query(
                        "SELECT coalesce(bool_or(has_function_privilege(p.oid, 'EXECUTE')), "
                        "false) FROM pg_proc p WHERE p.oid = "
                        "to_regprocedure('ferry.defer_indexes(regclass)')")
                    .text(0, 0) == "t";
        return std::make_unique<PostgresWriter>(data_, table, options, *can_defer_indexes_);
    }

    canonical::TableDigest table_hash(const SyncTable& table) override {
        PgResult hash = data_.query(kTableHashQuery, {table.target.oid, table.filter});
        return digest_of(hash.text(0, 0), hash.text(0, 1));
    }

    ForeignKeys foreign_keys(const SyncTable& table) override {
        PgResult keys = data_.query(
            "SELECT EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' AND confrelid = "
            "$1::oid), "
            "EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::oid AND "
            "confrelid <> $1::oid)",
            {table.target.oid});
        return {keys.text(0, 0) == "t", keys.text(0, 1) == "t"};
    }

    std::vector<uint64_t> delete_noted(const std::vector<SyncTable>& tables,
                                       const WriteOptions& options) override {
        std::vector<uint64_t> deleted;
        data_.execute("BEGIN");
        try {
            data_.execute("SELECT ferry.set_origin($1)", {options.origin});
            // Writers wait, as while each table was written; keys that may
            // be checked at commit (two tables referencing each other) are.
            for (const auto& table : tables)
                data_.execute("LOCK TABLE " + table.target.name + " IN SHARE ROW EXCLUSIVE MODE");
            data_.execute("SET CONSTRAINTS ALL DEFERRED");
            // One statement per table: a foreign key of a table on itself is
            // checked once all of its noted rows are gone.
            for (const auto& table : tables) {
                refuse_cascades(table);
                const PeerTable& target = table.target;
                PgResult gone = data_.query(fmt::format(
                    "DELETE FROM {} t USING {} n WHERE {}", target.name, noted_keys_table(target),
                    key_match(target.key_columns, "t", "n", "=")));
                deleted.push_back(std::stoull(PQcmdTuples(gone.raw())));
                data_.execute("DROP TABLE " + noted_keys_table(target));
                if (options.tick)
                    options.tick(options.done_before, 0);
            }
            data_.execute("SELECT ferry.checkpoint_advance($1, $2, $3::jsonb, $4)",
                          {options.job, options.scope, options.checkpoint_done,
                           std::to_string(options.done_before)});
            data_.execute("COMMIT");
        } catch (...) {
            try {
                data_.execute("ROLLBACK");
            } catch (...) {  // the connection is gone: so is the transaction
            }
            throw;
        }
        return deleted;
    }

  private:
    // A noted row that a row not being deleted still references through an
    // ON DELETE CASCADE or SET NULL / SET DEFAULT key: deleting it would
    // delete or change that row, which the run has just written (a --where
    // condition on the parent that leaves out rows its children use, or a
    // source without the key). Refused, naming the key.
    void refuse_cascades(const SyncTable& table) {
        PgResult keys = data_.query(R"(
SELECT c.conrelid::regclass::text, c.conname, c.conrelid = c.confrelid,
       CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END,
       (SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ' ORDER BY k.i)
        FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_column, parent_column, i)
        JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_column
        JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_column)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.confrelid = $1::oid AND c.conparentid = 0
  AND c.confdeltype IN ('c', 'n', 'd'))",
                                    {table.target.oid});
        const PeerTable& parent = table.target;
        std::string noted = noted_keys_table(parent);
        for (int r = 0; r < keys.rows(); r++) {
            // Rows of the table itself that are noted go with their parents.
            std::string unless_noted =
                keys.text(r, 2) == "t"
                    ? fmt::format(" WHERE NOT EXISTS (SELECT FROM {} m WHERE {})", noted,
                                  key_match(parent.key_columns, "c", "m", "="))
                    : "";
            PgResult hit = data_.query(
                fmt::format("SELECT EXISTS (SELECT FROM {} c JOIN {} p ON {} JOIN {} n ON {}{})",
                            keys.text(r, 0), parent.name, keys.text(r, 4), noted,
                            key_match(parent.key_columns, "p", "n", "="), unless_noted));
            if (hit.text(0, 0) == "t")
                throw Error(
                    ErrorKind::conflict,
                    fmt::format("--delete-missing would delete rows of {} that rows of {} still "
                                "reference through foreign key {} (ON DELETE {})",
                                parent.name, keys.text(r, 0), quote_identifier(keys.text(r, 1)),
                                keys.text(r, 3)),
                    "The deletion would change rows the run has just written. The deletions "
                    "from tables that foreign keys reference were rolled back; the rows "
                    "written are kept.",
                    "A --where condition on the parent table leaves out rows its children "
                    "reference: filter the child table the same way, or run without "
                    "--delete-missing.");
        }
    }

    PgConnection data_;
    PgConnection state_;
    std::optional<bool> can_defer_indexes_;  // asked on the first write
};

// ---- SQLite target ---------------------------------------------------------

// How a value from a PostgreSQL source is bound in SQLite.
enum class Binding { text, integer, real, boolean, blob };

Binding binding_for(const std::string& pg_type) {
    if (pg_type == "int2" || pg_type == "int4" || pg_type == "int8" || pg_type == "oid")
        return Binding::integer;
    if (pg_type == "float4" || pg_type == "float8")
        return Binding::real;
    if (pg_type == "bool")
        return Binding::boolean;
    if (pg_type == "bytea")
        return Binding::blob;
    return Binding::text;  // the column's affinity makes numbers of numeric text
}

class SqliteWriter : public TableWriter {
  public:
    SqliteWriter(SqliteConnection& db, const SyncTable& table, const WriteOptions& options)
        : db_(db), table_(table), options_(options) {}

    ~SqliteWriter() override {
        if (open_) {
            try {
                db_.execute("ROLLBACK");
            } catch (...) {
            }
        }
        try {
            db_.execute("DROP TABLE IF EXISTS temp.ferry_seen_keys");
        } catch (...) {
        }
    }

    void columns(const std::vector<std::string>& names,
                 const std::vector<std::string>& pg_types) override {
        for (size_t i = 0; i < names.size(); i++)
            bindings_.push_back(i < pg_types.size() ? binding_for(pg_types[i]) : Binding::text);
        const auto& keys = table_.target.key_columns;
        std::string target = "main." + quote_identifier(table_.target.name);
        std::string parameter_list, differs_old, differs_new, set;
        for (size_t i = 0; i < names.size(); i++) {
            parameter_list += fmt::format("{}?{}", i ? ", " : "", i + 1);
            if (std::find(keys.begin(), keys.end(), names[i]) != keys.end())
                continue;
            std::string q = quote_identifier(names[i]);
            // BINARY: a NOCASE column's 'ABC' and 'abc' hash apart, so they differ.
            differs_old += (differs_old.empty() ? "" : ", ") + target + "." + q + " COLLATE BINARY";
            differs_new += (differs_new.empty() ? "" : ", ") + std::string("excluded.") + q;
            set += fmt::format("{}{} = excluded.{}", set.empty() ? "" : ", ", q, q);
        }
        std::string on_conflict = set.empty()
                                      ? "DO NOTHING"
                                      : fmt::format("DO UPDATE SET {} WHERE ({}) IS NOT ({})", set,
                                                    differs_old, differs_new);
        upsert_ = prepare(
            db_, fmt::format("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}", target,
                             join_quoted(names), parameter_list, join_quoted(keys), on_conflict));
        for (const auto& key : keys)
            key_positions_.push_back(
                static_cast<int>(std::find(names.begin(), names.end(), key) - names.begin()));
        if (options_.delete_missing && !options_.partial) {
            // The keys seen, to delete the others at the end; the key columns'
            // declared types give the same affinity as in the table.
            std::string key_columns, key_values;
            for (size_t k = 0; k < keys.size(); k++) {
                key_columns += fmt::format("{}{} {}", k ? ", " : "", quote_identifier(keys[k]),
                                           declared_type(keys[k]));
                key_values += fmt::format("{}?{}", k ? ", " : "", k + 1);
            }
            db_.execute("DROP TABLE IF EXISTS temp.ferry_seen_keys");
            db_.execute(fmt::format(
                "CREATE TEMP TABLE ferry_seen_keys ({}, PRIMARY KEY ({})) WITHOUT ROWID",
                key_columns, join_quoted(keys)));
            seen_ = prepare(db_, fmt::format("INSERT OR IGNORE INTO temp.ferry_seen_keys "
                                             "VALUES ({})",
                                             key_values));
        }
        spelling_.emplace(db_, table_.target.name, keys);
        respell_ = spelling_->applies();
        before_ = count("");
        begin_batch();
        // Deleted first: a key that hashes differently on the two peers but
        // is one row here (a NOCASE column, a time zone's spelling) is then
        // written back by the upserts, never deleted after them.
        if (options_.delete_missing && options_.partial)
            deleted_ = delete_keys(options_.partial->target_only_keys);
    }

    void copy_lines(std::string_view lines, uint64_t) override {
        size_t start = 0;
        while (start < lines.size()) {
            size_t end = lines.find('\n', start);
            if (end == std::string_view::npos)
                end = lines.size();
            copy_text::decode_line(lines.substr(start, end - start), fields_);
            if (fields_.size() != bindings_.size())
                throw Error(ErrorKind::invalid_input,
                            fmt::format("a row of {} has {} values for {} columns",
                                        table_.source.name, fields_.size(), bindings_.size()));
            for (size_t i = 0; i < fields_.size(); i++)
                bind_field(upsert_.get(), static_cast<int>(i) + 1, bindings_[i], fields_[i]);
            key_.clear();
            for (size_t k = 0; k < key_positions_.size(); k++) {
                size_t column = static_cast<size_t>(key_positions_[k]);
                if (fields_[column].is_null)
                    throw null_key(k);
                if (seen_)
                    bind_field(seen_.get(), static_cast<int>(k) + 1, bindings_[column],
                               fields_[column]);
                if (respell_)
                    key_.push_back(fields_[column].value);
            }
            if (respell_)
                bind_held_spelling();
            bytes_ += end - start + 1;
            write_bound_row();
            start = end + 1;
        }
    }

    void sqlite_row(sqlite3_stmt* row) override {
        for (int i = 0; i < static_cast<int>(bindings_.size()); i++)
            sqlite3_bind_value(upsert_.get(), i + 1, sqlite3_column_value(row, i));
        key_.clear();
        for (size_t k = 0; k < key_positions_.size(); k++) {
            if (sqlite3_column_type(row, key_positions_[k]) == SQLITE_NULL)
                throw null_key(k);
            if (seen_)
                sqlite3_bind_value(seen_.get(), static_cast<int>(k) + 1,
                                   sqlite3_column_value(row, key_positions_[k]));
            if (respell_) {
                auto text =
                    reinterpret_cast<const char*>(sqlite3_column_text(row, key_positions_[k]));
                key_.emplace_back(
                    text, static_cast<size_t>(sqlite3_column_bytes(row, key_positions_[k])));
            }
        }
        if (respell_)
            bind_held_spelling();
        for (int i = 0; i < static_cast<int>(bindings_.size()); i++)
            bytes_ += static_cast<uint64_t>(sqlite3_column_bytes(row, i));
        write_bound_row();
    }

    TableCounts finish() override {
        TableCounts counts;
        counts.source_rows = rows_;
        const auto& partial = options_.partial;
        if (options_.delete_missing && partial) {
            counts.deleted = deleted_;
        } else if (options_.delete_missing) {
            // The target's column on the left: its collation (NOCASE) decides
            // whether a key was seen, as it decided which row an upsert wrote.
            std::string target = "main." + quote_identifier(table_.target.name);
            db_.execute(fmt::format(
                "DELETE FROM {} WHERE {} NOT EXISTS (SELECT 1 FROM temp.ferry_seen_keys s "
                "WHERE {})",
                target, table_.filter ? "(" + *table_.filter + ") AND" : "",
                key_match(table_.target.key_columns, target, "s", "IS")));
            counts.deleted = static_cast<uint64_t>(sqlite3_changes(db_.handle()));
        }
        uint64_t after = count("");
        counts.inserted = after + counts.deleted - before_;
        counts.updated = written_ - counts.inserted;
        if (partial) {
            counts.source_rows = partial->source_rows;  // only the rows that differ came
            if (!options_.delete_missing)
                counts.only_on_target = partial->target_only_keys.size();
        } else if (!options_.delete_missing) {
            counts.only_on_target =
                (table_.filter ? count(*table_.filter) : after) - counts.source_rows;
        }
        end_batch(true);
        return counts;
    }

  private:
    uint64_t delete_keys(const std::vector<std::string>& keys) {
        return SqliteKeyLookup(db_, table_.target.name).delete_rows(keys);
    }

    // The row's key (key_) as the target spells it, when it holds the row
    // with its UUIDs in another case: the upsert then updates that row, and
    // --delete-missing sees it.
    void bind_held_spelling() {
        auto held = spelling_->held_spelling(key_);
        if (!held)
            return;
        for (size_t k = 0; k < key_positions_.size(); k++) {
            const std::string& value = (*held)[k];
            if (value == key_[k])
                continue;
            sqlite3_bind_text(upsert_.get(), key_positions_[k] + 1, value.data(),
                              static_cast<int>(value.size()), SQLITE_TRANSIENT);
            if (seen_)
                sqlite3_bind_text(seen_.get(), static_cast<int>(k) + 1, value.data(),
                                  static_cast<int>(value.size()), SQLITE_TRANSIENT);
        }
    }

    Error null_key(size_t k) const {
        return null_key_error("a row of " + table_.source.name, table_.target.key_columns.at(k));
    }

    std::string declared_type(const std::string& column) {
        for (const auto& row : db_.query("SELECT type FROM pragma_table_info(?1) WHERE name = ?2",
                                         {table_.target.name, column}))
            return row.at(0).value_or("");
        return "";
    }

    uint64_t count(const std::string& where) {
        std::string sql = "SELECT count(*) FROM main." + quote_identifier(table_.target.name);
        if (!where.empty())
            sql += " WHERE (" + where + ")";
        return std::stoull(*db_.query(sql).at(0).at(0));
    }

    // Binds a decoded COPY field; blobs are copied, text is borrowed until
    // the row has been written.
    void bind_field(sqlite3_stmt* s, int index, Binding binding, const copy_text::Field& field) {
        if (field.is_null) {
            sqlite3_bind_null(s, index);
            return;
        }
        const std::string& v = field.value;
        // Values come from a peer or a file: one that is not what its
        // column's type says stops the batch with an error, never a crash
        // or a wrong value.
        auto refuse = [&](const char* what) {
            return Error(ErrorKind::invalid_input,
                         fmt::format("a value for {} is not {}: \"{}\"", table_.target.name, what,
                                     v.substr(0, 60)),
                         {}, "The source's column and the target's disagree on its type.");
        };
        switch (binding) {
            case Binding::integer: {
                int64_t number = 0;
                auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), number);
                if (error != std::errc() || end != v.data() + v.size())
                    throw refuse("an integer");
                sqlite3_bind_int64(s, index, number);
                return;
            }
            case Binding::real: {
                if (v == "NaN") {  // SQLite has no NaN (it would become NULL)
                    sqlite3_bind_text(s, index, "NaN", 3, SQLITE_STATIC);
                    return;
                }
                char* end = nullptr;
                double number = std::strtod(v.c_str(), &end);
                if (v.empty() || end != v.c_str() + v.size())
                    throw refuse("a number");
                sqlite3_bind_double(s, index, number);
                return;
            }
            case Binding::boolean:
                if (v != "t" && v != "f")
                    throw refuse("a boolean");
                sqlite3_bind_int(s, index, v == "t" ? 1 : 0);
                return;
            case Binding::blob:
                if (v.size() % 2 != 0 || v.compare(0, 2, "\\x") != 0 ||
                    !std::all_of(v.begin() + 2, v.end(),
                                 [](char c) { return text::hex_digit_value(c) >= 0; }))
                    throw refuse("bytea in hex");
                blob_.clear();
                for (size_t i = 2; i + 1 < v.size(); i += 2)  // "\x0a1b"
                    blob_ += static_cast<char>(text::hex_digit_value(v[i]) * 16 +
                                               text::hex_digit_value(v[i + 1]));
                sqlite3_bind_blob(s, index, blob_.data(), static_cast<int>(blob_.size()),
                                  SQLITE_TRANSIENT);
                return;
            case Binding::text:
                sqlite3_bind_text(s, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
                return;
        }
    }

    void write_bound_row() {
        step_done(db_, upsert_.get());
        written_ += static_cast<uint64_t>(sqlite3_changes(db_.handle()));
        if (seen_)
            step_done(db_, seen_.get());
        rows_++;
        if (++batch_rows_ >= options_.batch_rows && !options_.dry_run) {
            end_batch();
            options_.tick(options_.done_before + rows_, bytes_);
            begin_batch();
        }
    }

    void begin_batch() {
        if (rows_ > 0)  // batches after the first: a waiting writer goes first
            let_other_writers_in();
        db_.execute("BEGIN IMMEDIATE");
        open_ = true;
        db_.execute("SELECT ferry_set_origin(?1)", {options_.origin});
        batch_rows_ = 0;
    }

    // Records progress with the rows it covers, and commits them together.
    void end_batch(bool table_done = false) {
        if (!options_.dry_run)
            db_.execute("SELECT ferry_checkpoint_advance(?1, ?2, ?3, ?4)",
                        {options_.job, options_.scope,
                         table_done ? options_.checkpoint_done : options_.checkpoint,
                         std::to_string(options_.done_before + rows_)});
        db_.execute("SELECT ferry_set_origin(NULL)");
        open_ = false;
        db_.execute(options_.dry_run ? "ROLLBACK" : "COMMIT");
    }

    SqliteConnection& db_;
    const SyncTable& table_;
    const WriteOptions& options_;
    std::vector<Binding> bindings_;
    std::optional<UuidKeySpelling> spelling_;
    bool respell_ = false;          // spelling_ applies: key_ is filled, per row
    std::vector<std::string> key_;  // the current row's key values as text
    std::vector<int> key_positions_;
    StatementPtr upsert_;
    StatementPtr seen_;
    std::vector<copy_text::Field> fields_;
    std::string blob_;
    bool open_ = false;
    uint64_t before_ = 0;
    uint64_t deleted_ = 0;  // --method diff --delete-missing
    uint64_t rows_ = 0;
    uint64_t bytes_ = 0;
    uint64_t written_ = 0;
    uint64_t batch_rows_ = 0;
};

class SqliteTarget : public SyncTarget {
  public:
    explicit SqliteTarget(const std::string& path) : data_(path, false), state_(path, false) {}

    const std::string& name() const override { return data_.peer(); }
    void require_ferry() override { require_sqlite_ferry(data_); }
    PeerTable describe(const std::string& table) override {
        return describe_sqlite_table(data_, table);
    }
    std::string identify(const std::string& table) override {
        return sqlite::describe_table(data_.handle(), sqlite_table_name(data_, table)).name;
    }

    std::vector<SyncTable> parents_first(std::vector<SyncTable> tables) override {
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const auto& table : tables)
            for (const auto& row : data_.query("SELECT \"table\" FROM pragma_foreign_key_list(?1)",
                                               {table.target.name}))
                pairs.emplace_back(lower(table.target.name), lower(row.at(0).value_or("")));
        return order_by_references(std::move(tables), pairs,
                                   [](const SyncTable& t) { return lower(t.target.name); });
    }

    std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                        int ttl_seconds) override {
        if (auto other = other_live_holder(state_, lease, holder))
            return other;
        auto taken = state_.query("SELECT ferry_try_lock(?1, ?2, ?3)",
                                  {lease, holder, std::to_string(ttl_seconds)});
        if (taken.at(0).at(0) == std::optional<std::string>("1"))
            return std::nullopt;
        auto by = state_.query("SELECT holder FROM ferry_locks WHERE name = ?1", {lease});
        return by.empty() ? std::string("another holder") : by.at(0).at(0).value_or("");
    }
    void unlock(const std::string& lease, const std::string& holder) override {
        state_.execute("SELECT ferry_unlock(?1, ?2)", {lease, holder});
    }

    std::optional<std::string> begin_run(const std::string& job, const std::string& scope,
                                         uint64_t total) override {
        state_.execute("SELECT ferry_checkpoint_begin(?1, ?2, ?3)",
                       {job, scope, std::to_string(total)});
        return state_
            .query("SELECT position FROM ferry_checkpoints WHERE job = ?1 AND scope = ?2",
                   {job, scope})
            .at(0)
            .at(0);
    }
    void complete_run(const std::string& job, const std::string& scope) override {
        state_.execute("SELECT ferry_checkpoint_complete(?1, ?2)", {job, scope});
    }
    std::string change_cursor() override {
        auto position = state_.query("SELECT coalesce(max(position), 0) FROM ferry_changes");
        return nlohmann::json{{"position", std::stoll(*position.at(0).at(0))}}.dump();
    }
    void fail_run(const std::string& job, const std::string& scope,
                  const std::string& error) override {
        state_.execute("SELECT ferry_checkpoint_fail(?1, ?2, ?3)", {job, scope, error});
    }
    std::vector<std::string> checkpoint_scopes(const std::string& job) override {
        return sqlite_checkpoint_scopes(state_, job);
    }

    std::unique_ptr<TableWriter> open_writer(const SyncTable& table,
                                             const WriteOptions& options) override {
        return std::make_unique<SqliteWriter>(data_, table, options);
    }

    canonical::TableDigest table_hash(const SyncTable& table) override {
        auto hash = data_.query("SELECT rows, digest FROM ferry_table_hash(?1, ?2)",
                                {table.target.name, table.filter});
        return digest_of(*hash.at(0).at(0), *hash.at(0).at(1));
    }

    // ferry's SQLite connections leave foreign_keys off: a row is deleted
    // with its table, whoever references it.
    ForeignKeys foreign_keys(const SyncTable&) override { return {}; }
    std::vector<uint64_t> delete_noted(const std::vector<SyncTable>&,
                                       const WriteOptions&) override {
        throw Error(ErrorKind::internal, "a SQLite target has no deletions left for later");
    }

  private:
    static std::string lower(std::string name) {
        for (char& c : name)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        return name;
    }

    SqliteConnection data_;
    SqliteConnection state_;
};

}  // namespace

// Every table named, checked on both sides before anything is written; all
// problems are reported at once.
void apply_filters(SyncSource& source, std::vector<SyncTable>& tables,
                   const std::vector<std::string>& filters) {
    for (const auto& option : filters) {
        auto [name, condition] = split_table_filter(option);
        std::string identity = source.identify(name);
        bool matched = false;
        for (auto& table : tables)
            if (source.identify(table.source.name) == identity) {
                table.filter = condition;
                matched = true;
            }
        if (!matched)
            throw Error(ErrorKind::invalid_input,
                        fmt::format("--where names table \"{}\", which is not synced", name), {},
                        "Add it to --tables, or drop the --where.");
    }
}

std::string digests_text(std::vector<std::pair<std::string, std::string>> digests) {
    std::sort(digests.begin(), digests.end());
    std::string text;
    for (const auto& [name, digest] : digests)
        text += fmt::format("{}{}={}", text.empty() ? "" : ",", name, digest);
    return text;
}

std::set<std::string> tracked_identities(SyncSource& source) {
    std::set<std::string> identities;
    for (const auto& name : source.tracked_tables()) {
        try {
            identities.insert(source.identify(name));
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::not_found)
                throw;
        }
    }
    return identities;
}

std::vector<SyncTable> plan_source_tables(SyncSource& source, std::vector<std::string> names,
                                          const std::vector<std::string>& filters) {
    if (names.empty())
        names = source.tracked_tables();
    std::vector<SyncTable> tables;
    for (const auto& name : names) {
        PeerTable table = source.describe(name);
        tables.push_back({table, table, {}});
    }
    drop_repeats(tables, [](const SyncTable& table) { return table.source.name; });
    apply_filters(source, tables, filters);
    return tables;
}

std::vector<std::optional<std::string>> SyncTarget::try_lock_all(
    const std::vector<std::string>& leases, const std::string& holder, int ttl_seconds) {
    std::vector<std::optional<std::string>> holders;
    for (const auto& lease : leases)
        holders.push_back(try_lock(lease, holder, ttl_seconds));
    return holders;
}

void SyncTarget::unlock_all(const std::vector<std::string>& leases, const std::string& holder) {
    for (const auto& lease : leases)
        unlock(lease, holder);
}

std::set<std::string> scope_tables(const std::string& scope) {
    auto names = split_name_list(scope);
    return {names.begin(), names.end()};
}

std::string run_scope(const std::vector<SyncTable>& tables,
                      const std::vector<std::string>& existing) {
    std::set<std::string> names;
    for (const auto& table : tables)
        names.insert(table.target.name);
    for (const auto& other : existing)
        if (scope_tables(other) == names)
            return other;
    return fmt::format("{}", fmt::join(names, ","));
}

nlohmann::json filters_by_table(const std::vector<SyncTable>& tables) {
    nlohmann::json filters = nlohmann::json::object();
    for (const auto& table : tables)
        if (table.filter)
            filters[table.target.name] = *table.filter;
    return filters;
}

Error null_key_error(const std::string& what, const std::string& column) {
    return Error(ErrorKind::invalid_input,
                 fmt::format("{} has NULL in its primary key column \"{}\"", what, column),
                 "ferry pairs rows by their key; SQLite allows NULL in the PRIMARY KEY of a "
                 "rowid table, which no upsert can match.",
                 "Give the row a key on the source (or declare the column NOT NULL), then run "
                 "again; nothing of this batch was written.");
}

std::vector<SyncTable> plan_sync_tables(SyncSource& source, SyncTarget& target,
                                        std::vector<std::string> names,
                                        const std::vector<std::string>& filters,
                                        const std::string& verb) {
    if (names.empty())
        names = source.tracked_tables();
    if (names.empty())
        throw Error(ErrorKind::invalid_input, "no tables to sync",
                    fmt::format("{} tracks no tables.", source.name()),
                    fmt::format("Name them: ferry {} --from A --to B --tables t1,t2", verb));
    std::vector<SyncTable> tables;
    std::vector<std::string> problems, hints;
    auto add_hint = [&](const std::string& hint) {
        if (std::find(hints.begin(), hints.end(), hint) == hints.end())
            hints.push_back(hint);
    };
    for (const auto& name : names) {
        try {
            SyncTable table{source.describe(name), target.describe(name), {}};
            require_same_columns(table.source, fmt::format("the source ({})", source.name()),
                                 table.target, fmt::format("the target ({})", target.name()));
            for (const auto& warning :
                 value_class_mismatches(table.source, source.name(), table.target, target.name()))
                log_line("warning: " + warning);
            tables.push_back(std::move(table));
        } catch (const Error& e) {
            problems.push_back(e.detail().empty() ? e.what()
                                                  : fmt::format("{}: {}", e.what(), e.detail()));
            if (!e.hint().empty())
                add_hint(e.hint());
            if (e.hint().empty() || e.kind() == ErrorKind::not_found)
                add_hint(
                    "Create the missing tables and columns on the target (the same names "
                    "and primary key), then run again.");
        }
    }
    if (!problems.empty())
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{} of {} tables cannot be synced; nothing was written",
                                problems.size(), names.size()),
                    fmt::format("{}", fmt::join(problems, "\n")),
                    fmt::format("{}", fmt::join(hints, "\n")));
    drop_repeats(tables, [](const SyncTable& table) {
        return table.source.name + '\n' + table.target.name;
    });
    apply_filters(source, tables, filters);
    return target.parents_first(std::move(tables));
}

std::unique_ptr<SyncSource> open_sync_source(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteSource>(address.target);
    return std::make_unique<PostgresSource>(peer);
}

std::unique_ptr<SyncTarget> open_sync_target(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteTarget>(address.target);
    return std::make_unique<PostgresTarget>(peer);
}

}  // namespace ferry::cli
