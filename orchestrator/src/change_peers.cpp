// PostgreSQL and SQLite ends of an incremental sync link (change_peers.hpp).
#include "change_peers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <initializer_list>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <nlohmann/json.hpp>

#include "ferry/canonical.hpp"
#include "ferry/change_wakeup.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "ferry/temporal.hpp"
#include "ferry/text.hpp"
#include "output.hpp"
#include "peer_identity.hpp"
#include "pg_connection.hpp"
#include "sql_text.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"
#include "table_shape.hpp"
#include "tracking.hpp"

namespace ferry::cli {
namespace {

using changes::Change;
using changes::NetChange;
using changes::Operation;
using changes::Verdict;

// Two runs of one link must never both apply a batch: a run whose lease
// expired while it stalled would write again what a second run applied, and
// move the checkpoint back. So each commit moves the checkpoint only from
// where this run last saw it.
Error checkpoint_moved(const std::string& job, const std::string& scope, const std::string& peer) {
    return Error(ErrorKind::locked,
                 fmt::format("the checkpoint of {} ({}) in {} moved while this batch was applied",
                             job, scope, peer),
                 "Another ferry sync of the same link committed meanwhile (this run's lease "
                 "expired while it stalled). Nothing of this batch was written.",
                 "Run ferry sync again: it goes on from where the other run left off.");
}

// Whether a full sync copied every one of `tables`: its checkpoint's scope
// lists the tables it copied, comma-separated.
bool scope_covers(const std::string& scope, const std::vector<std::string>& tables) {
    std::set<std::string> copied = scope_tables(scope);
    return std::all_of(tables.begin(), tables.end(),
                       [&](const std::string& t) { return copied.count(t) > 0; });
}

// The verdicts of one table's rows: first without times (which rows
// conflict at all); then, for those, with the target row's hash over the
// columns the old row had (columns added since the change was logged);
// then, for latest-wins, with the target's own change times of the rows
// still in conflict.
template <typename FetchHashes, typename FetchTimes>
std::vector<Verdict> judge_rows(const std::vector<NetChange>& rows,
                                std::vector<changes::TargetRow>& targets, const LinkRules& rules,
                                FetchHashes fetch_hashes_without_added_columns,
                                FetchTimes fetch_times) {
    std::vector<Verdict> verdicts(rows.size());
    auto still_conflicting = [&](const std::vector<size_t>& candidates) {
        std::vector<size_t> conflicting;
        for (size_t i : candidates) {
            verdicts[i] = changes::judge(rows[i], targets[i], changes::Policy::manual,
                                         rules.source_peer, rules.target_peer);
            if (changes::is_conflict(verdicts[i]))
                conflicting.push_back(i);
        }
        return conflicting;
    };
    std::vector<size_t> all(rows.size());
    for (size_t i = 0; i < rows.size(); i++)
        all[i] = i;
    std::vector<size_t> conflicting = still_conflicting(all);
    if (!conflicting.empty()) {
        fetch_hashes_without_added_columns(conflicting);
        conflicting = still_conflicting(conflicting);
    }
    if (conflicting.empty() || rules.policy == changes::Policy::manual)
        return verdicts;
    if (rules.policy == changes::Policy::latest_wins)
        fetch_times(conflicting);
    for (size_t i : conflicting)
        verdicts[i] =
            changes::judge(rows[i], targets[i], rules.policy, rules.source_peer, rules.target_peer);
    return verdicts;
}

// Fills the plan and the counts from the verdicts; returns the conflicts'
// indices with their resolution ("remote", "local", or null while open).
std::vector<std::pair<size_t, nlohmann::json>> settle(
    const changes::TableChanges& changes, const std::vector<changes::TargetRow>& targets,
    const std::vector<Verdict>& verdicts, TablePlan& plan, ApplyCounts& counts) {
    std::vector<std::pair<size_t, nlohmann::json>> conflicts;
    for (size_t i = 0; i < changes.rows.size(); i++) {
        const NetChange& row = changes.rows[i];
        Verdict verdict = verdicts[i];
        if (changes::is_conflict(verdict)) {
            counts.conflicts++;
            nlohmann::json resolution = verdict == Verdict::conflict_apply  ? "remote"
                                        : verdict == Verdict::conflict_keep ? "local"
                                                                            : nlohmann::json();
            conflicts.emplace_back(i, resolution);
        }
        bool leaves_filter = verdict == Verdict::moved_out ||
                             (verdict == Verdict::conflict_apply && targets[i].in_filter == false);
        if (leaves_filter) {
            plan.deletes.push_back(&row);
            counts.deleted++;
        } else if (verdict == Verdict::already_done) {
            counts.unchanged++;
        } else if (verdict == Verdict::conflict_keep || verdict == Verdict::conflict_open) {
            counts.kept_by_target++;
        } else if (row.row) {
            plan.upserts.push_back(&row);
            (targets[i].hash ? counts.updated : counts.inserted)++;
        } else {
            plan.deletes.push_back(&row);
            counts.deleted++;
        }
    }
    return conflicts;
}

// A truncated table is emptied and refilled from the batch: no row to
// compare with. On a filtered link only the rows inside the filter come
// (in_filter: one flag per row; empty without a filter).
TablePlan truncate_plan(const changes::TableChanges& changes, ApplyCounts& counts,
                        const std::vector<bool>& in_filter) {
    TablePlan plan;
    plan.truncate = true;
    for (size_t i = 0; i < changes.rows.size(); i++) {
        const NetChange& row = changes.rows[i];
        if (row.row && (in_filter.empty() || in_filter[i])) {
            plan.upserts.push_back(&row);
            counts.inserted++;
        }
    }
    return plan;
}

// Rolls back the applier's open transaction, if any; an error doing so
// (a connection already gone) loses nothing the database kept.
template <typename Connection>
void roll_back_open(Connection& db, bool& open) noexcept {
    if (!open)
        return;
    open = false;
    try {
        db.execute("ROLLBACK");
    } catch (...) {
    }
}

// Refuses --keep remote for conflict `id` when a newer conflict of the row
// with the same peer (`newer`, still open when `resolution` is nullopt)
// holds that peer's later version: written last, the older version would
// leave the peers apart for good (it is the peer's own change, never sent
// back to it).
void refuse_superseded(int64_t id, const std::string& newer,
                       const std::optional<std::string>& resolution) {
    throw Error(ErrorKind::conflict,
                fmt::format("conflict {} is not the newest conflict of its row: conflict {} "
                            "holds the peer's later version",
                            id, newer),
                {},
                resolution ? fmt::format("Conflict {} is resolved ({}): close {} with --keep "
                                         "local, which writes nothing.",
                                         newer, *resolution, id)
                           : fmt::format("Resolve conflict {}; that settles {} too.", newer, id));
}

std::string json_array_of(const std::vector<const NetChange*>& rows, bool keys) {
    std::string out = "[";
    for (const NetChange* row : rows) {
        if (out.size() > 1)
            out += ",";
        out += keys ? row->key : *row->row;
    }
    return out + "]";
}

// [[key, seconds since 1970], ...] of a batch's rows: when each was last
// changed at the source (ChangeApplier::keep_change_times).
std::string key_times(const changes::TableChanges& changes) {
    std::string times = "[";
    for (const NetChange& row : changes.rows)
        times += fmt::format("{}[{},{}]", times.size() > 1 ? "," : "", row.key, row.changed_at);
    return times + "]";
}

// SQL: whether the type `type_oid` is jsonb or a domain over it, at any
// depth. The set of such types is found once per query (from jsonb down to
// its domains), not once per column: a per-column search made the reader's
// query cost enough to be JIT-compiled, half a second a batch.
// An SQL condition: the type `type_oid` is `base` or a domain over it.
std::string is_of_base_type_sql(const std::string& type_oid, const std::string& base) {
    return fmt::format(
        "{} IN (WITH RECURSIVE bt(oid) AS (SELECT {}::regtype::oid UNION SELECT d.oid "
        "FROM pg_type d JOIN bt ON d.typbasetype = bt.oid WHERE d.typtype = 'd') SELECT oid "
        "FROM bt)",
        type_oid, quote_literal(base));
}

std::string is_jsonb_sql(const std::string& type_oid) {
    return is_of_base_type_sql(type_oid, "jsonb");
}

// The string of a jsonb column that holds JSON text becomes that text
// itself: the JSON value it spells, its numbers exactly as written. Text
// with a \u0000 escape, which jsonb refuses, stays a string.
std::optional<std::string> json_text_spliced(const std::string& text) {
    if (text.find("\\u0000") != std::string::npos || !nlohmann::json::accept(text))
        return std::nullopt;
    return text;
}

// Whether a SQLite column default (pragma table_info's dflt_value) is a
// literal: a number, a string, a blob, TRUE or FALSE. Only those are
// compared with a row's values; they cannot call anything.
bool is_sql_literal(const std::string& text) {
    static const std::regex literal(
        R"(^([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|0[xX][0-9a-fA-F]+|'([^']|'')*'|[xX]'[0-9a-fA-F]*'|(?:[Tt][Rr][Uu][Ee])|(?:[Ff][Aa][Ll][Ss][Ee]))$)");
    return std::regex_match(text, literal);
}

// Whether JSON text (valid) spells null.
bool is_json_null(const std::string& text) {
    size_t start = text.find_first_not_of(" \t\n\r");
    return start != std::string::npos && text.compare(start, 4, "null") == 0 &&
           text.find_first_not_of(" \t\n\r", start + 4) == std::string::npos;
}

// A row (a JSON object) with its member kJsonNullsMember listing `columns`,
// when there are any.
std::string with_json_nulls_listed(std::string row, const std::vector<std::string>& columns) {
    size_t end = row.rfind('}');
    if (columns.empty() || end == std::string::npos)
        return row;
    std::string member =
        nlohmann::json(changes::kJsonNullsMember).dump() + ":" + nlohmann::json(columns).dump();
    bool empty = row.find_first_not_of(" \t\n\r", row.find('{') + 1) == end;
    row.insert(end, (empty ? "" : ",") + member);
    return row;
}

// The string of a timestamptz column written without a zone (a SQLite
// source's) becomes its UTC form, so that PostgreSQL reads the instant
// ferry hashed rather than one in the session's TimeZone.
std::optional<std::string> zoneless_timestamp_in_utc(const std::string& text) {
    auto utc = canonical::zoneless_timestamptz_in_utc(text);
    return utc ? std::optional<std::string>(nlohmann::json(*utc).dump()) : std::nullopt;
}

// Per (table, key as the reader spells it): the position of the newest echo
// of that row in the log past the batches read so far.
using LaterEchoes = std::map<std::pair<std::string, std::string>, int64_t>;

// A change that the target's own version of its row, come back as an echo,
// superseded is passed over like the changes before an echo in one batch
// (changes::collapse), also when the echo lies beyond this batch: applied
// alone, the change would overwrite what the other direction settled
// (docs/incremental-sync.md#both-directions-and-echoes). `positions` are
// the batch's changes' positions.
void mark_superseded(ChangeBatch& batch, const std::vector<int64_t>& positions,
                     const LaterEchoes& echoes) {
    if (echoes.empty())
        return;
    for (size_t i = 0; i < batch.changes.size(); i++) {
        Change& change = batch.changes[i];
        auto echo = echoes.find({change.table, change.key});
        if (echo != echoes.end() && echo->second > positions[i] && change.op != Operation::truncate)
            change.echo = true;
    }
}

// Runs `work` inside a savepoint of the open transaction. An error with one
// of `sqlstates` rolls back to it and returns false; the transaction goes on.
template <typename Work>
bool in_savepoint(PgConnection& db, const std::string& name,
                  std::initializer_list<const char*> sqlstates, Work work) {
    db.execute("SAVEPOINT " + name);
    try {
        work();
    } catch (const PgError& error) {
        if (std::none_of(sqlstates.begin(), sqlstates.end(),
                         [&](const char* state) { return error.sqlstate() == state; }))
            throw;
        db.execute("ROLLBACK TO SAVEPOINT " + name);
        db.execute("RELEASE SAVEPOINT " + name);
        return false;
    }
    db.execute("RELEASE SAVEPOINT " + name);
    return true;
}

// ---- PostgreSQL source -----------------------------------------------------

class PostgresChangeReader : public ChangeReader {
  public:
    explicit PostgresChangeReader(const std::string& peer)
        : db_(connect_postgres_peer(peer)), peer_id_(postgres_peer_id(db_)) {
        require_ferry(db_, "0.6");  // consumers per link
    }

    const std::string& peer_id() const override { return peer_id_; }

    void register_consumer(const LinkConsumer& consumer) override {
        std::string oids = "{";
        for (const auto& oid : consumer.tables)
            oids += (oids.size() > 1 ? "," : "") + oid;
        db_.execute("SELECT ferry.register_consumer($1, $2, $3::oid[]::regclass[])",
                    {consumer.name, consumer.peer, oids + "}"});
    }

    ChangeBatch read(const std::string& cursor, size_t max_changes, const std::string& echo_origin,
                     const std::set<std::string>& tables) override {
        // In read_changes' order, which the join must keep: the last row's
        // cursor is the batch's. A jsonb string is sent as its JSON text
        // ("active" as "\"active\""), as a json value is: then SQLite stores
        // what a full sync stores, and no string is taken for the object or
        // array its text spells.
        PgResult rows = db_.query(
            // read_changes names tables schema-qualified (its search_path
            // is pg_catalog's).
            "WITH j AS MATERIALIZED (SELECT format('%I.%I', n.nspname, r.relname) AS name, "
            "array_agg(a.attname::text) AS cols FROM pg_attribute a JOIN pg_class r ON r.oid = "
            "a.attrelid JOIN pg_namespace n ON n.oid = r.relnamespace WHERE a.attrelid IN "
            "(SELECT relid FROM ferry.tracked_tables) AND a.attnum > 0 AND NOT a.attisdropped "
            "AND " +
                is_jsonb_sql("a.atttypid") +
                " GROUP BY n.nspname, r.relname) "
                "SELECT c.position, c.table_name, c.operation, " +
                json_text_of_jsonb_strings("c.key") + ", " +
                json_text_of_jsonb_strings("c.new_row") +
                ", c.old_hash, "
                "extract(epoch FROM c.changed_at)::float8, c.cursor::text, "
                "c.origin IS NOT DISTINCT FROM $3 FROM ferry.read_changes($1::jsonb, $2) WITH "
                "ORDINALITY c LEFT JOIN j ON j.name = c.table_name ORDER BY c.ordinality",
            {cursor, std::to_string(max_changes), echo_origin});
        ChangeBatch batch;
        batch.cursor = cursor;
        std::vector<int64_t> positions;  // of each change in the batch
        bool cursor_only = true;
        for (int r = 0; r < rows.rows(); r++) {
            batch.cursor = rows.text(r, 7);
            if (rows.is_null(r, 0))
                continue;
            cursor_only = false;
            const std::string& table = oid_of(rows.text(r, 1));
            if (!tables.count(table))
                continue;
            Change change;
            change.table = table;
            change.op = changes::operation_from(rows.text(r, 2));
            if (!rows.is_null(r, 3))
                change.key = rows.text(r, 3);
            change.new_row = rows.value(r, 4);
            if (!rows.is_null(r, 5))
                change.old_hash = std::stoll(rows.text(r, 5));
            change.changed_at = std::stod(rows.text(r, 6));
            change.echo = rows.text(r, 8) == "t";
            positions.push_back(std::stoll(rows.text(r, 0)));
            batch.changes.push_back(std::move(change));
        }
        // read_changes returns at most max_changes changes, counting those
        // it passes over; fewer means it reached the end. So does a batch
        // that only moves the cursor past what committed since the read
        // began (with --batch 1 every read would, the last acknowledgement
        // among it, and the link would never end).
        batch.complete = static_cast<size_t>(rows.rows()) < max_changes || cursor_only;
        if (batch.complete)
            later_echoes_.reset();  // the next batch starts from what is then committed
        else if (!positions.empty())
            pass_over_echoed(batch, positions, echo_origin);
        return batch;
    }

    void acknowledge(const std::string& consumer, const std::string& cursor) override {
        db_.execute("SELECT ferry.ack($1, $2::jsonb)", {consumer, cursor});
    }

    uint64_t purge() override { return std::stoull(db_.query("SELECT ferry.purge()").text(0, 0)); }

    std::vector<std::string> consumers_of_every_table(const std::string& peer) override {
        return db_
            .query(
                "SELECT name FROM ferry.consumers WHERE peer = $1 AND tables IS NULL ORDER BY "
                "name",
                {peer})
            .texts(0);
    }

  private:
    // mark_superseded, with the echoes found once, in one scan of the log
    // from the batch on. Two changes of one row commit in the order of their
    // positions (the second waits for the first's row lock), so "beyond" is
    // a greater position. The scan needs SELECT on ferry.changes
    // (docs/permissions.md), without which only echoes within a batch are
    // passed over.
    void pass_over_echoed(ChangeBatch& batch, const std::vector<int64_t>& positions,
                          const std::string& echo_origin) {
        if (!later_echoes_) {
            later_echoes_.emplace();
            std::optional<PgResult> rows;
            try {
                rows.emplace(
                    db_.query("WITH j AS MATERIALIZED (SELECT a.attrelid AS relid, "
                              "array_agg(a.attname::text) "
                              "AS cols FROM pg_attribute a WHERE a.attrelid IN (SELECT relid FROM "
                              "ferry.tracked_tables) AND a.attnum > 0 AND NOT a.attisdropped AND " +
                                  is_jsonb_sql("a.atttypid") +
                                  " GROUP BY a.attrelid) SELECT c.relid::text, " +
                                  json_text_of_jsonb_strings("c.key") +
                                  ", max(c.position) FROM ferry.changes c LEFT JOIN j ON j.relid = "
                                  "c.relid WHERE c.origin = $1 AND c.position > $2 GROUP BY 1, 2",
                              {echo_origin, std::to_string(positions.front())}));
            } catch (const PgError& error) {
                if (error.sqlstate() != "42501")  // insufficient_privilege
                    throw;
                return;
            }
            for (int r = 0; r < rows->rows(); r++)
                (*later_echoes_)[{rows->text(r, 0), rows->text(r, 1)}] =
                    std::stoll(rows->text(r, 2));
        }
        mark_superseded(batch, positions, *later_echoes_);
    }

    // SQL: a change's row or key (jsonb) as text, with the string values of
    // the jsonb columns j.cols written as their JSON text, and so their JSON
    // nulls (those the row's kJsonNullsMember lists: "null"), as SQLite
    // holds them; that member itself is left out. (A column listed there
    // that is jsonb no more, after an ALTER TYPE, gets "null" too: the text
    // the ALTER made of it.)
    static std::string json_text_of_jsonb_strings(const std::string& value) {
        return fmt::format(
            "CASE WHEN {0} IS NULL OR j.cols IS NULL AND NOT {0} ? {1} THEN {0}::text ELSE (SELECT "
            "jsonb_object_agg(e.key, CASE WHEN e.key = ANY (j.cols) AND jsonb_typeof(e.value) = "
            "'string' OR jsonb_typeof(e.value) = 'null' AND ({0}->{1}) ? e.key THEN "
            "to_jsonb(e.value::text) ELSE e.value END) FROM "
            "jsonb_each({0}) e WHERE e.key <> {1})::text END",
            value, quote_literal(changes::kJsonNullsMember));
    }

    // The oid of a table as read_changes names it (once per name: a regclass
    // cast per change would cost a catalog lookup each).
    const std::string& oid_of(const std::string& name) {
        auto found = oids_.find(name);
        if (found == oids_.end())
            found =
                oids_.emplace(name, db_.query("SELECT $1::regclass::oid", {name}).text(0, 0)).first;
        return found->second;
    }

    PgConnection db_;
    std::optional<LaterEchoes> later_echoes_;  // nullopt until a batch needs it
    std::string peer_id_;
    std::map<std::string, std::string> oids_;
};

// ---- SQLite source ---------------------------------------------------------

// A SQLite change row (a flat JSON object) with its reals written as the
// shortest text that reads back as the same double, as a full sync writes
// them: the capture triggers print 17 digits (12.345 as 12.345000000000001),
// which a numeric column would keep.
std::string shortest_reals(const std::string& row) {
    if (row.find('.') == std::string::npos && row.find('e') == std::string::npos &&
        row.find('E') == std::string::npos)
        return row;
    nlohmann::json parsed = nlohmann::json::parse(row, nullptr, false);
    if (!parsed.is_object())
        return row;
    std::string out = "{";
    for (const auto& item : parsed.items()) {
        out += (out.size() > 1 ? "," : "") + nlohmann::json(item.key()).dump() + ":";
        out += item.value().is_number_float() ? fmt::format("{}", item.value().get<double>())
                                              : item.value().dump();
    }
    return out + "}";
}

class SqliteChangeReader : public ChangeReader {
  public:
    explicit SqliteChangeReader(const std::string& path)
        : db_(path, false), peer_id_((require_sqlite_ferry(db_), sqlite_peer_id(db_))) {}

    const std::string& peer_id() const override { return peer_id_; }

    void register_consumer(const LinkConsumer& consumer) override {
        db_.execute("SELECT ferry_register_consumer(?1, ?2, ?3)",
                    {consumer.name, consumer.peer, nlohmann::json(consumer.tables).dump()});
    }

    // SQLite hands out positions in commit order (docs/sqlite.md), so the
    // cursor is the last position read.
    ChangeBatch read(const std::string& cursor, size_t max_changes, const std::string& echo_origin,
                     const std::set<std::string>& tables) override {
        int64_t after = position_of(cursor);
        StatementPtr rows =
            prepare(db_,
                    "SELECT position, table_name, op, key, new_row, old_row, origin, "
                    "(changed_at - 2440587.5) * 86400.0 FROM ferry_changes WHERE position > ?1 "
                    "ORDER BY position LIMIT ?2");
        sqlite3_bind_int64(rows.get(), 1, after);
        sqlite3_bind_int64(rows.get(), 2, static_cast<int64_t>(max_changes));
        StatementPtr old_hash = prepare(db_, "SELECT ferry_row_hash(?1, ?2)");
        ChangeBatch batch;
        std::vector<int64_t> positions;  // of each change in the batch
        size_t read = 0;
        int rc;
        db_.execute("BEGIN");  // one snapshot for the batch and its hashes
        try {
            while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
                read++;
                after = sqlite3_column_int64(rows.get(), 0);
                std::string table = column_text(rows.get(), 1);
                std::optional<std::string> origin = column_value(rows.get(), 6);
                if (!tables.count(table))
                    continue;
                require_utf8(rows.get(), after, table);
                Change change;
                change.table = table;
                change.op = changes::operation_from(column_text(rows.get(), 2));
                change.key = shortest_reals(column_text(rows.get(), 3));
                if (auto new_row = column_value(rows.get(), 4))
                    change.new_row = shortest_reals(*new_row);
                if (auto old_row = column_value(rows.get(), 5)) {
                    change.old_hash = hash_of(old_hash.get(), table, *old_row);
                    if (change.op == Operation::remove)
                        change.old_row = std::move(*old_row);
                }
                change.changed_at = sqlite3_column_double(rows.get(), 7);
                change.echo = origin == echo_origin;
                positions.push_back(after);
                batch.changes.push_back(std::move(change));
            }
            if (rc != SQLITE_DONE)
                throw Error(ErrorKind::io, sqlite3_errmsg(db_.handle()),
                            fmt::format("Reading the change log of {}.", db_.peer()));
            if (read < max_changes)
                later_echoes_.reset();  // the next batch starts from what is then committed
            else if (!positions.empty())
                pass_over_echoed(batch, positions, echo_origin);
            db_.execute("COMMIT");
        } catch (...) {
            db_.execute("ROLLBACK");
            throw;
        }
        batch.cursor = nlohmann::json{{"position", after}}.dump();
        batch.complete = read < max_changes;
        return batch;
    }

    void acknowledge(const std::string& consumer, const std::string& cursor) override {
        db_.execute("SELECT ferry_ack(?1, ?2)", {consumer, std::to_string(position_of(cursor))});
    }

    uint64_t purge() override {
        return std::stoull(db_.query("SELECT ferry_purge()").at(0).at(0).value_or("0"));
    }

    std::vector<std::string> consumers_of_every_table(const std::string& peer) override {
        return db_.texts(
            "SELECT name FROM ferry_consumers WHERE peer = ?1 AND tables IS NULL ORDER BY name",
            {peer});
    }

  private:
    // mark_superseded, with the echoes after the first such batch found
    // once, in one scan.
    void pass_over_echoed(ChangeBatch& batch, const std::vector<int64_t>& positions,
                          const std::string& echo_origin) {
        if (!later_echoes_) {
            later_echoes_.emplace();
            // Keys as read() spells them for the batch.
            for (const auto& row : db_.query(
                     "SELECT table_name, key, max(position) FROM ferry_changes WHERE position >= "
                     "?1 AND origin = ?2 GROUP BY table_name, key",
                     {std::to_string(positions.front()), echo_origin}))
                (*later_echoes_)[{row.at(0).value_or(""), shortest_reals(row.at(1).value_or(""))}] =
                    std::stoll(row.at(2).value_or("0"));
        }
        mark_superseded(batch, positions, *later_echoes_);
    }

    static int64_t position_of(const std::string& cursor) {
        nlohmann::json parsed = nlohmann::json::parse(cursor, nullptr, false);
        if (!parsed.is_object() || !parsed.contains("position") ||
            !parsed["position"].is_number_integer())
            throw Error(ErrorKind::invalid_input,
                        fmt::format("invalid change cursor for a SQLite source: {}", cursor), {},
                        "The link's checkpoint was not written by a sync from this peer: start "
                        "it over with ferry full-sync.");
        return parsed["position"].get<int64_t>();
    }

    static std::string column_text(sqlite3_stmt* s, int column) {
        auto text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
        return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(s, column)))
                    : std::string();
    }
    static std::optional<std::string> column_value(sqlite3_stmt* s, int column) {
        if (sqlite3_column_type(s, column) == SQLITE_NULL)
            return std::nullopt;
        return column_text(s, column);
    }

    // JSON carries text as UTF-8, and SQLite stores whatever bytes it is
    // given: a change whose row holds other bytes can be neither hashed nor
    // written anywhere, so the link stops on it, saying how to go on.
    void require_utf8(sqlite3_stmt* row, int64_t position, const std::string& table) const {
        for (int column : {3, 4, 5}) {  // key, new_row, old_row
            auto bytes = reinterpret_cast<const char*>(sqlite3_column_text(row, column));
            std::string_view logged(bytes ? bytes : "",
                                    static_cast<size_t>(sqlite3_column_bytes(row, column)));
            if (text::invalid_utf8_at(logged) == std::string_view::npos)
                continue;
            throw Error(ErrorKind::invalid_input,
                        fmt::format("change {} to {} in {} holds text that is not valid UTF-8",
                                    position, table, db_.peer()),
                        "Its key: " + valid_utf8(column_text(row, 3)),
                        "ferry sync carries text as UTF-8 only. Make the row's text valid UTF-8 "
                        "on the source (or keep such bytes in a BLOB column), copy the table "
                        "again with ferry full-sync, then run ferry sync: it starts where that "
                        "copy ended.");
        }
    }

    int64_t hash_of(sqlite3_stmt* statement, const std::string& table, const std::string& row) {
        sqlite3_bind_text(statement, 1, table.data(), static_cast<int>(table.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(statement, 2, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
        if (sqlite3_step(statement) != SQLITE_ROW)
            throw Error(
                ErrorKind::invalid_input, sqlite3_errmsg(db_.handle()),
                fmt::format("Hashing the old row of a change to {} in {}.", table, db_.peer()),
                "If the table changed after ferry_track(), run ferry_track() again.");
        int64_t hash = sqlite3_column_int64(statement, 0);
        sqlite3_reset(statement);
        return hash;
    }

    SqliteConnection db_;
    std::string peer_id_;
    std::optional<LaterEchoes> later_echoes_;  // nullopt until a batch needs it
};

// ---- PostgreSQL target -----------------------------------------------------

class PostgresChangeApplier : public ChangeApplier {
  public:
    explicit PostgresChangeApplier(const std::string& peer)
        : db_(connect_postgres_peer(peer)), peer_id_(postgres_peer_id(db_)) {}
    ~PostgresChangeApplier() override { rollback(); }

    const std::string& peer_id() const override { return peer_id_; }

    std::optional<std::string> begin_link(const std::string& job, const std::string& scope,
                                          bool restart) override {
        require_ferry(db_, "0.11");  // keep_change_times() with the caller's rights
        link_position_ =
            db_.query("SELECT position::text FROM ferry.checkpoint_begin($1, $2, NULL, $3)",
                      {job, scope, restart ? "true" : "false"})
                .value(0, 0);
        return link_position_;
    }
    void fail_link(const std::string& job, const std::string& scope,
                   const std::string& error) override {
        db_.execute("SELECT ferry.checkpoint_fail($1, $2, $3)", {job, scope, error});
    }
    std::vector<std::string> checkpoint_scopes(const std::string& job) override {
        return postgres_checkpoint_scopes(db_, job);
    }

    std::optional<Copy> last_full_sync(const std::string& source_peer,
                                       const std::vector<std::string>& tables) override {
        PgResult copies = db_.query(
            "SELECT scope, position->'source'->'cursor', position->'target_cursor', "
            "position->'where' FROM "
            "ferry.checkpoints WHERE job LIKE 'full-sync from %' AND status = 'completed' AND "
            "position->'source'->>'peer' = $1 ORDER BY last_completed_at DESC",
            {source_peer});
        for (int r = 0; r < copies.rows(); r++)
            if (!copies.is_null(r, 1) && scope_covers(copies.text(r, 0), tables))
                return Copy{copies.text(r, 1), copies.value(r, 2), copies.value(r, 3)};
        return std::nullopt;
    }

    void begin(const std::string& origin) override {
        db_.execute("BEGIN");
        open_ = true;
        leftovers_.clear();
        locked_rows_.clear();
        db_.execute("SELECT ferry.set_origin($1)", {origin});
    }

    // A jsonb column's string is JSON text, from either engine: SQLite
    // holds JSON as text, and the PostgreSQL reader sends jsonb strings as
    // their JSON text. It becomes the JSON value it spells, in the row and
    // in the key. Text that is not JSON (a jsonb string ferry 0.5 wrote into
    // SQLite bare) stays a string. The row lists the columns whose text was
    // JSON null under kJsonNullsMember: a null member is SQL NULL.
    // A conflict's recorded row was adapted before it was recorded: its
    // jsonb values are JSON already (a string there is a string).
    void adapt(const SyncTable& table, changes::TableChanges& changes, RowSource source) override {
        const RowSql& row = row_sql(table.target);
        if (row.jsonb.empty() && row.timestamptz.empty())
            return;
        auto rewrite = [&](const std::string& column, const std::string& value) {
            if (row.jsonb.count(column))
                return source == RowSource::batch ? json_text_spliced(value)
                                                  : std::optional<std::string>();
            if (row.timestamptz.count(column))
                return zoneless_timestamp_in_utc(value);
            return std::optional<std::string>();
        };
        for (NetChange& change : changes.rows) {
            if (change.row) {
                std::vector<std::string> json_nulls;
                auto rewrite_row = [&](const std::string& column, const std::string& value) {
                    auto rewritten = rewrite(column, value);
                    if (rewritten && row.jsonb.count(column) && is_json_null(*rewritten))
                        json_nulls.push_back(column);
                    return rewritten;
                };
                if (auto rewritten = changes::with_strings_rewritten(*change.row, rewrite_row))
                    change.row = with_json_nulls_listed(std::move(*rewritten), json_nulls);
            }
            if (auto rewritten = changes::with_strings_rewritten(change.key, rewrite))
                change.key = std::move(*rewritten);
        }
    }

    TablePlan judge(const SyncTable& table, const changes::TableChanges& changes,
                    const LinkRules& rules, ApplyCounts& counts) override {
        if (changes.truncated) {
            locked_rows_[table.target.oid] = nlohmann::json::array();  // see write_truncate
            return truncate_plan(changes, counts, rows_in_filter(table, changes));
        }
        if (!fast_path_fits(table))
            return judge_each(table, changes, rules, counts);
        std::vector<bool> done = update_unchanged_since(table.target, changes);
        if (std::none_of(done.begin(), done.end(), [](bool d) { return d; }))
            return judge_each(table, changes, rules, counts);  // no copy of the rows
        changes::TableChanges& rest = leftovers_.emplace_back();
        rest.table = changes.table;
        for (size_t i = 0; i < changes.rows.size(); i++)
            if (done[i])
                counts.updated++;
            else
                rest.rows.push_back(changes.rows[i]);
        if (rest.rows.empty())
            return {};
        return judge_each(table, rest, rules, counts);
    }

  private:
    // The fast path (docs/incremental-sync.md#applying): one UPDATE per table
    // and batch writes every updated row whose target row still hashes to
    // the change's old-row hash and differs from the new row, which is what
    // judge_each would decide for it under any policy; the other rows
    // (inserts, deletes, conflicts, rows already there, rows lacking or
    // adding columns) go through judge_each. Only without a row filter
    // (which may move a row out) and for a target table without foreign keys:
    // the judge phase writes before the parents' inserts, which such a row
    // could otherwise reference.
    bool fast_path_fits(const SyncTable& table) {
        return !table.filter && !has_foreign_key(table.target.oid, "conrelid");
    }

    // Whether a foreign key starts at (`side` conrelid) or points at
    // (confrelid) table `oid`; asked once per table and run.
    bool has_foreign_key(const std::string& oid, const std::string& side) {
        return cached_exists(foreign_keys_[side], oid,
                             "SELECT EXISTS (SELECT FROM pg_constraint WHERE " + side +
                                 " = $1::oid AND contype = 'f')");
    }

    // `exists` (a query answering true or false for the table oid $1) for
    // table `oid`, asked once and kept in `known`.
    bool cached_exists(std::map<std::string, bool>& known, const std::string& oid,
                       const std::string& exists) {
        auto found = known.find(oid);
        if (found == known.end())
            found = known.emplace(oid, db_.query(exists, {oid}).text(0, 0) == "t").first;
        return found->second;
    }

    // Whether changes this database receives from `source` may be weighed
    // by another peer: a link reads this database for a peer other than
    // `source`, or another peer's changes are synced into it (and judged
    // against these). Two peers linked only to each other are not (their
    // own changes never go back to them). Asked once per run; without
    // SELECT on ferry.consumers, assumed.
    bool relays_changes(const std::string& source) {
        if (!relays_) {
            try {
                relays_ = db_.query(
                                 "SELECT EXISTS (SELECT FROM ferry.consumers WHERE peer IS "
                                 "DISTINCT FROM $1) OR EXISTS (SELECT FROM ferry.checkpoints "
                                 "WHERE job LIKE 'sync from %' AND job <> 'sync from ' || $1)",
                                 {source})
                              .text(0, 0) == "t";
            } catch (const PgError& error) {
                if (error.sqlstate() != "42501")  // insufficient_privilege
                    throw;
                relays_ = true;
            }
        }
        return *relays_;
    }

    // Whether this database tracks table `oid` (its changes are logged);
    // asked once per table and run.
    bool logs_table(const std::string& oid) {
        return cached_exists(tracked_, oid,
                             "SELECT EXISTS (SELECT FROM ferry.tracked_tables WHERE relid = "
                             "$1::oid)");
    }

    // Which rows of `changes` the fast UPDATE wrote.
    std::vector<bool> update_unchanged_since(const PeerTable& target,
                                             const changes::TableChanges& changes) {
        std::vector<bool> done(changes.rows.size(), false);
        std::vector<size_t> candidates;
        std::string items = "[";
        for (size_t i = 0; i < changes.rows.size(); i++) {
            const NetChange& row = changes.rows[i];
            if (!row.row || row.first == Operation::insert || !row.old_hash)
                continue;
            candidates.push_back(i);
            items += fmt::format("{}{{\"r\":{},\"h\":{}}}", items.size() > 1 ? "," : "", *row.row,
                                 *row.old_hash);
        }
        items += "]";
        const RowSql& row = row_sql(target);
        std::string set;
        for (size_t c = 0; c < row.names.size(); c++)
            if (std::find(target.key_columns.begin(), target.key_columns.end(), row.names[c]) ==
                target.key_columns.end())
                set += fmt::format("{}{} = {}", set.empty() ? "" : ", ",
                                   quote_identifier(row.names[c]), row.exprs[c]);
        if (candidates.empty() || set.empty())
            return done;
        // The new row is compared with the old-row hash, which the target
        // row's must equal: PostgreSQL would hash the target row twice.
        // A row may take a UNIQUE value that a delete of this batch frees:
        // deletes come after judging, so that UPDATE fails. Then every row
        // goes through judge_each, whose writes come after the deletes.
        std::optional<PgResult> updated;
        bool wrote = in_savepoint(db_, "ferry_fast_update", {"23505", "23P01"}, [&] {
            updated.emplace(db_.query(
                fmt::format(
                    "UPDATE {0} AS t SET {1} FROM (SELECT ARRAY(SELECT "
                    "jsonb_array_elements_text($2::jsonb)) AS a) c CROSS JOIN "
                    "jsonb_array_elements($1::jsonb) WITH ORDINALITY AS i(item, ord) CROSS JOIN "
                    "LATERAL (SELECT i.item->'r' AS r) AS x CROSS JOIN LATERAL "
                    "jsonb_to_record(x.r) AS p{4} WHERE {2} AND x.r ?& c.a AND (x.r - "
                    "c.a - {5}) = '{{}}' AND ferry.row_hash(t.*) = (i.item->>'h')::bigint AND "
                    "(i.item->>'h')::bigint <> ferry.row_hash(ROW({3})::{0}) RETURNING i.ord",
                    target.name, set, key_match(target.key_columns, "t", "p", "="), row.whole_row,
                    row.definition, quote_literal(changes::kJsonNullsMember)),
                {items, nlohmann::json(target.columns).dump()}));
        });  // unique_violation, exclusion_violation
        if (!wrote)
            return done;
        for (int r = 0; r < updated->rows(); r++)
            done[candidates.at(std::stoull(updated->text(r, 0)) - 1)] = true;
        return done;
    }

    // The batch's rows as one JSON array for a query: [{"k": key, "r": row}].
    static std::string batch_items(const changes::TableChanges& changes) {
        std::string items = "[";
        for (const NetChange& row : changes.rows)
            items += fmt::format("{}{{\"k\":{},\"r\":{}}}", items.size() > 1 ? "," : "", row.key,
                                 row.row ? *row.row : "null");
        return items + "]";
    }

    // Each row checked against the target in one query, conflicts settled
    // and recorded: the plan of what to write.
    TablePlan judge_each(const SyncTable& table, const changes::TableChanges& changes,
                         const LinkRules& rules, ApplyCounts& counts) {
        const PeerTable& target = table.target;
        std::string items = batch_items(changes);
        std::string key_null = "t." + quote_identifier(target.key_columns.at(0)) + " IS NULL";
        // Per row: the target row's hash, the hash of the row the batch
        // leaves (read as the target's row type), and whether that row has
        // a column the target lacks, or lacks one it has.
        const RowSql& row = row_sql(target);
        PgResult found = db_.query(
            fmt::format(
                "SELECT CASE WHEN {0} THEN NULL ELSE ferry.row_hash(t.*) END, "
                "CASE WHEN jsonb_typeof(i.item->'r') = 'object' THEN "
                "ferry.row_hash(ROW({3})::{1}) END, "
                "jsonb_typeof(i.item->'r') = 'object' AND (i.item->'r') - c.a - {7} <> '{{}}', "
                "jsonb_typeof(i.item->'r') = 'object' AND NOT (i.item->'r') ?& c.a, {5} "
                "FROM (SELECT ARRAY(SELECT jsonb_array_elements_text($2::jsonb)) AS a) c "
                "CROSS JOIN jsonb_array_elements($1::jsonb) WITH ORDINALITY AS i(item, ord) "
                "CROSS JOIN LATERAL jsonb_to_record(i.item->'k') AS k{6} "
                "LEFT JOIN {1} AS t ON {2} "
                "CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(i.item->'r') <> "
                "'object' THEN '{{}}' {4} ELSE i.item->'r' END AS r) AS x "
                "CROSS JOIN LATERAL jsonb_to_record(x.r) AS p{6} "
                "ORDER BY i.ord",
                key_null, target.name, key_match(target.key_columns, "t", "k", "="), row.whole_row,
                fmt::format("WHEN NOT {} AND NOT (i.item->'r') ?& c.a THEN {}", key_null,
                            merged_with_target(row, "i.item->'r'")),
                in_filter_sql(table), row.definition, quote_literal(changes::kJsonNullsMember)),
            {items, nlohmann::json(target.columns).dump()});
        std::vector<changes::TargetRow> targets(changes.rows.size());
        bool merge = false;
        for (int r = 0; r < found.rows(); r++) {
            if (found.text(r, 2) == "t")
                refuse_unknown_columns(target, items);
            merge = merge || found.text(r, 3) == "t";
            auto& t = targets[static_cast<size_t>(r)];
            if (table.filter && !found.is_null(r, 4))
                t.in_filter = found.text(r, 4) == "t";
            if (!found.is_null(r, 0))
                t.hash = std::stoll(found.text(r, 0));
            if (!found.is_null(r, 1))
                t.new_hash = std::stoll(found.text(r, 1));
        }
        merge_[target.oid] = merge;
        lock_judged_rows(target, changes, targets);
        auto fetch_times = [&](const std::vector<size_t>& rows) {
            std::vector<std::string> keys;
            for (size_t i : rows)
                keys.push_back(changes.rows[i].key);
            PgResult times = db_.query(
                "SELECT k.ord, extract(epoch FROM max(c.changed_at))::float8 FROM "
                "jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(key, ord) JOIN "
                "ferry.changes c ON c.relid = $2::oid AND c.key = k.key AND c.origin IS "
                "DISTINCT FROM $3 GROUP BY k.ord",
                {json_arrays(keys, keys.size()).at(0), target.oid, rules.source_peer});
            for (int r = 0; r < times.rows(); r++)
                targets[rows[std::stoull(times.text(r, 0)) - 1]].last_changed =
                    std::stod(times.text(r, 1));
        };
        auto fetch_hashes = [&](const std::vector<size_t>& rows) {
            hash_without_added_columns(target, changes, rows, targets);
        };
        std::vector<Verdict> verdicts =
            judge_rows(changes.rows, targets, rules, fetch_hashes, fetch_times);
        TablePlan plan;
        auto conflicts = settle(changes, targets, verdicts, plan, counts);
        if (!conflicts.empty())
            record_conflicts(target, changes, conflicts, rules);
        return plan;
    }

    // One query over the target rows of `changes.rows[rows]` (those the
    // target has): each row's ordinal in `rows` (from 1) and `select` over
    // the target row t.
    PgResult query_target_rows(const PeerTable& target, const changes::TableChanges& changes,
                               const std::vector<size_t>& rows, const std::string& select,
                               const std::string& tail = "") {
        std::string keys = "[";
        for (size_t i : rows)
            keys += (keys.size() > 1 ? "," : "") + changes.rows[i].key;
        return db_.query(
            fmt::format("SELECT i.ord, {0} FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY "
                        "AS i(item, ord) CROSS JOIN LATERAL jsonb_to_record(i.item) AS k{1} JOIN "
                        "{2} AS t ON {3}{4}",
                        select, row_sql(target).definition, target.name,
                        key_match(target.key_columns, "t", "k", "="), tail),
            {keys + "]"});
    }

    // Locks the target rows the batch found (in key order) and checks that
    // they still hash as judged: a local writer's change to one of them
    // then waits for the batch to commit, and travels back as a change of
    // its own, instead of being overwritten unseen. A row changed or
    // deleted since it was judged makes the batch be judged again. A row
    // the target lacked cannot be locked: write_upserts guards those. (The
    // fast UPDATE needs nothing: its WHERE is checked again on a row
    // changed under it.) Rows of a table that foreign keys reference are
    // locked FOR UPDATE: a local insert of a row referencing one then waits
    // for the batch, so that the batch's delete or key change of the
    // referenced row cannot rewrite (ON DELETE SET NULL, ON UPDATE CASCADE)
    // a local row that write_upserts would then take for the batch's own.
    // Tables are judged parents first, so the rows of a child table are
    // judged after its parents' are locked.
    void lock_judged_rows(const PeerTable& target, const changes::TableChanges& changes,
                          const std::vector<changes::TargetRow>& targets) {
        nlohmann::json& locked_here = locked_rows_[target.oid] = nlohmann::json::array();
        std::vector<size_t> found;
        for (size_t i = 0; i < targets.size(); i++)
            if (targets[i].hash)
                found.push_back(i);
        if (found.empty())
            return;
        PgResult locked = query_target_rows(
            target, changes, found, "ferry.row_hash(t.*), t.tableoid, t.ctid",
            fmt::format(" ORDER BY {} FOR {}UPDATE OF t", join_quoted(target.key_columns, "t."),
                        has_foreign_key(target.oid, "confrelid") ? "" : "NO KEY "));
        size_t unchanged = 0;
        for (int r = 0; r < locked.rows(); r++) {
            unchanged += std::stoll(locked.text(r, 1)) ==
                         *targets[found.at(std::stoull(locked.text(r, 0)) - 1)].hash;
            locked_here.push_back({locked.text(r, 2), locked.text(r, 3)});
        }
        if (unchanged < found.size())
            throw TargetChangedWhileApplying(
                ErrorKind::conflict,
                fmt::format("{} of {} rows of {} were changed by another session while the "
                            "batch was judged",
                            found.size() - unchanged, found.size(), target.name));
    }

    // For the conflicting `rows` whose target row exists: its hashes over
    // the column sets the change's old row may have had, when the target
    // has more columns (docs/incremental-sync.md#schema-changes-and-refused-values).
    // One query per set of columns: after an ADD COLUMN on both peers, one.
    void hash_without_added_columns(const PeerTable& target, const changes::TableChanges& changes,
                                    const std::vector<size_t>& rows,
                                    std::vector<changes::TargetRow>& targets) {
        std::vector<size_t> present;
        for (size_t i : rows)
            if (targets[i].hash && changes.rows[i].first != Operation::insert)
                present.push_back(i);
        if (present.empty())
            return;
        // Deletes log no row here: their columns are judged from the target's.
        std::vector<size_t> unlogged;
        for (size_t i : present)
            if (!changes::old_row_columns(changes.rows[i]))
                unlogged.push_back(i);
        std::map<size_t, std::string> target_rows;
        std::map<size_t, std::vector<std::string>> at_default;
        if (!unlogged.empty()) {
            PgResult found = query_target_rows(
                target, changes, unlogged, "to_jsonb(t.*)::text, " + at_added_default_sql(target));
            for (int r = 0; r < found.rows(); r++) {
                size_t i = unlogged.at(std::stoull(found.text(r, 0)) - 1);
                target_rows[i] = found.text(r, 1);
                at_default[i] =
                    nlohmann::json::parse(found.text(r, 2)).get<std::vector<std::string>>();
            }
        }
        const std::vector<std::string>& columns = row_sql(target).in_table_order;
        std::map<std::vector<std::string>, std::vector<size_t>> by_columns;
        for (size_t i : present)
            for (auto& set : changes::column_sets_before_added(changes.rows[i], columns,
                                                               target_rows[i], at_default[i]))
                by_columns[std::move(set)].push_back(i);
        for (const auto& [set, group] : by_columns) {
            PgResult hashes = query_target_rows(
                target, changes, group,
                "(SELECT ferry.row_hash(s.*) FROM (SELECT " + join_quoted(set, "t.") + ") AS s)");
            for (int r = 0; r < hashes.rows(); r++)
                targets[group.at(std::stoull(hashes.text(r, 0)) - 1)]
                    .hashes_without_added_columns.push_back(std::stoll(hashes.text(r, 1)));
        }
    }

    // SQL over the target row t: a JSON array naming its generated columns
    // and the columns that hold the value ADD COLUMN gave the rows it found:
    // a default PostgreSQL kept for them (attmissingval, in the table or,
    // when partitioned, in any of its partitions) or a default that calls
    // no volatile function (evaluated here: it cannot take a sequence value
    // or write anything; one that depends on the time simply never matches).
    // Compared as the column's type prints them (false and f, 'a' and
    // 'a  ' in a char(3), 10.0.0.1 and 10.0.0.1/32 in an inet).
    std::string at_added_default_sql(const PeerTable& target) {
        PgResult columns = db_.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', "
            "CASE WHEN d.adbin::text NOT LIKE '%{NEXTVALUEEXPR%' AND NOT EXISTS (SELECT FROM "
            "regexp_matches(d.adbin::text, ':(?:op)?funcid (\\d+)', 'g') AS f JOIN pg_proc p ON "
            "p.oid = f[1]::oid WHERE p.provolatile = 'v') THEN pg_get_expr(d.adbin, d.adrelid) "
            "END, "
            "(SELECT to_jsonb(array_agg(DISTINCT (m.attmissingval::text::text[])[1]))::text FROM "
            "pg_attribute m "
            "WHERE m.attrelid IN (SELECT relid FROM pg_partition_tree($1::oid)) AND m.attname = "
            "a.attname AND m.atthasmissing) FROM pg_attribute a LEFT JOIN pg_attrdef d ON "
            "d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = $1::oid AND "
            "a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            {target.oid});
        std::string tests;
        for (int r = 0; r < columns.rows(); r++) {
            std::string name = quote_literal(columns.text(r, 0));
            std::vector<std::string> values;
            if (!columns.is_null(r, 3))
                values.push_back("(" + columns.text(r, 3) + ")::text");
            if (!columns.is_null(r, 4))
                for (const auto& missing : nlohmann::json::parse(columns.text(r, 4)))
                    if (missing.is_string())
                        values.push_back(fmt::format("({}::{})::text",
                                                     quote_literal(missing.get<std::string>()),
                                                     columns.text(r, 1)));
            std::string test;
            if (columns.text(r, 2) == "t")
                test = name;
            else if (!values.empty())
                test = fmt::format("CASE WHEN t.{}::text = ANY (ARRAY[{}]) THEN {} END",
                                   quote_identifier(columns.text(r, 0)), fmt::join(values, ", "),
                                   name);
            if (!test.empty())
                tests += (tests.empty() ? "" : ", ") + test;
        }
        return tests.empty() ? "'[]'" : names_holding(tests) + "::text";
    }

    // SQL: a jsonb array of the names that `cases` (comma-separated SQL
    // expressions, each a column's name or NULL) give.
    static std::string names_holding(const std::string& cases) {
        return "to_jsonb(array_remove(ARRAY[" + cases + "]::text[], NULL))";
    }

  public:
    std::vector<bool> rows_in_filter(const SyncTable& table,
                                     const changes::TableChanges& changes) override {
        std::vector<bool> inside;
        if (!table.filter)
            return inside;
        PgResult found = db_.query(
            fmt::format("SELECT coalesce({0}, false) FROM jsonb_array_elements($1::jsonb) WITH "
                        "ORDINALITY AS i(item, ord) CROSS JOIN LATERAL (SELECT CASE WHEN "
                        "jsonb_typeof(i.item->'r') <> 'object' THEN '{{}}' ELSE i.item->'r' END "
                        "AS r) AS x CROSS JOIN LATERAL jsonb_to_record(x.r) AS p{1} ORDER BY i.ord",
                        in_filter_sql(table), row_sql(table.target).definition),
            {batch_items(changes)});
        for (int r = 0; r < found.rows(); r++)
            inside.push_back(found.text(r, 0) == "t");
        return inside;
    }

    std::optional<std::string> link_filter(const std::string& source_peer,
                                           const std::string& table) override {
        PgResult found = db_.query(
            "SELECT w.value FROM ferry.checkpoints c CROSS JOIN LATERAL jsonb_each_text(CASE WHEN "
            "jsonb_typeof(c.position->'where') = 'object' THEN c.position->'where' ELSE '{}' END) "
            "AS w WHERE c.job = 'sync from ' || $1 AND w.key = $2 LIMIT 1",
            {source_peer, table});
        return found.rows() ? std::optional<std::string>(found.text(0, 0)) : std::nullopt;
    }
    std::set<std::string> link_policies(const std::string& source_peer,
                                        const std::vector<std::string>& tables) override {
        PgResult found = db_.query(
            "SELECT DISTINCT c.position->>'policy' FROM ferry.checkpoints c WHERE c.job = "
            "'sync from ' || $1 AND c.position->>'policy' IS NOT NULL AND jsonb_typeof("
            "c.position->'tables') = 'array' AND EXISTS (SELECT FROM jsonb_array_elements_text("
            "c.position->'tables') AS t(name) WHERE t.name IN (SELECT jsonb_array_elements_text("
            "$2::jsonb)))",
            {source_peer, nlohmann::json(tables).dump()});
        std::set<std::string> policies;
        for (int r = 0; r < found.rows(); r++)
            policies.insert(found.text(r, 0));
        return policies;
    }

    // One statement in the batch's order: an update that frees a UNIQUE
    // value and an insert that takes it, or a row and a new row of the same
    // table it references, are checked together at its end. In a table
    // judged in this transaction, an existing row is overwritten only if
    // the batch locked it when judging or this transaction wrote it (its
    // own earlier writes, the target's triggers): any other was inserted
    // by a local writer after the batch found its key missing.
    void write_upserts(const SyncTable& table, const TablePlan& plan) override {
        if (plan.upserts.empty())
            return;
        const PeerTable& target = table.target;
        std::string set;
        const RowSql& row = row_sql(target);
        for (const auto& column : row.names)
            if (std::find(target.key_columns.begin(), target.key_columns.end(), column) ==
                target.key_columns.end())
                set += fmt::format("{}{} = excluded.{}", set.empty() ? "" : ", ",
                                   quote_identifier(column), quote_identifier(column));
        std::string key_null = "t." + quote_identifier(target.key_columns.at(0)) + " IS NULL";
        // Rows that lack a column first take the target row's values.
        // A table this run did not judge (ferry conflicts --resolve writes
        // a recorded row) may lack columns: merge with the target's row.
        auto judged = merge_.find(target.oid);
        bool merge = judged == merge_.end() || judged->second;
        std::string current =
            merge ? fmt::format(
                        "CROSS JOIN LATERAL jsonb_to_record(i.r) AS k{2} "
                        "LEFT JOIN {0} AS t ON {1} ",
                        target.name, key_match(target.key_columns, "t", "k", "="), row.definition)
                  : "";
        auto locked = locked_rows_.find(target.oid);
        bool guarded = !set.empty() && locked != locked_rows_.end();
        std::vector<Param> params{json_array_of(plan.upserts, false)};
        if (guarded)
            params.emplace_back(locked->second.dump());
        // OVERRIDING SYSTEM VALUE: the source's values of GENERATED ALWAYS
        // identity columns (a key such as pgbench_history.id) are kept.
        PgResult written = db_.query(
            fmt::format("INSERT INTO {0} AS ferry_target ({1}) OVERRIDING SYSTEM VALUE SELECT {2} "
                        "FROM jsonb_array_elements($1::jsonb) AS i(r) {5}CROSS JOIN LATERAL "
                        "(SELECT CASE WHEN false THEN NULL {6} ELSE i.r END AS r) AS x "
                        "CROSS JOIN LATERAL jsonb_to_record(x.r) AS p{7} "
                        "ON CONFLICT ({3}) {4}{8}",
                        target.name, join_quoted(row.names), row.values,
                        join_quoted(target.key_columns),
                        set.empty() ? "DO NOTHING" : "DO UPDATE SET " + set, current,
                        merged_row(row, merge, key_null, "i.r"), row.definition,
                        guarded ? " WHERE " + written_here("ferry_target") : ""),
            params);
        // Fewer rows written: the guard held some back, or the target's
        // triggers skipped them (a BEFORE trigger returning NULL).
        if (guarded && std::stoull(PQcmdTuples(written.raw())) < plan.upserts.size())
            refuse_local_inserts(target, plan, params.back());
    }

  private:
    // Whether the row `alias` was locked by the batch (the [tableoid, ctid]
    // pairs in the query's $2: a ctid alone repeats across partitions) or
    // written by this transaction.
    static std::string written_here(const std::string& alias) {
        return fmt::format(
            "(ferry.is_current_transaction({0}.xmin) OR ({0}.tableoid, {0}.ctid) "
            "IN (SELECT (e->>0)::oid, (e->>1)::tid FROM "
            "jsonb_array_elements($2::jsonb) AS e))",
            alias);
    }

    // After a guarded upsert wrote fewer rows than it was given: a row that
    // holds one of their keys and that neither the batch locked nor this
    // transaction wrote was inserted by a local writer after the batch
    // found the key missing. The batch is then judged again (that row is
    // now a conflict) instead of the row being overwritten unseen.
    void refuse_local_inserts(const PeerTable& target, const TablePlan& plan, const Param& locked) {
        PgResult inserted = db_.query(
            fmt::format("SELECT count(*) FROM jsonb_to_recordset($1::jsonb) AS k{0} JOIN {1} AS "
                        "t ON {2} WHERE NOT {3}",
                        row_sql(target).definition, target.name,
                        key_match(target.key_columns, "t", "k", "="), written_here("t")),
            {json_array_of(plan.upserts, true), locked});
        if (inserted.text(0, 0) != "0")
            throw TargetChangedWhileApplying(
                ErrorKind::conflict,
                fmt::format("{} of {} rows to write into {} were inserted by another session "
                            "while the batch was applied",
                            inserted.text(0, 0), plan.upserts.size(), target.name));
    }

  public:
    void write_truncate(const SyncTable& table, const TablePlan& plan,
                        ApplyCounts& counts) override {
        if (!plan.truncate)
            return;
        PgResult gone = db_.query("DELETE FROM " + table.target.name);
        counts.deleted += std::stoull(PQcmdTuples(gone.raw()));
        // Rows the target's triggers kept from the delete are the batch's
        // to overwrite (write_upserts), like rows found when judging.
        PgResult kept = db_.query("SELECT t.tableoid, t.ctid FROM " + table.target.name +
                                  " AS t FOR UPDATE OF t");
        nlohmann::json& locked = locked_rows_[table.target.oid];
        for (int r = 0; r < kept.rows(); r++)
            locked.push_back({kept.text(r, 0), kept.text(r, 1)});
    }

    bool write_deletes(const SyncTable& table, const TablePlan& plan,
                       bool unless_referenced) override {
        if (plan.deletes.empty())
            return true;
        const PeerTable& target = table.target;
        std::string sql = fmt::format(
            "DELETE FROM {0} t USING jsonb_to_recordset($1::jsonb) AS k{2} WHERE {1}", target.name,
            key_match(target.key_columns, "t", "k", "="), row_sql(target).definition);
        std::vector<Param> keys{json_array_of(plan.deletes, true)};
        if (!unless_referenced) {
            db_.execute(sql, keys);
            return true;
        }
        return in_savepoint(db_, "ferry_deletes", {"23503"},  // foreign_key_violation
                            [&] { db_.execute(sql, keys); });
    }

    void keep_change_times(const SyncTable& table, const changes::TableChanges& changes,
                           const LinkRules& rules) override {
        if (rules.policy != changes::Policy::latest_wins || changes.rows.empty() ||
            !logs_table(table.target.oid) || !relays_changes(rules.source_peer))
            return;
        db_.query("SELECT ferry.keep_change_times($1::oid::regclass, $2::jsonb)",
                  {table.target.oid, key_times(changes)});
    }

    void commit(const std::string& job, const std::string& scope, const std::string& cursor,
                uint64_t done) override {
        // The lock orders two runs' commits; the second then reads the
        // first's position (a READ COMMITTED statement sees it, and under
        // REPEATABLE READ the advance fails on the concurrent update).
        db_.execute(
            "SELECT pg_advisory_xact_lock(hashtext('ferry checkpoint'), "
            "hashtext($1 || ' ' || $2))",
            {job, scope});
        if (db_.query("SELECT EXISTS (SELECT FROM ferry.checkpoints WHERE job = $1 AND scope = $2 "
                      "AND position IS NOT DISTINCT FROM $3::jsonb)",
                      {job, scope, link_position_})
                .text(0, 0) != "t")
            throw checkpoint_moved(job, scope, db_.peer());
        db_.execute("SELECT ferry.checkpoint_advance($1, $2, $3::jsonb, $4)",
                    {job, scope, cursor, std::to_string(done)});
        db_.execute("COMMIT");
        open_ = false;
        link_position_ = cursor;
    }

    void rollback() noexcept override { roll_back_open(db_, open_); }

    OpenConflict open_conflict(int64_t id) override {
        PgResult found = db_.query(
            "SELECT table_name::text, key::text, peer, remote_row::text, resolution FROM "
            "ferry.conflicts WHERE id = $1::bigint",
            {std::to_string(id)});
        if (found.rows() == 0)
            throw Error(ErrorKind::not_found, fmt::format("no conflict {} in {}", id, db_.peer()),
                        {}, "ferry conflicts PEER lists them.");
        if (!found.is_null(0, 4))
            throw Error(ErrorKind::conflict,
                        fmt::format("conflict {} is already resolved ({})", id, found.text(0, 4)));
        return {found.text(0, 0), found.text(0, 1), found.text(0, 2), found.value(0, 3)};
    }
    void mark_resolved(int64_t id, const std::string& resolution) override {
        PgResult marked = db_.query(
            "UPDATE ferry.conflicts SET resolution = $2, resolved_at = now() WHERE id = "
            "$1::bigint AND resolution IS NULL",
            {std::to_string(id), resolution});
        if (std::string(PQcmdTuples(marked.raw())) != "1")
            throw Error(ErrorKind::conflict,
                        fmt::format("conflict {} was resolved meanwhile; nothing was written", id));
        if (resolution == "remote") {
            PgResult newer = db_.query(
                "SELECT n.id, n.resolution FROM ferry.conflicts o JOIN ferry.conflicts n ON "
                "n.table_name = o.table_name AND n.key = o.key AND n.peer = o.peer AND n.id > "
                "o.id WHERE o.id = $1::bigint ORDER BY n.id DESC LIMIT 1",
                {std::to_string(id)});
            if (newer.rows())
                refuse_superseded(id, newer.text(0, 0), newer.value(0, 1));
        }
        db_.execute(
            "UPDATE ferry.conflicts o SET resolution = 'superseded', resolved_at = now() FROM "
            "ferry.conflicts n WHERE n.id = $1::bigint AND o.table_name = n.table_name AND o.key "
            "= n.key AND o.peer = n.peer AND o.id < n.id AND o.resolution IS NULL",
            {std::to_string(id)});
    }
    void commit_resolution() override {
        db_.execute("COMMIT");
        open_ = false;
    }

  private:
    // A change's row (x.r, jsonb) as the values of the table's columns, in
    // their order, from p = jsonb_to_record(x.r) AS p(definition). The
    // change log holds a json column's text as a JSON string, which
    // jsonb_to_record would keep quoted: it is read back as json,
    // keeping its exact text. A jsonb column's JSON text was made its JSON
    // value by adapt().
    // Generated columns are computed by the target, never written; the
    // whole row (for ROW(...)::table and its hash) takes the source's value.
    struct RowSql {
        std::vector<std::string> names;           // the columns ferry writes
        std::vector<std::string> exprs;           // each one's value
        std::string values;                       // the same, comma-separated
        std::string whole_row;                    // every column's value, in table order
        std::string named;                        // the same, each AS its column's name
        std::vector<std::string> in_table_order;  // every column's name
        std::set<std::string> jsonb;              // the columns of jsonb type or a domain over it
        std::set<std::string> timestamptz;        // the same for timestamptz
        std::string definition;                   // record_definition(): reads p and k
    };
    const RowSql& row_sql(const PeerTable& target) {
        auto found = row_sql_.find(target.oid);
        if (found != row_sql_.end())
            return found->second;
        PgResult columns = db_.query(
            "SELECT a.attname, a.atttypid = 'json'::regtype OR t.typbasetype = 'json'::regtype, "
            "a.attgenerated <> '', " +
                is_jsonb_sql("a.atttypid") + ", " +
                is_of_base_type_sql("a.atttypid", "timestamptz") +
                " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY "
                "a.attnum",
            {target.oid});
        RowSql row;
        for (int r = 0; r < columns.rows(); r++) {
            std::string name = columns.text(r, 0);
            std::string q = quote_identifier(name);
            if (columns.text(r, 3) == "t")
                row.jsonb.insert(name);
            if (columns.text(r, 4) == "t")
                row.timestamptz.insert(name);
            std::string expr = "p." + q;
            if (columns.text(r, 1) == "t")
                expr = fmt::format(
                    "CASE jsonb_typeof(x.r->{0}) WHEN 'string' THEN (x.r->>{0})::json WHEN "
                    "'null' THEN NULL ELSE (x.r->{0})::json END",
                    quote_literal(name));
            else if (columns.text(r, 3) == "t")
                expr = fmt::format("CASE WHEN x.r->{0} ? {1} THEN 'null'::jsonb ELSE {2} END",
                                   quote_literal(changes::kJsonNullsMember), quote_literal(name),
                                   expr);
            row.whole_row += (row.whole_row.empty() ? "" : ", ") + expr;
            row.named += (row.named.empty() ? "" : ", ") + expr + " AS " + q;
            row.in_table_order.push_back(name);
            if (columns.text(r, 2) == "t")
                continue;
            row.names.push_back(name);
            row.exprs.push_back(expr);
            row.values += (row.values.empty() ? "" : ", ") + expr;
        }
        row.definition = record_definition(db_, target.oid);
        return row_sql_.emplace(target.oid, std::move(row)).first->second;
    }

    // A CASE branch that gives a row lacking some columns the values the
    // target row t has (when it has one): changes logged before a column was
    // added on both peers keep the target's value of it.
    static std::string merged_row(const RowSql& row, bool merge, const std::string& key_null,
                                  const std::string& change_row) {
        if (!merge)
            return "";
        return fmt::format("WHEN NOT {0} THEN {1}", key_null, merged_with_target(row, change_row));
    }

    // SQL: the change's row (`change_row`, jsonb) over the target row t's
    // values; the jsonb columns of t that hold JSON null and that the row
    // lacks join the row's own list of such columns (to_jsonb() spells
    // them as it spells SQL NULL).
    static std::string merged_with_target(const RowSql& row, const std::string& change_row) {
        std::string merged = "to_jsonb(t.*) || " + change_row;
        if (row.jsonb.empty())
            return merged;
        std::string member = quote_literal(changes::kJsonNullsMember);
        std::string kept;
        for (const std::string& column : row.jsonb)
            kept += fmt::format("{}CASE WHEN t.{} = 'null'::jsonb AND NOT {} ? {} THEN {} END",
                                kept.empty() ? "" : ", ", quote_identifier(column), change_row,
                                quote_literal(column), quote_literal(column));
        return fmt::format("{0} || jsonb_build_object({1}, coalesce({2}->{1}, '[]') || {3})",
                           merged, member, change_row, names_holding(kept));
    }

    // Whether the change's final row (p) is inside the link's row filter
    // (NULL for a delete, or without a filter).
    std::string in_filter_sql(const SyncTable& table) {
        if (!table.filter)
            return "NULL::boolean";
        return "CASE WHEN jsonb_typeof(i.item->'r') = 'object' THEN coalesce((SELECT (" +
               *table.filter + ") FROM (SELECT " + row_sql(table.target).named +
               ") AS f), false) END";
    }

    // Refuses a batch whose rows have a column the target lacks
    // (jsonb_to_record would drop it silently), naming the columns.
    [[noreturn]] void refuse_unknown_columns(const PeerTable& target, const std::string& items) {
        PgResult unknown = db_.query(
            "SELECT string_agg(DISTINCT c, ', ') FROM jsonb_array_elements($1::jsonb) i, "
            "jsonb_object_keys(CASE WHEN jsonb_typeof(i->'r') = 'object' THEN i->'r' ELSE "
            "'{}' END) c WHERE c NOT IN (SELECT jsonb_array_elements_text($2::jsonb)) AND c <> $3",
            {items, nlohmann::json(target.columns).dump(), changes::kJsonNullsMember});
        throw Error(
            ErrorKind::invalid_input,
            fmt::format("a change to {} does not fit the target's columns", target.name),
            fmt::format("The source's rows have columns the target lacks: {}.", unknown.text(0, 0)),
            "Add the columns to the target, then run ferry sync again; nothing of this "
            "batch was applied. (A column dropped on the source since: re-copy with "
            "ferry full-sync, then ferry sync --restart.)");
    }

    void record_conflicts(const PeerTable& target, const changes::TableChanges& changes,
                          const std::vector<std::pair<size_t, nlohmann::json>>& conflicts,
                          const LinkRules& rules) {
        std::string items = "[";
        for (const auto& [i, resolution] : conflicts) {
            const NetChange& row = changes.rows[i];
            items += fmt::format("{}{{\"k\":{},\"r\":{},\"res\":{}}}", items.size() > 1 ? "," : "",
                                 row.key, row.row ? *row.row : "null", resolution.dump());
        }
        items += "]";
        db_.execute(
            fmt::format(
                "INSERT INTO ferry.conflicts (table_name, key, peer, local_row, remote_row, "
                "policy, resolution, resolved_at) SELECT $2::oid::regclass, i.k, $3, CASE WHEN "
                "t.{0} IS NULL THEN NULL ELSE to_jsonb(t.*) END, i.r, $4, i.res, CASE WHEN i.res "
                "IS NULL THEN NULL ELSE now() END FROM jsonb_to_recordset($1::jsonb) AS i(k "
                "jsonb, r jsonb, res text) CROSS JOIN LATERAL jsonb_to_record(i.k) AS k{3} "
                "LEFT JOIN {1} AS t ON {2}",
                quote_identifier(target.key_columns.at(0)), target.name,
                key_match(target.key_columns, "t", "k", "="), row_sql(target).definition),
            {items, target.oid, rules.source_peer, changes::policy_name(rules.policy)});
    }

    PgConnection db_;
    std::string peer_id_;
    bool open_ = false;
    std::optional<std::string> link_position_;  // the checkpoint as this run last saw it
    std::map<std::string, RowSql> row_sql_;     // by table oid
    std::map<std::string, bool> merge_;         // by table oid: this batch has rows lacking columns
    // By table oid, for the tables judged in the open transaction: the
    // [tableoid, ctid] of each row the batch found and locked (write_upserts).
    std::map<std::string, nlohmann::json> locked_rows_;
    // By side (conrelid, confrelid), then table oid (has_foreign_key).
    std::map<std::string, std::map<std::string, bool>> foreign_keys_;
    std::map<std::string, bool> tracked_;  // by table oid (logs_table)
    std::optional<bool> relays_;           // relays_changes(), once per run
    // The rows the fast path left for judge_each, alive until the batch's
    // plans are written (a plan points into them).
    std::deque<changes::TableChanges> leftovers_;
};

// ---- SQLite target ---------------------------------------------------------

// Binds a value of a change's JSON row as the target column stores it
// (docs/incremental-sync.md#values): bytea's "\x…" text as a blob in BLOB
// columns, booleans as 0 and 1, nested JSON as its text.
void bind_json(sqlite3_stmt* s, int index, const nlohmann::json& value,
               const sqlite::Column& column) {
    if (value.is_null()) {
        sqlite3_bind_null(s, index);
    } else if (value.is_boolean()) {
        sqlite3_bind_int(s, index, value.get<bool>() ? 1 : 0);
    } else if (value.is_number_integer() && !value.is_number_unsigned()) {
        sqlite3_bind_int64(s, index, value.get<int64_t>());
    } else if (value.is_number_unsigned() &&
               value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
        // JSON reads every non-negative integer as unsigned.
        sqlite3_bind_int64(s, index, static_cast<int64_t>(value.get<uint64_t>()));
    } else if (value.is_number_float()) {
        sqlite3_bind_double(s, index, value.get<double>());
    } else if (value.is_string()) {
        const std::string& text = value.get_ref<const std::string&>();
        if (column.kind == sqlite::ValueKind::bytes)
            if (auto bytes = text::bytes_from_hex(text)) {
                sqlite3_bind_blob(s, index, bytes->data(), static_cast<int>(bytes->size()),
                                  SQLITE_TRANSIENT);
                return;
            }
        if (column.kind == sqlite::ValueKind::numeric &&
            (text == "Infinity" || text == "-Infinity")) {
            double infinity = std::numeric_limits<double>::infinity();
            sqlite3_bind_double(s, index, text[0] == '-' ? -infinity : infinity);
            return;
        }
        sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    } else {
        std::string text = value.dump();  // a nested object or array, or a huge integer
        sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
}

nlohmann::json parse_object(const std::string& text, const std::string& table) {
    nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    if (!parsed.is_object())
        throw Error(ErrorKind::invalid_input,
                    fmt::format("a change to {} holds a malformed row", table), text);
    return parsed;
}

// A SQLite source can log a key with NULL (see null_key_error).
void refuse_null_key(const SyncTable& table, const std::string& key) {
    if (key.find("null") == std::string::npos)  // the usual case, without parsing
        return;
    nlohmann::json columns = parse_object(key, table.target.name);
    for (const auto& [column, value] : columns.items())
        if (value.is_null())
            throw null_key_error("a change to " + table.target.name, column);
}

class SqliteChangeApplier : public ChangeApplier {
  public:
    explicit SqliteChangeApplier(const std::string& path)
        : db_(path, false), peer_id_((require_sqlite_ferry(db_), sqlite_peer_id(db_))) {}
    ~SqliteChangeApplier() override { rollback(); }

    const std::string& peer_id() const override { return peer_id_; }

    std::optional<std::string> begin_link(const std::string& job, const std::string& scope,
                                          bool restart) override {
        db_.execute("SELECT ferry_checkpoint_begin(?1, ?2, NULL, ?3)",
                    {job, scope, restart ? "1" : "0"});
        link_position_ =
            db_.query("SELECT position FROM ferry_checkpoints WHERE job = ?1 AND scope = ?2",
                      {job, scope})
                .at(0)
                .at(0);
        return link_position_;
    }
    void fail_link(const std::string& job, const std::string& scope,
                   const std::string& error) override {
        db_.execute("SELECT ferry_checkpoint_fail(?1, ?2, ?3)", {job, scope, error});
    }
    std::vector<std::string> checkpoint_scopes(const std::string& job) override {
        return sqlite_checkpoint_scopes(db_, job);
    }

    std::optional<Copy> last_full_sync(const std::string& source_peer,
                                       const std::vector<std::string>& tables) override {
        for (const auto& row : db_.query(
                 "SELECT scope, json_extract(position, '$.source.cursor'), "
                 "json_extract(position, '$.target_cursor'), json_extract(position, '$.where') "
                 "FROM ferry_checkpoints WHERE job "
                 "LIKE 'full-sync from %' AND status = 'completed' AND json_extract(position, "
                 "'$.source.peer') = ?1 ORDER BY last_completed_at DESC",
                 {source_peer}))
            if (row.at(1) && scope_covers(row.at(0).value_or(""), tables))
                return Copy{*row.at(1), row.at(2), row.at(3)};
        return std::nullopt;
    }

    void begin(const std::string& origin) override {
        let_other_writers_in();
        db_.execute("BEGIN IMMEDIATE");
        open_ = true;
        db_.execute("SELECT ferry_set_origin(?1)", {origin});
        logged_before_ = std::stoll(
            db_.query("SELECT coalesce(max(position), 0) FROM ferry_changes").at(0).at(0).value());
    }

    // SQLite stores JSON as the text it is given: nothing to rewrite, but
    // columns a row lacks are filled in, so that it is judged whole.
    void adapt(const SyncTable& table, changes::TableChanges& changes, RowSource) override {
        TableStatements& statements = statements_for(table);
        for (NetChange& change : changes.rows) {
            refuse_null_key(table, change.key);
            respell_uuid_key(statements, change);
            if (!change.row)
                continue;
            std::string logged = *change.row;  // an update's: its columns are the old row's
            if (keep_target_values(statements, change.key, *change.row,
                                   parse_object(*change.row, table.target.name)) &&
                change.first == Operation::update && !change.first_row)
                change.first_row = std::move(logged);
        }
    }

    TablePlan judge(const SyncTable& table, const changes::TableChanges& changes,
                    const LinkRules& rules, ApplyCounts& counts) override {
        TableStatements& statements = statements_for(table);
        if (changes.truncated) {
            std::vector<bool> inside;
            if (statements.in_filter)
                for (const NetChange& row : changes.rows)
                    inside.push_back(row.row && in_filter(statements, *row.row));
            return truncate_plan(changes, counts, inside);
        }
        std::vector<changes::TargetRow> targets(changes.rows.size());
        for (size_t i = 0; i < changes.rows.size(); i++) {
            const NetChange& row = changes.rows[i];
            sqlite3_stmt* current = statements.current_hash.get();
            bind_key(current, 1, row.key, statements);
            if (sqlite3_step(current) == SQLITE_ROW)
                targets[i].hash = sqlite3_column_int64(current, 0);
            sqlite3_reset(current);
            if (row.row) {
                targets[i].new_hash = row_hash(statements, *row.row);
                if (statements.in_filter)
                    targets[i].in_filter = in_filter(statements, *row.row);
            }
        }
        auto fetch_times = [&](const std::vector<size_t>& rows) {
            sqlite3_stmt* times = statements.last_changed.get();
            for (size_t i : rows) {
                const std::string& key = changes.rows[i].key;
                sqlite3_bind_text(times, 1, rules.source_peer.c_str(), -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(times, 2, key.data(), static_cast<int>(key.size()),
                                  SQLITE_TRANSIENT);
                if (sqlite3_step(times) == SQLITE_ROW &&
                    sqlite3_column_type(times, 0) != SQLITE_NULL)
                    targets[i].last_changed = sqlite3_column_double(times, 0);
                sqlite3_reset(times);
            }
        };
        auto fetch_hashes = [&](const std::vector<size_t>& rows) {
            for (size_t i : rows)
                if (targets[i].hash && changes.rows[i].first != Operation::insert)
                    targets[i].hashes_without_added_columns =
                        hashes_without_added_columns(statements, changes.rows[i]);
        };
        std::vector<Verdict> verdicts =
            judge_rows(changes.rows, targets, rules, fetch_hashes, fetch_times);
        TablePlan plan;
        for (const auto& [i, resolution] : settle(changes, targets, verdicts, plan, counts))
            record_conflict(statements, changes.rows[i], resolution, rules);
        return plan;
    }

    void write_upserts(const SyncTable& table, const TablePlan& plan) override {
        TableStatements& statements = statements_for(table);
        sqlite3_stmt* upsert = statements.upsert.get();
        for (const NetChange* row : plan.upserts) {
            nlohmann::json values = parse_object(*row->row, table.target.name);
            // Only a row that was not judged (ferry conflicts --resolve) can
            // still lack a column.
            std::string text = *row->row;
            if (keep_target_values(statements, row->key, text, values))
                values = parse_object(text, table.target.name);
            for (size_t c = 0; c < statements.shape.columns.size(); c++) {
                const sqlite::Column& column = statements.shape.columns[c];
                if (!column.generated)
                    bind_json(upsert, static_cast<int>(c) + 1, values.at(column.name), column);
            }
            step_done(db_, upsert);
        }
    }

    void write_truncate(const SyncTable& table, const TablePlan& plan,
                        ApplyCounts& counts) override {
        if (!plan.truncate)
            return;
        TableStatements& statements = statements_for(table);
        db_.execute("DELETE FROM main." + quote_identifier(statements.shape.name));
        counts.deleted += static_cast<uint64_t>(sqlite3_changes(db_.handle()));
    }

    // ferry's SQLite connections leave foreign_keys off (SQLite's default),
    // so no delete is ever refused for a reference.
    bool write_deletes(const SyncTable& table, const TablePlan& plan, bool) override {
        TableStatements& statements = statements_for(table);
        for (const NetChange* row : plan.deletes) {
            bind_key(statements.remove.get(), 1, row->key, statements);
            step_done(db_, statements.remove.get());
        }
        return true;
    }

    // The batch's log rows are those past the newest one at begin():
    // BEGIN IMMEDIATE made this the only writer since. (They are tagged
    // with the origin only when it closes, at commit.) Keys are matched by
    // the value of each key column, as last_changed matches them: the log
    // writes members in key order and reals with 17 digits, the source in
    // its own order and spelling.
    void keep_change_times(const SyncTable& table, const changes::TableChanges& changes,
                           const LinkRules& rules) override {
        if (rules.policy != changes::Policy::latest_wins || changes.rows.empty() ||
            !relays_changes(rules.source_peer))
            return;
        TableStatements& statements = statements_for(table);
        std::string given, match;
        for (size_t n = 0; n < statements.shape.key.size(); n++) {
            std::string path =
                nlohmann::json(statements.shape.columns[statements.shape.key[n]].name).dump();
            given +=
                fmt::format("json_extract(value, {}) AS k{}, ", quote_literal("$[0]." + path), n);
            match +=
                fmt::format(" AND json_extract(c.key, {}) = t.k{}", quote_literal("$." + path), n);
        }
        db_.execute("UPDATE ferry_changes AS c SET changed_at = t.day FROM (SELECT " + given +
                        "json_extract(value, '$[1]') / 86400.0 + 2440587.5 AS day FROM "
                        "json_each(?1)) AS t WHERE c.position > ?2 AND c.table_name = ?3" +
                        match,
                    {key_times(changes), std::to_string(logged_before_), table.target.name});
    }

    void commit(const std::string& job, const std::string& scope, const std::string& cursor,
                uint64_t done) override {
        // BEGIN IMMEDIATE made this the only writer since the batch began.
        if (db_.query("SELECT EXISTS (SELECT 1 FROM ferry_checkpoints WHERE job = ?1 AND scope = "
                      "?2 AND json(position) IS json(?3))",
                      {job, scope, link_position_})
                .at(0)
                .at(0) != "1")
            throw checkpoint_moved(job, scope, db_.peer());
        db_.execute("SELECT ferry_checkpoint_advance(?1, ?2, ?3, ?4)",
                    {job, scope, cursor, std::to_string(done)});
        db_.execute("SELECT ferry_set_origin(NULL)");
        db_.execute("COMMIT");
        open_ = false;
        link_position_ = cursor;
    }

    void rollback() noexcept override { roll_back_open(db_, open_); }

    OpenConflict open_conflict(int64_t id) override {
        auto rows = db_.query(
            "SELECT table_name, key, peer, remote_row, resolution FROM ferry_conflicts WHERE id "
            "= ?1",
            {std::to_string(id)});
        if (rows.empty())
            throw Error(ErrorKind::not_found, fmt::format("no conflict {} in {}", id, db_.peer()),
                        {}, "ferry conflicts PEER lists them.");
        if (rows[0][4])
            throw Error(ErrorKind::conflict,
                        fmt::format("conflict {} is already resolved ({})", id, *rows[0][4]));
        return {sql_written_name(*rows[0][0]), *rows[0][1], *rows[0][2], rows[0][3]};
    }
    void mark_resolved(int64_t id, const std::string& resolution) override {
        db_.execute(
            "UPDATE ferry_conflicts SET resolution = ?2, resolved_at = "
            "strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = ?1 AND resolution IS NULL",
            {std::to_string(id), resolution});
        if (sqlite3_changes(db_.handle()) != 1)
            throw Error(ErrorKind::conflict,
                        fmt::format("conflict {} was resolved meanwhile; nothing was written", id));
        if (resolution == "remote") {
            auto newer = db_.query(
                "SELECT n.id, n.resolution FROM ferry_conflicts o JOIN ferry_conflicts n ON "
                "n.table_name = o.table_name AND n.key = o.key AND n.peer = o.peer AND n.id > "
                "o.id WHERE o.id = ?1 ORDER BY n.id DESC LIMIT 1",
                {std::to_string(id)});
            if (!newer.empty())
                refuse_superseded(id, *newer[0][0], newer[0][1]);
        }
        db_.execute(
            "UPDATE ferry_conflicts AS o SET resolution = 'superseded', resolved_at = "
            "strftime('%Y-%m-%dT%H:%M:%fZ') FROM ferry_conflicts AS n WHERE n.id = ?1 AND "
            "o.table_name = n.table_name AND o.key = n.key AND o.peer = n.peer AND o.id < n.id "
            "AND o.resolution IS NULL",
            {std::to_string(id)});
    }
    void commit_resolution() override {
        db_.execute("SELECT ferry_set_origin(NULL)");
        db_.execute("COMMIT");
        open_ = false;
    }
    std::optional<std::string> link_filter(const std::string& source_peer,
                                           const std::string& table) override {
        auto found = db_.query(
            "SELECT w.value FROM ferry_checkpoints c, json_each(c.position, '$.where') w WHERE "
            "c.job = 'sync from ' || ?1 AND w.key = ?2 AND json_valid(c.position) LIMIT 1",
            {source_peer, table});
        return found.empty() ? std::nullopt : found.at(0).at(0);
    }
    std::set<std::string> link_policies(const std::string& source_peer,
                                        const std::vector<std::string>& tables) override {
        auto found = db_.query(
            "SELECT DISTINCT json_extract(c.position, '$.policy') FROM ferry_checkpoints c WHERE "
            "c.job = 'sync from ' || ?1 AND json_valid(c.position) AND json_type(c.position, "
            "'$.policy') = 'text' AND json_type(c.position, '$.tables') = 'array' AND EXISTS "
            "(SELECT 1 FROM json_each(c.position, '$.tables') t, json_each(?2) w WHERE t.value = "
            "w.value)",
            {source_peer, nlohmann::json(tables).dump()});
        std::set<std::string> policies;
        for (const auto& row : found)
            if (row.at(0))
                policies.insert(*row.at(0));
        return policies;
    }
    std::vector<bool> rows_in_filter(const SyncTable& table,
                                     const changes::TableChanges& changes) override {
        std::vector<bool> inside;
        if (!table.filter)
            return inside;
        TableStatements& statements = statements_for(table);
        for (const NetChange& row : changes.rows)
            inside.push_back(row.row && in_filter(statements, *row.row));
        return inside;
    }

  private:
    struct TableStatements {
        sqlite::TableShape shape;
        StatementPtr current_hash;  // the target row's hash, by key
        StatementPtr current_row;   // the target row as change log JSON, by key
        std::string key_where;      // matches the row of the key bound from ?1 on (bind_key)
        StatementPtr new_hash;      // ferry_row_hash of a change's row
        StatementPtr last_changed;  // the target's own newest change to a key
        StatementPtr upsert;        // every column, in table order
        StatementPtr remove;        // by key
        StatementPtr conflict;      // a row of ferry_conflicts
        StatementPtr in_filter;     // the link's row filter over a row's values, if any
        std::unique_ptr<UuidKeySpelling> spelling;
    };

    TableStatements& statements_for(const SyncTable& table) {
        auto found = statements_.find(table.target.name);
        if (found != statements_.end())
            return found->second;
        TableStatements s;
        s.shape = sqlite::describe_keyed_table(db_.handle(), table.target.name);
        std::vector<std::string> key_order;  // as respell_uuid_key() gives the values
        for (size_t k : s.shape.key)
            key_order.push_back(s.shape.columns[k].name);
        s.spelling = std::make_unique<UuidKeySpelling>(db_, s.shape.name, key_order);
        for (size_t k : s.shape.key) {
            sqlite::ValueKind kind = s.shape.columns[k].kind;
            if (kind != sqlite::ValueKind::plain && kind != sqlite::ValueKind::numeric &&
                kind != sqlite::ValueKind::bytes && kind != sqlite::ValueKind::boolean &&
                kind != sqlite::ValueKind::uuid)
                throw Error(
                    ErrorKind::unsupported,
                    fmt::format("cannot sync changes into {}: its key column \"{}\" is declared {}",
                                table.target.name, s.shape.columns[k].name,
                                s.shape.columns[k].declared_type),
                    "A date or time key can be written in more than one way, and a change could "
                    "then add a second row instead of updating the first.",
                    "Use ferry full-sync for this table, or give it a key of another type.");
        }
        std::string name = "main." + quote_identifier(s.shape.name);
        std::string where, columns, values, set, json_where;
        for (size_t n = 0; n < s.shape.key.size(); n++) {
            const std::string& column = s.shape.columns[s.shape.key[n]].name;
            where += fmt::format("{}{} IS ?{}", n ? " AND " : "", quote_identifier(column), n + 1);
            json_where += fmt::format(" AND json_extract(key, {0}) IS json_extract(?2, {0})",
                                      quote_literal("$." + nlohmann::json(column).dump()));
        }
        for (size_t c = 0; c < s.shape.columns.size(); c++) {
            const sqlite::Column& column = s.shape.columns[c];
            if (column.generated)  // SQLite computes it; its parameter stays unused
                continue;
            columns += (columns.empty() ? "" : ", ") + quote_identifier(column.name);
            values += fmt::format("{}?{}", values.empty() ? "" : ", ", c + 1);
            if (column.key_position == 0)
                set += fmt::format("{}{} = excluded.{}", set.empty() ? "" : ", ",
                                   quote_identifier(column.name), quote_identifier(column.name));
        }
        std::string keys;
        for (size_t n = 0; n < s.shape.key.size(); n++)
            keys += (n ? ", " : "") + quote_identifier(s.shape.columns[s.shape.key[n]].name);
        std::string row_json = sqlite::row_json_sql(s.shape, "t");
        std::string table_literal = quote_literal(s.shape.name);
        s.current_hash =
            prepare(db_, fmt::format("SELECT ferry_row_hash({}, {}) FROM {} AS t WHERE {}",
                                     table_literal, row_json, name, where));
        s.current_row =
            prepare(db_, fmt::format("SELECT {} FROM {} AS t WHERE {}", row_json, name, where));
        s.key_where = where;
        s.new_hash = prepare(db_, fmt::format("SELECT ferry_row_hash({}, ?1)", table_literal));
        s.last_changed = prepare(
            db_, fmt::format("SELECT (max(changed_at) - 2440587.5) * 86400.0 FROM ferry_changes "
                             "WHERE table_name = {} AND origin IS NOT ?1{}",
                             table_literal, json_where));
        s.upsert = prepare(
            db_, fmt::format("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}", name, columns,
                             values, keys, set.empty() ? "DO NOTHING" : "DO UPDATE SET " + set));
        s.remove = prepare(db_, fmt::format("DELETE FROM {} WHERE {}", name, where));
        s.conflict =
            prepare(db_,
                    "INSERT INTO ferry_conflicts (table_name, key, peer, local_row, remote_row, "
                    "policy, resolution, detected_at, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                    "?7, strftime('%Y-%m-%dT%H:%M:%fZ'), CASE WHEN ?7 IS NULL THEN NULL ELSE "
                    "strftime('%Y-%m-%dT%H:%M:%fZ') END)");
        if (table.filter) {
            std::string values;
            for (size_t c = 0; c < s.shape.columns.size(); c++)
                values += fmt::format("{}?{} AS {}", c ? ", " : "", c + 1,
                                      quote_identifier(s.shape.columns[c].name));
            s.in_filter = prepare(db_, fmt::format("SELECT coalesce(({}), 0) FROM (SELECT {})",
                                                   *table.filter, values));
        }
        return statements_.emplace(table.target.name, std::move(s)).first->second;
    }

    // Binds the key's values from the change's key JSON, from parameter `first` on.
    void bind_key(sqlite3_stmt* statement, int first, const std::string& key,
                  const TableStatements& s) {
        nlohmann::json values = parse_object(key, s.shape.name);
        for (size_t n = 0; n < s.shape.key.size(); n++) {
            const sqlite::Column& column = s.shape.columns[s.shape.key[n]];
            auto found = values.find(column.name);
            if (found == values.end())
                throw Error(ErrorKind::invalid_input,
                            fmt::format("a change to {} lacks key column \"{}\"", s.shape.name,
                                        column.name),
                            key, "Make the primary keys match on both peers.");
            bind_json(statement, first + static_cast<int>(n), *found, column);
        }
    }

    // The link's row filter over a change's final row.
    bool in_filter(TableStatements& s, const std::string& row) {
        nlohmann::json values = parse_object(row, s.shape.name);
        sqlite3_stmt* statement = s.in_filter.get();
        for (size_t c = 0; c < s.shape.columns.size(); c++) {
            auto found = values.find(s.shape.columns[c].name);
            bind_json(statement, static_cast<int>(c) + 1,
                      found == values.end() ? nlohmann::json() : *found, s.shape.columns[c]);
        }
        if (sqlite3_step(statement) != SQLITE_ROW) {
            std::string message = sqlite3_errmsg(db_.handle());
            sqlite3_reset(statement);
            throw Error(ErrorKind::invalid_input,
                        fmt::format("the row filter of {} failed: {}", s.shape.name, message));
        }
        bool inside = sqlite3_column_int(statement, 0) != 0;
        sqlite3_reset(statement);
        return inside;
    }

    int64_t row_hash(TableStatements& s, const std::string& row) {
        sqlite3_stmt* statement = s.new_hash.get();
        sqlite3_bind_text(statement, 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
        if (sqlite3_step(statement) != SQLITE_ROW) {
            std::string message = sqlite3_errmsg(db_.handle());
            sqlite3_reset(statement);
            throw Error(
                ErrorKind::invalid_input,
                fmt::format("a change to {} does not fit the target: {}", s.shape.name, message),
                {},
                "Make the columns match on both peers (the same names), then run ferry "
                "sync again; nothing of this batch was applied.");
        }
        int64_t hash = sqlite3_column_int64(statement, 0);
        sqlite3_reset(statement);
        return hash;
    }

    // The target row's hashes over the column sets the change's old row
    // may have had, when the target has more columns
    // (docs/incremental-sync.md#schema-changes-and-refused-values).
    std::vector<int64_t> hashes_without_added_columns(TableStatements& s, const NetChange& change) {
        std::vector<int64_t> hashes;
        std::optional<std::string> current = current_row(s, change.key);
        if (!current)
            return hashes;
        std::vector<std::string> names;
        for (const sqlite::Column& column : s.shape.columns)
            names.push_back(column.name);
        nlohmann::json values = parse_object(*current, s.shape.name);
        for (const auto& set : changes::column_sets_before_added(
                 change, names, *current, columns_at_default(s, change.key))) {
            nlohmann::json kept = nlohmann::json::object();
            for (const std::string& column : set)
                kept[column] = values.at(column);
            hashes.push_back(row_hash(s, kept.dump()));
        }
        return hashes;
    }

    // As PostgresChangeApplier::relays_changes.
    bool relays_changes(const std::string& source) {
        if (!relays_)
            relays_ = db_.query(
                             "SELECT EXISTS (SELECT 1 FROM ferry_consumers WHERE peer IS NOT "
                             "?1) OR EXISTS (SELECT 1 FROM ferry_checkpoints WHERE job LIKE "
                             "'sync from %' AND job <> 'sync from ' || ?1)",
                             {source})
                          .at(0)
                          .at(0) == "1";
        return *relays_;
    }

    // The columns of the target row of `key` that hold the literal default
    // they were declared with (compared as SQLite compares a column with a
    // value, with the column's affinity: '0' is 0 in an INTEGER column),
    // and its generated columns: what an ADD COLUMN gave the rows it found.
    std::vector<std::string> columns_at_default(TableStatements& s, const std::string& key) {
        std::vector<std::string> names;
        std::string tests;
        for (const auto& column :
             db_.query("SELECT name, dflt_value, hidden IN (2, 3) FROM pragma_table_xinfo(?1, "
                       "'main') WHERE hidden IN (2, 3) OR dflt_value IS NOT NULL",
                       {s.shape.name})) {
            bool generated = *column.at(2) == "1";
            if (!generated && !is_sql_literal(*column.at(1)))
                continue;  // an expression (CURRENT_TIMESTAMP): not compared
            names.push_back(*column.at(0));
            tests += (tests.empty() ? "" : ", ") +
                     (generated ? std::string("1")
                                : quote_identifier(*column.at(0)) + " IS (" + *column.at(1) + ")");
        }
        std::vector<std::string> found;
        if (names.empty())
            return found;
        StatementPtr test =
            prepare(db_, "SELECT " + tests + " FROM main." + quote_identifier(s.shape.name) +
                             " AS t WHERE " + s.key_where);
        bind_key(test.get(), 1, key, s);
        if (sqlite3_step(test.get()) == SQLITE_ROW)
            for (size_t c = 0; c < names.size(); c++)
                if (sqlite3_column_int(test.get(), static_cast<int>(c)) == 1)
                    found.push_back(names[c]);
        return found;
    }

    // A change to a row the target holds with its key's UUIDs in another
    // case (UuidKeySpelling) is respelled so, in its key and row: it then
    // updates or deletes that row instead of adding a second one.
    void respell_uuid_key(TableStatements& s, NetChange& change) {
        if (!s.spelling->applies())
            return;
        nlohmann::json values = parse_object(change.key, s.shape.name);
        std::vector<std::string> key;
        for (size_t k : s.shape.key) {
            const nlohmann::json& value = values.value(s.shape.columns[k].name, nlohmann::json());
            key.push_back(value.is_string() ? value.get<std::string>() : value.dump());
        }
        auto held = s.spelling->held_spelling(key);
        if (!held)
            return;
        std::map<std::string, std::string> spelled;  // by column
        for (size_t n = 0; n < key.size(); n++)
            if ((*held)[n] != key[n])
                spelled[s.shape.columns[s.shape.key[n]].name] = nlohmann::json((*held)[n]).dump();
        auto respell = [&](const std::string& column, const std::string&) {
            auto found = spelled.find(column);
            return found == spelled.end() ? std::nullopt
                                          : std::optional<std::string>(found->second);
        };
        if (auto respelled = changes::with_strings_rewritten(change.key, respell))
            change.key = std::move(*respelled);
        if (change.row)
            if (auto respelled = changes::with_strings_rewritten(*change.row, respell))
                change.row = std::move(*respelled);
    }

    // The target's row of `key` as change log JSON; nullopt when it has none.
    std::optional<std::string> current_row(TableStatements& s, const std::string& key) {
        std::optional<std::string> row;
        bind_key(s.current_row.get(), 1, key, s);
        if (sqlite3_step(s.current_row.get()) == SQLITE_ROW)
            row = reinterpret_cast<const char*>(sqlite3_column_text(s.current_row.get(), 0));
        sqlite3_reset(s.current_row.get());
        return row;
    }

    // A change logged before a column was added on both peers lacks it: the
    // target keeps its value of that column (as on PostgreSQL). Appends the
    // target's values of the columns `values` (row parsed) lacks to `row`,
    // whose own numbers stay as written; false when none was lacking.
    bool keep_target_values(TableStatements& s, const std::string& key, std::string& row,
                            const nlohmann::json& values) {
        const auto& columns = s.shape.columns;
        if (std::all_of(columns.begin(), columns.end(),
                        [&](const sqlite::Column& c) { return values.contains(c.name); }))
            return false;
        nlohmann::json kept = nlohmann::json::object();
        if (auto current = current_row(s, key))
            kept = parse_object(*current, s.shape.name);
        std::string added;
        for (const sqlite::Column& column : columns)
            if (!values.contains(column.name))
                added += fmt::format("{}{}:{}", values.empty() && added.empty() ? "" : ",",
                                     nlohmann::json(column.name).dump(),
                                     kept.value(column.name, nlohmann::json()).dump());
        row.insert(row.rfind('}'), added);
        return true;
    }

    void record_conflict(TableStatements& s, const NetChange& row, const nlohmann::json& resolution,
                         const LinkRules& rules) {
        std::optional<std::string> local = current_row(s, row.key);
        sqlite3_stmt* insert = s.conflict.get();
        auto text = [&](int index, const std::optional<std::string>& value) {
            if (value)
                sqlite3_bind_text(insert, index, value->data(), static_cast<int>(value->size()),
                                  SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(insert, index);
        };
        text(1, s.shape.name);
        text(2, row.key);
        text(3, rules.source_peer);
        text(4, local);
        text(5, row.row);
        text(6, std::string(changes::policy_name(rules.policy)));
        text(7, resolution.is_null() ? std::nullopt
                                     : std::optional<std::string>(resolution.get<std::string>()));
        step_done(db_, insert);
    }

    SqliteConnection db_;
    std::string peer_id_;
    bool open_ = false;
    std::optional<std::string> link_position_;  // the checkpoint as this run last saw it
    std::map<std::string, TableStatements> statements_;
    int64_t logged_before_ = 0;   // the newest log position when the batch began
    std::optional<bool> relays_;  // relays_changes(), once per run
};

class PostgresChangeWaiter : public ChangeWaiter {
  public:
    // Capture sends its NOTIFY only while a listener holds the listener lock
    // (ferry/change_wakeup.hpp). Try, not wait: a session holding it
    // exclusively (no listener does) makes every commit notify anyway.
    explicit PostgresChangeWaiter(const std::string& peer) : db_(connect_postgres_peer(peer)) {
        db_.execute(fmt::format("LISTEN {}", wakeup::kChannel));
        db_.query(fmt::format("SELECT pg_try_advisory_lock_shared({}, {})",
                              wakeup::kListenerLockClass, wakeup::kListenerLockId));
    }
    bool wait(int timeout_ms) override { return db_.wait_for_notification(timeout_ms); }

  private:
    PgConnection db_;
};

class SqliteChangeWaiter : public ChangeWaiter {
  public:
    explicit SqliteChangeWaiter(const std::string& path) : db_(path, false) { changed(); }

    bool wait(int timeout_ms) override {
        constexpr int kPollMs = 50;
        for (int waited = 0;; waited += kPollMs) {
            if (changed())
                return true;
            if (waited >= timeout_ms)
                return false;
            usleep(kPollMs * 1000);
        }
    }

  private:
    // A commit by another connection moves data_version; only one that
    // logged a change counts. ferry's own writes to the file (a checkpoint
    // of the other direction of a two-way link) would otherwise wake it
    // again and again. The newest position never goes back (ferry_purge()
    // keeps the newest change).
    bool changed() {
        std::string version = db_.query("PRAGMA data_version").at(0).at(0).value_or("");
        if (version == version_)
            return false;
        version_ = version;
        std::string newest =
            db_.query("SELECT max(position) FROM ferry_changes").at(0).at(0).value_or("");
        bool logged = newest != newest_;
        newest_ = newest;
        return logged;
    }

    SqliteConnection db_;
    std::string version_;
    std::string newest_;
};

}  // namespace

std::unique_ptr<ChangeWaiter> open_change_waiter(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteChangeWaiter>(address.target);
    return std::make_unique<PostgresChangeWaiter>(peer);
}

LinkConsumer link_consumer(const std::string& target_peer, std::set<std::string> tables) {
    std::string listed;
    for (const auto& table : tables)
        listed += table + '\n';
    return {fmt::format("{}/{:016x}", target_peer, canonical::hash_bytes(listed)), target_peer,
            std::move(tables)};
}

std::unique_ptr<ChangeReader> open_change_reader(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteChangeReader>(address.target);
    return std::make_unique<PostgresChangeReader>(peer);
}

std::unique_ptr<ChangeApplier> open_change_applier(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteChangeApplier>(address.target);
    return std::make_unique<PostgresChangeApplier>(peer);
}

}  // namespace ferry::cli
