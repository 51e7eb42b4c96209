// `ferry status PEER`: per tracked table and consuming peer, the pending
// changes, lag, last sync and open conflicts (the view ferry.status).
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"

namespace ferry::cli {
namespace {

struct StatusOptions {
    std::string peer;
    bool json = false;
};

const char* const kStatusQuery = R"(
SELECT table_name::text,
       peer,
       pending_changes,
       to_char(oldest_pending_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       round(extract(epoch FROM lag)::numeric, 1)::text,
       to_char(last_sync_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       open_conflicts
FROM ferry.status
ORDER BY 1, 2 NULLS FIRST)";

int run_status(const StatusOptions& options) {
    PgConnection db = connect_postgres_peer(options.peer);
    require_ferry(db, "0.1");
    auto result = db.query(kStatusQuery);
    if (options.json) {
        nlohmann::json rows = nlohmann::json::array();
        for (int r = 0; r < result.rows(); r++) {
            auto text_or_null = [&](int c) {
                return result.is_null(r, c) ? nlohmann::json() : nlohmann::json(result.text(r, c));
            };
            rows.push_back({{"table", result.text(r, 0)},
                            {"peer", text_or_null(1)},
                            {"pending_changes", std::stoll(result.text(r, 2))},
                            {"oldest_pending_at", text_or_null(3)},
                            {"lag_seconds", std::stod(result.text(r, 4))},
                            {"last_sync_at", text_or_null(5)},
                            {"open_conflicts", std::stoll(result.text(r, 6))}});
        }
        fmt::print("{}\n", nlohmann::json{{"peer", db.peer()}, {"tables", rows}}.dump());
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (int r = 0; r < result.rows(); r++) {
        rows.push_back({result.text(r, 0), result.value(r, 1).value_or("-"), result.text(r, 2),
                        result.text(r, 4) + "s", result.value(r, 5).value_or("never"),
                        result.text(r, 6)});
    }
    if (rows.empty()) {
        fmt::print("no tracked tables in {}\n", db.peer());
        return exit_ok;
    }
    print_table({"TABLE", "PEER", "PENDING", "LAG", "LAST SYNC", "CONFLICTS"}, rows);
    return exit_ok;
}

}  // namespace

void setup_status(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<StatusOptions>();
    auto* cmd = app.add_subcommand("status", "Show sync state: pending changes, lag, conflicts");
    cmd->add_option("peer", options->peer, "libpq connection string or URI")->required();
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->callback([options, exit_code] { *exit_code = run_status(*options); });
}

}  // namespace ferry::cli
