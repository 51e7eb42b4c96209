// `ferry conflicts PEER`: the conflicts incremental syncs recorded in a peer
// (ferry.conflicts / ferry_conflicts), open ones first; `--resolve ID --keep
// local|remote` settles an open one (docs/incremental-sync.md#conflicts).
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "change_peers.hpp"
#include "commands.hpp"
#include "ferry/change_set.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"
#include "sync_peers.hpp"

namespace ferry::cli {
namespace {

struct ConflictsOptions {
    std::string peer;
    bool all = false;
    int limit = 50;
    bool json = false;
    int64_t resolve = 0;
    std::string keep;
};

enum Column { kId, kTable, kKey, kPeer, kPolicy, kResolution, kDetected, kLocal, kRemote };

const char* const kListQuery = R"(
SELECT id, table_name::text, key::text, peer, policy, coalesce(resolution, 'open'),
       to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       local_row::text, remote_row::text
FROM ferry.conflicts
WHERE $1::boolean OR resolution IS NULL
ORDER BY resolution IS NOT NULL, id DESC
LIMIT $2)";

const char* const kSqliteListQuery = R"(
SELECT id, table_name, key, peer, policy, coalesce(resolution, 'open'),
       substr(detected_at, 1, 19) || 'Z', local_row, remote_row
FROM ferry_conflicts
WHERE ?1 OR resolution IS NULL
ORDER BY resolution IS NOT NULL, id DESC
LIMIT ?2)";

using Row = std::vector<std::optional<std::string>>;

std::vector<Row> list_conflicts(const ConflictsOptions& options, std::string& peer) {
    PeerAddress address = parse_peer(options.peer);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        peer = db.peer();
        require_sqlite_ferry(db);
        return db.query(kSqliteListQuery, {options.all ? "1" : "0", std::to_string(options.limit)});
    }
    PgConnection db = connect_postgres_peer(options.peer);
    peer = db.peer();
    require_ferry(db, "0.1");
    PgResult result =
        db.query(kListQuery, {options.all ? "true" : "false", std::to_string(options.limit)});
    std::vector<Row> rows;
    for (int r = 0; r < result.rows(); r++) {
        Row row;
        for (int c = 0; c < result.columns(); c++)
            row.push_back(result.value(r, c));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string cut(const std::optional<std::string>& text, size_t width) {
    if (!text)
        return "(deleted)";
    return shorten(*text, width);
}

int print_conflicts(const ConflictsOptions& options) {
    std::string peer;
    std::vector<Row> rows = list_conflicts(options, peer);
    if (options.json) {
        nlohmann::json out = nlohmann::json::array();
        // A SQLite row may hold text that is not UTF-8 (or not JSON): it is
        // listed as a string, bad bytes replaced, rather than failing the list.
        auto json_or_null = [](const std::optional<std::string>& text) {
            if (!text)
                return nlohmann::json();
            nlohmann::json parsed = nlohmann::json::parse(*text, nullptr, false);
            return parsed.is_discarded() ? nlohmann::json(*text) : parsed;
        };
        for (const auto& r : rows)
            out.push_back({{"id", std::stoll(*r[kId])},
                           {"table", *r[kTable]},
                           {"key", json_or_null(r[kKey])},
                           {"peer", *r[kPeer]},
                           {"policy", *r[kPolicy]},
                           {"resolution", *r[kResolution]},
                           {"detected_at", *r[kDetected]},
                           {"local_row", json_or_null(r[kLocal])},
                           {"remote_row", json_or_null(r[kRemote])}});
        print_json({{"peer", peer}, {"conflicts", out}});
        return exit_ok;
    }
    if (rows.empty()) {
        fmt::print("no {}conflicts in {}\n", options.all ? "" : "open ", peer);
        return exit_ok;
    }
    std::vector<std::vector<std::string>> table;
    for (const auto& r : rows)
        table.push_back({*r[kId], *r[kTable], cut(r[kKey], 30), *r[kPeer], *r[kPolicy],
                         *r[kResolution], *r[kDetected], cut(r[kLocal], 40), cut(r[kRemote], 40)});
    print_table(
        {"ID", "TABLE", "KEY", "PEER", "POLICY", "RESOLUTION", "DETECTED", "LOCAL", "REMOTE"},
        table);
    return exit_ok;
}

// --keep local marks the conflict; --keep remote writes the other peer's
// version (as that peer's change, so it is never sent back to it) and marks
// it, in one transaction.
int resolve_conflict(const ConflictsOptions& options) {
    std::unique_ptr<ChangeApplier> applier = open_change_applier(options.peer);
    ChangeApplier::OpenConflict conflict = applier->open_conflict(options.resolve);
    bool remote = options.keep == "remote";
    changes::TableChanges remote_change{conflict.table, false, {}};
    remote_change.rows.push_back(changes::NetChange{conflict.key, changes::Operation::update,
                                                    std::nullopt, conflict.remote_row, 0});
    std::optional<SyncTable> table;
    bool left_filter = false;
    if (remote) {
        PeerTable described = open_sync_target(options.peer)->describe(conflict.table);
        table =
            SyncTable{described, described, applier->link_filter(conflict.peer, described.name)};
    }
    applier->begin(remote ? conflict.peer : applier->peer_id());
    try {
        if (remote) {
            // Spelled for this peer as a sync would (a SQLite timestamp's zone
            // in a row recorded before ferry spelled it so).
            applier->adapt(*table, remote_change, ChangeApplier::RowSource::recorded_conflict);
            // A remote version outside the link's filter is not this peer's
            // to hold: as under source-wins, the row goes.
            left_filter = conflict.remote_row && table->filter &&
                          !applier->rows_in_filter(*table, remote_change).front();
            TablePlan plan;
            const changes::NetChange* row = &remote_change.rows.front();
            (conflict.remote_row && !left_filter ? plan.upserts : plan.deletes).push_back(row);
            applier->write_upserts(*table, plan);
            applier->write_deletes(*table, plan, false);
        }
        applier->mark_resolved(options.resolve, options.keep);
        applier->commit_resolution();
    } catch (...) {
        applier->rollback();
        throw;
    }
    fmt::print("conflict {} resolved: kept the {} version of {} {}{}\n", options.resolve,
               remote ? "remote" : "local", conflict.table, conflict.key,
               left_filter ? " (outside this peer's filter: the row was deleted here)" : "");
    return exit_ok;
}

}  // namespace

void setup_conflicts(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<ConflictsOptions>();
    auto* cmd = app.add_subcommand(
        "conflicts", "List the conflicts recorded in a peer; resolve open (manual) ones");
    cmd->add_option("peer", options->peer, "The peer that recorded them (a sync's target)")
        ->transform(resolve_peer)
        ->required();
    cmd->add_flag("--all", options->all, "Resolved ones too (default: open ones)");
    cmd->add_option("--limit", options->limit, "How many (default 50)")
        ->check(CLI::Range(1, 1000000));
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    auto* resolve = cmd->add_option("--resolve", options->resolve, "Resolve this open conflict")
                        ->check(CLI::Range(int64_t{1}, INT64_MAX));
    cmd->add_option("--keep", options->keep,
                    "With --resolve: local (this peer's version stays) or remote (the other "
                    "peer's version is written)")
        ->check(CLI::IsMember({"local", "remote"}))
        ->needs(resolve);
    resolve->needs("--keep");
    cmd->callback([options, exit_code] {
        *exit_code = options->resolve ? resolve_conflict(*options) : print_conflicts(*options);
    });
}

}  // namespace ferry::cli
