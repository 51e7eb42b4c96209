// `ferry status PEER`: per tracked table and consuming peer, the pending
// changes, lag, last sync and open conflicts (the view ferry.status).
#include <fmt/format.h>

#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ferry/error.hpp"
#include "jobs_status.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "peer_tables.hpp"
#include "ferry/conninfo.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"

namespace ferry::cli {
namespace {

struct StatusOptions {
    std::string peer;
    bool json = false;
    bool prometheus = false;
    bool peer_given = false;  // "" is a peer given (and refused), not none
};

const char* const kStatusQuery = R"(
SELECT table_name::text,
       peer,
       pending_changes,
       to_char(oldest_pending_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       round(extract(epoch FROM lag)::numeric, 1)::text,
       to_char(last_sync_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       open_conflicts,
       CASE WHEN EXISTS (SELECT FROM ferry.tracked_tables t WHERE t.relid = table_name)
            THEN 'capturing' END
FROM ferry.status
ORDER BY 1, 2 NULLS FIRST)";

// The SQLite view has the same rows; times are already ISO text in UTC, and
// names are quoted as SQL writes them, like PostgreSQL's regclass output.
const char* const kSqliteStatusQuery = R"(
SELECT CASE WHEN table_name GLOB '[a-z_]*' AND table_name NOT GLOB '*[^a-z0-9_]*'
            THEN table_name ELSE '"' || replace(table_name, '"', '""') || '"' END,
       peer,
       pending_changes,
       substr(oldest_pending_at, 1, 19) || 'Z',
       printf('%.1f', lag_seconds),
       substr(last_sync_at, 1, 19) || 'Z',
       open_conflicts,
       (SELECT capture_state FROM ferry_tracked t WHERE t.table_name = ferry_status.table_name)
FROM ferry_status
ORDER BY 1, 2 NULLS FIRST)";

// One row of either engine's status view, as text (NULL = nullopt).
using StatusRow = std::vector<std::optional<std::string>>;

std::vector<StatusRow> read_status(const std::string& peer_address, std::string& peer) {
    std::vector<StatusRow> rows;
    PeerAddress address = parse_peer(peer_address);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        peer = db.peer();
        require_sqlite_ferry(db);
        return db.query(kSqliteStatusQuery);
    }
    PgConnection db = connect_postgres_peer(peer_address);
    peer = db.peer();
    require_ferry(db, "0.1");
    auto result = db.query(kStatusQuery);
    for (int r = 0; r < result.rows(); r++) {
        StatusRow row;
        for (int c = 0; c < result.columns(); c++)
            row.push_back(result.value(r, c));
        rows.push_back(std::move(row));
    }
    return rows;
}

// Prometheus text for a peer: pending changes, lag and open conflicts per
// table and peer.
void print_peer_prometheus(const std::string& peer, const std::vector<StatusRow>& result) {
    std::string text =
        "# HELP ferry_pending_changes Changes not yet acknowledged by the consuming peer\n"
        "# TYPE ferry_pending_changes gauge\n";
    std::string lag =
        "# HELP ferry_lag_seconds Age of the oldest pending change\n"
        "# TYPE ferry_lag_seconds gauge\n";
    std::string conflicts =
        "# HELP ferry_open_conflicts Conflicts with the peer not yet resolved\n"
        "# TYPE ferry_open_conflicts gauge\n";
    for (const auto& row : result) {
        std::string labels =
            fmt::format("{{peer=\"{}\",table=\"{}\",consumer=\"{}\"}}", prometheus_label(peer),
                        prometheus_label(*row[0]), prometheus_label(row[1].value_or("")));
        text += fmt::format("ferry_pending_changes{} {}\n", labels, *row[2]);
        lag += fmt::format("ferry_lag_seconds{} {}\n", labels, *row[4]);
        conflicts += fmt::format("ferry_open_conflicts{} {}\n", labels, *row[6]);
    }
    fmt::print("{}{}{}", text, lag, conflicts);
}

int run_status(const StatusOptions& options) {
    if (!options.peer_given) {
        if (!config_has_jobs())
            throw CLI::RequiredError("peer (or a config file with jobs)");
        return print_jobs_status(options.json, options.prometheus);
    }
    std::string peer;
    std::vector<StatusRow> result = read_status(options.peer, peer);
    if (options.prometheus) {
        print_peer_prometheus(peer, result);
        return exit_ok;
    }
    if (options.json) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& row : result) {
            auto text_or_null = [&](int c) {
                return row[c] ? nlohmann::json(*row[c]) : nlohmann::json();
            };
            rows.push_back({{"table", *row[0]},
                            {"peer", text_or_null(1)},
                            {"pending_changes", std::stoll(*row[2])},
                            {"oldest_pending_at", text_or_null(3)},
                            {"lag_seconds", std::stod(*row[4])},
                            {"last_sync_at", text_or_null(5)},
                            {"open_conflicts", std::stoll(*row[6])},
                            {"capture", text_or_null(7)}});
        }
        print_json(nlohmann::json{{"peer", peer}, {"tables", rows}});
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : result) {
        rows.push_back({*row[0], row[1].value_or("-"), *row[2], *row[4] + "s",
                        row[5].value_or("never"), *row[6]});
    }
    if (rows.empty()) {
        fmt::print("no tracked tables in {}\n", peer);
        return exit_ok;
    }
    print_table({"TABLE", "PEER", "PENDING", "LAG", "LAST SYNC", "CONFLICTS"}, rows);
    // SQLite has no DDL triggers: a schema change can break capture there.
    std::set<std::string> warned;
    for (const auto& row : result)
        if (row[7] && *row[7] != "capturing" && warned.insert(*row[0]).second)
            fmt::print("warning: capture of {} is broken: {}\n", *row[0], *row[7]);
    return exit_ok;
}

}  // namespace

void setup_status(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<StatusOptions>();
    auto* cmd = app.add_subcommand(
        "status",
        "Sync state: a peer's pending changes, lag and conflicts; without a peer, the "
        "config's jobs");
    cmd->add_option("peer", options->peer,
                    "libpq connection string, URI, sqlite:PATH or a config name (omit it for "
                    "the jobs of the config file)")
        ->transform(resolve_peer);
    auto* json = cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->add_flag("--prometheus", options->prometheus,
                  "Prometheus text format (node_exporter's textfile collector)")
        ->excludes(json);
    cmd->callback([options, exit_code, cmd] {
        options->peer_given = cmd->get_option("peer")->count() > 0;
        *exit_code = run_status(*options);
    });
}

}  // namespace ferry::cli
