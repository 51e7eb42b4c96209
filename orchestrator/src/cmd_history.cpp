// `ferry history PEER`: the sessions a peer recorded (full syncs into it,
// diffs it started, ...), newest first, from ferry.sessions / ferry_sessions.
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

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

struct HistoryOptions {
    std::string peer;
    std::optional<std::string> source;  // ferry history JOB: the job's source, redacted
    int limit = 20;
    std::string status;
    bool json = false;
};

// Both engines answer with the same text columns; times in UTC, ISO 8601.
const char* const kHistoryQuery = R"(
SELECT id, kind, direction, source, target, method, status, rows_done, rows_total,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       round(extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at)::numeric,
             1)::text,
       phase, error
FROM ferry.sessions
WHERE ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR source = $3)
ORDER BY id DESC
LIMIT $1)";

const char* const kSqliteHistoryQuery = R"(
SELECT id, kind, direction, source, target, method, status, rows_done, rows_total,
       substr(started_at, 1, 19) || 'Z',
       substr(finished_at, 1, 19) || 'Z',
       printf('%.1f', (julianday(coalesce(finished_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
                       - julianday(started_at)) * 86400),
       phase, error
FROM ferry_sessions
WHERE (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR source = ?3)
ORDER BY id DESC
LIMIT ?1)";

enum Column {
    kId,
    kKind,
    kDirection,
    kSource,
    kTarget,
    kMethod,
    kStatus,
    kRowsDone,
    kRowsTotal,
    kStarted,
    kFinished,
    kSeconds,
    kPhase,
    kError
};

using SessionRow = std::vector<std::optional<std::string>>;

// Sessions whose ferry process died are closed as failed first, where this
// role may and the peer can be written; otherwise they are listed as they are.
void close_abandoned_sessions(SqliteConnection& db) {
    try {
        db.execute("SELECT ferry_close_abandoned_sessions()");
    } catch (const Error&) {
        // a read-only file
    }
}

void close_abandoned_sessions(PgConnection& db) {
    try {
        auto allowed = db.query(
            "SELECT has_function_privilege(p, 'EXECUTE') "
            "FROM to_regprocedure('ferry.close_abandoned_sessions()') p WHERE p IS NOT NULL");
        if (allowed.rows() == 1 && allowed.text(0, 0) == "t")
            db.execute("SELECT ferry.close_abandoned_sessions()");
    } catch (const Error&) {
        // a hot standby
    }
}

std::vector<SessionRow> read_history(const HistoryOptions& options, std::string& peer) {
    std::vector<std::optional<std::string>> params{
        std::to_string(options.limit),
        options.status.empty() ? std::nullopt : std::optional(options.status), options.source};
    PeerAddress address = parse_peer(options.peer);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        peer = db.peer();
        require_sqlite_ferry(db);
        close_abandoned_sessions(db);
        return db.query(kSqliteHistoryQuery, params);
    }
    PgConnection db = connect_postgres_peer(options.peer);
    peer = db.peer();
    require_ferry(db, "0.1");
    close_abandoned_sessions(db);
    PgResult result = db.query(kHistoryQuery, params);
    std::vector<SessionRow> rows;
    for (int r = 0; r < result.rows(); r++) {
        SessionRow row;
        for (int c = 0; c < result.columns(); c++)
            row.push_back(result.value(r, c));
        rows.push_back(std::move(row));
    }
    return rows;
}

nlohmann::json text_or_null(const std::optional<std::string>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json();
}

nlohmann::json number_or_null(const std::optional<std::string>& value) {
    return value ? nlohmann::json(std::stoll(*value)) : nlohmann::json();
}

void print_json(const std::string& peer, const std::vector<SessionRow>& sessions) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : sessions)
        rows.push_back({{"id", std::stoll(*s[kId])},
                        {"kind", *s[kKind]},
                        {"direction", text_or_null(s[kDirection])},
                        {"source", text_or_null(s[kSource])},
                        {"target", text_or_null(s[kTarget])},
                        {"method", text_or_null(s[kMethod])},
                        {"status", *s[kStatus]},
                        {"rows_done", number_or_null(s[kRowsDone])},
                        {"rows_total", number_or_null(s[kRowsTotal])},
                        {"started_at", text_or_null(s[kStarted])},
                        {"finished_at", text_or_null(s[kFinished])},
                        {"seconds", std::stod(*s[kSeconds])},
                        {"phase", text_or_null(s[kPhase])},
                        {"error", text_or_null(s[kError])}});
    cli::print_json(nlohmann::json{{"peer", peer}, {"sessions", rows}});
}

// Long errors are cut for the table; --json has them whole.
std::string first_line(const std::optional<std::string>& text, size_t width) {
    if (!text)
        return "";
    std::string line = text->substr(0, text->find('\n'));
    return shorten(line, width);
}

void print_table_of(const std::string& peer, const std::vector<SessionRow>& sessions) {
    if (sessions.empty()) {
        fmt::print("no sessions recorded in {}\n", peer);
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : sessions) {
        std::string rows_done = *s[kRowsDone];
        if (s[kRowsTotal])
            rows_done += "/" + *s[kRowsTotal];
        rows.push_back({*s[kId], *s[kKind], s[kMethod].value_or("-"),
                        s[kSource].value_or("-") + " -> " + s[kTarget].value_or("-"), *s[kStatus],
                        rows_done, s[kStarted].value_or("-"), *s[kSeconds] + "s",
                        first_line(s[kError], 60)});
    }
    print_table({"ID", "KIND", "METHOD", "SOURCE -> TARGET", "STATUS", "ROWS", "STARTED",
                 "DURATION", "ERROR"},
                rows);
}

// ferry history JOB: the sessions of a job of the config file, in its
// target, from its source (docs/scheduling.md).
void select_job(HistoryOptions& options) {
    const JobSpec* job = find_job(options.peer);
    if (!job) {
        options.peer = resolve_peer(options.peer);
        return;
    }
    if (job->fleet && job->fleet->pattern_is_target)
        throw Error(ErrorKind::invalid_input,
                    fmt::format("job {} is a fleet: its sessions are in each member", job->name),
                    {}, "Give one member's address: ferry history sqlite:/data/member.db");
    options.peer = job->target;
    // A fleet of sources: every member's sessions are in the one target.
    if (!job->fleet)
        options.source = redact(job->source);
}

int run_history(HistoryOptions options) {
    select_job(options);
    std::string peer;
    std::vector<SessionRow> sessions = read_history(options, peer);
    if (options.json)
        print_json(peer, sessions);
    else
        print_table_of(peer, sessions);
    return exit_ok;
}

}  // namespace

void setup_history(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<HistoryOptions>();
    auto* cmd = app.add_subcommand("history", "List past and running sessions, newest first");
    cmd->add_option("peer", options->peer,
                    "The peer that recorded them (a sync's target): connection string, URI, "
                    "sqlite:PATH or a peer name; or a job of the config file")
        ->required();
    cmd->add_option("--limit", options->limit, "How many sessions (default 20)")
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--status", options->status, "Only sessions with this status")
        ->check(CLI::IsMember({"running", "succeeded", "failed", "cancelled"}));
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->callback([options, exit_code] { *exit_code = run_history(*options); });
}

}  // namespace ferry::cli
