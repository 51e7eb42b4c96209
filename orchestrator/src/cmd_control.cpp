// Control commands a DBA runs by hand:
//   ferry unlock NAME --peer PEER    releases a lease whoever holds it
//   ferry cancel SESSION --peer PEER asks a running session to stop at its
//                                    next batch boundary
// Both act on the peer where the lease or session lives (a sync's target).
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"

namespace ferry::cli {
namespace {

// Runs a one-value function call in PostgreSQL ($1) or SQLite (?1) and
// returns whether it answered true.
bool call_on_peer(const std::string& peer, const std::string& pg_sql, const std::string& sqlite_sql,
                  const std::string& argument) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        require_sqlite_ferry(db);
        return db.query(sqlite_sql, {argument}).at(0).at(0) == std::optional<std::string>("1");
    }
    PgConnection db = connect_postgres_peer(peer);
    require_ferry(db, "0.2");
    return db.query(pg_sql, {argument}).text(0, 0) == "t";
}

}  // namespace

void setup_control(CLI::App& app, int* exit_code) {
    struct Options {
        std::string name;
        std::int64_t session = 0;
        std::string peer;
    };
    auto options = std::make_shared<Options>();

    auto* unlock = app.add_subcommand("unlock", "Release a lease, whoever holds it");
    unlock->add_option("name", options->name, "The lease, as ferry.locks names it")->required();
    unlock->add_option("--peer", options->peer, "The peer that holds the lease")
        ->transform(resolve_peer)
        ->required();
    unlock->callback([options, exit_code] {
        bool released = call_on_peer(options->peer, "SELECT ferry.force_unlock($1)",
                                     "SELECT ferry_force_unlock(?1)", options->name);
        if (!released)
            throw Error(ErrorKind::not_found,
                        fmt::format("no lease \"{}\" in {}", options->name, redact(options->peer)));
        fmt::print("released lease \"{}\"\n", options->name);
        *exit_code = exit_ok;
    });

    auto* cancel = app.add_subcommand("cancel", "Ask a running session to stop");
    cancel->add_option("session", options->session, "The session id, as ferry.sessions shows it")
        ->required();
    cancel->add_option("--peer", options->peer, "The peer that records the session")
        ->transform(resolve_peer)
        ->required();
    cancel->callback([options, exit_code] {
        if (options->session <= 0)
            throw Error(ErrorKind::invalid_input,
                        fmt::format("invalid session id {}", options->session), {},
                        "Give the id column of ferry.sessions, a positive number.");
        bool asked = call_on_peer(options->peer, "SELECT ferry.cancel($1::bigint)",
                                  "SELECT ferry_cancel(?1)", std::to_string(options->session));
        if (!asked)
            throw Error(
                ErrorKind::not_found,
                fmt::format("no running session {} in {}", options->session, redact(options->peer)),
                {}, "ferry.sessions (ferry_sessions in SQLite) lists sessions and their status.");
        fmt::print("asked session {} to stop at its next batch\n", options->session);
        *exit_code = exit_ok;
    });
}

}  // namespace ferry::cli
