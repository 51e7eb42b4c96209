// `ferry init PEER [--track t1,t2]`: creates or upgrades the extension in a
// peer and tracks tables, all in one transaction: on any error nothing changes.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "peer_identity.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"
#include "schema.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"
#include "table_list_option.hpp"

namespace ferry::cli {
namespace {

struct InitOptions {
    std::string peer;
    std::vector<std::string> tables;
    bool json = false;
};

struct InitReport {
    std::string action;  // created, updated, unchanged
    std::string version;
    std::vector<std::string> tracked;
};

// Makes sure the ferry extension is at its newest version in the database.
InitReport install_extension(PgConnection& db) {
    auto available = db.query(
        "SELECT default_version, installed_version FROM pg_available_extensions "
        "WHERE name = 'ferry'");
    if (available.rows() == 0)
        throw Error(
            ErrorKind::not_found,
            fmt::format("the ferry extension is not installed on the server of {}", db.peer()),
            "pg_available_extensions has no entry for ferry.",
            "Install it on that server (make install-extension, as root), then run "
            "ferry init again.");
    std::string newest = available.text(0, 0);
    InitReport report{"unchanged", newest, {}};
    if (available.is_null(0, 1)) {
        db.execute("CREATE EXTENSION ferry");
        report.action = "created";
    } else if (available.text(0, 1) != newest) {
        db.execute("ALTER EXTENSION ferry UPDATE");
        report.action = "updated";
    }
    return report;
}

void track_tables(PgConnection& db, const std::vector<std::string>& tables, InitReport& report) {
    for (const auto& table : tables) {
        auto relation = db.query("SELECT to_regclass($1)::text", {table});
        if (relation.is_null(0, 0))
            throw Error(ErrorKind::not_found, fmt::format("table \"{}\" does not exist", table), {},
                        "Name it as in SQL: schema.table, with double quotes around "
                        "names that have upper case or spaces.");
        std::string name = relation.text(0, 0);
        auto tracked =
            db.query("SELECT 1 FROM ferry.tracked_tables WHERE relid = $1::regclass", {name});
        if (tracked.rows() == 0)
            db.execute("SELECT ferry.track($1::regclass)", {name});
        report.tracked.push_back(name);
    }
}

// A SQLite peer: the file is created if missing, switched to WAL (so that
// readers never block writers), and ferry's tables are created or upgraded,
// with the tables tracked, in one transaction.
InitReport init_sqlite_file(const std::string& path, const std::vector<std::string>& tables,
                            std::string& peer) {
    SqliteConnection db(path, true);
    peer = db.peer();
    db.query("PRAGMA journal_mode = WAL");
    InitReport report{"unchanged", FERRY_VERSION, {}};
    db.execute("BEGIN IMMEDIATE");
    try {
        std::optional<int> before = sqlite::installed_schema_version(db.handle());
        db.execute("SELECT ferry_init()");
        // The peer's id now, in this transaction: made later, it would be
        // a write at the start of a run, waiting for another ferry's.
        sqlite_peer_id(db);
        if (!before)
            report.action = "created";
        else if (before != sqlite::installed_schema_version(db.handle()))
            report.action = "updated";
        for (const auto& table : tables) {
            std::string name = sqlite_table_name(table);
            db.execute("SELECT ferry_track(?1)", {name});
            report.tracked.push_back(sql_written_name(
                *db.query("SELECT table_name FROM ferry_tracked_tables WHERE table_name = ?1 "
                          "COLLATE NOCASE",
                          {name})
                     .at(0)
                     .at(0)));
        }
        db.execute("COMMIT");
    } catch (...) {
        db.execute("ROLLBACK");
        throw;
    }
    return report;
}

// A failed init changes nothing: not even by leaving behind the file it
// created (a mistyped path would then look like a database without ferry).
InitReport init_sqlite(const std::string& path, const std::vector<std::string>& tables,
                       std::string& peer) {
    bool existed = std::filesystem::exists(path);
    try {
        return init_sqlite_file(path, tables, peer);
    } catch (...) {
        std::error_code ignored;
        if (!existed)
            for (const char* suffix : {"", "-wal", "-shm"})
                std::filesystem::remove(path + suffix, ignored);
        throw;
    }
}

int run_init(const InitOptions& options) {
    InitReport report;
    std::string peer;
    PeerAddress address = parse_peer(options.peer);
    if (address.engine == PeerEngine::sqlite) {
        report = init_sqlite(address.target, options.tables, peer);
    } else {
        PgConnection db = connect_postgres_peer(options.peer);
        peer = db.peer();
        in_transaction(db, [&] {
            report = install_extension(db);
            track_tables(db, options.tables, report);
        });
    }
    drop_repeats(report.tracked, [](const std::string& table) { return table; });
    if (options.json) {
        nlohmann::json out = {
            {"peer", peer},
            {"extension", {{"action", report.action}, {"version", report.version}}},
            {"tracked", report.tracked}};
        print_json(out);
    } else {
        fmt::print("ferry {} {} in {}\n", report.version, report.action, peer);
        for (const auto& table : report.tracked)
            fmt::print("tracking {}\n", table);
    }
    return exit_ok;
}

}  // namespace

void setup_init(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<InitOptions>();
    auto* cmd = app.add_subcommand("init", "Install or upgrade ferry in a peer and track tables");
    cmd->add_option("peer", options->peer, "libpq connection string, URI or sqlite:PATH")
        ->transform(resolve_peer)
        ->required();
    add_table_list_option(cmd, "--track", options->tables,
                          "Tables to track (comma-separated, repeatable)");
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->callback([options, exit_code] { *exit_code = run_init(*options); });
}

}  // namespace ferry::cli
