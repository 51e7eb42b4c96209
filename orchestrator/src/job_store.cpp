// Job state in a home peer (see job_store.hpp).
#include "job_store.hpp"

#include <fmt/format.h>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"
#include "table_leases.hpp"

namespace ferry::cli {
namespace {

// A pause mark outlives everything but ferry resume.
constexpr int64_t kPauseSeconds = int64_t{50} * 365 * 86400;

// Rows of the state query, alike for both engines:
// what ('record', 'lease', 'now'), name, scope/holder, status, attempt, completed, error, position.
using StateRow = std::vector<std::optional<std::string>>;

std::optional<double> epoch(const std::optional<std::string>& text) {
    if (!text)
        return std::nullopt;
    return std::stod(*text);
}

HomeState state_from_rows(const std::vector<StateRow>& rows) {
    HomeState state;
    for (const auto& row : rows) {
        const std::string& what = *row[0];
        if (what == "now") {
            state.now = *epoch(row[4]);
        } else if (what == "record") {
            const std::string& name = *row[1];
            const std::string& kind = *row[2];
            schedule::RunRecord record{*row[3], epoch(row[4]), epoch(row[5]), row[6].value_or("")};
            schedule::History& history = state.histories[name];
            (kind == "full" ? history.full : history.delta) = record;
            if (row[7])
                state.positions[name + " " + kind] = nlohmann::json::parse(*row[7], nullptr, false);
        } else if (what == "lease") {
            const std::string& name = *row[1];
            if (name.rfind("pause ", 0) == 0)
                state.pauses[name.substr(6)] = *row[2];
            else if (name.rfind("job ", 0) == 0 && !holder_is_gone(*row[2]))
                state.running[name.substr(4)] = *row[2];
        }
    }
    return state;
}

class PostgresJobStore : public JobStore {
  public:
    explicit PostgresJobStore(const std::string& peer) : db_(connect_postgres_peer(peer)) {
        require_ferry(db_, "0.4");
    }
    const std::string& peer() const override { return db_.peer(); }

    HomeState read() override {
        PgResult result = db_.query(R"(
SELECT 'record', substr(job, 5), scope, status, extract(epoch FROM last_attempt_at)::float8,
       extract(epoch FROM last_completed_at)::float8, last_error, position::text
FROM ferry.checkpoints WHERE job LIKE 'job %' AND scope IN ('full', 'delta')
UNION ALL
SELECT 'lease', name, holder, NULL, NULL, NULL, NULL, NULL
FROM ferry.locks WHERE (name LIKE 'job %' OR name LIKE 'pause %') AND expires_at > now()
UNION ALL
SELECT 'now', NULL, NULL, NULL, extract(epoch FROM now())::float8, NULL, NULL, NULL)");
        std::vector<StateRow> rows;
        for (int r = 0; r < result.rows(); r++) {
            StateRow row;
            for (int c = 0; c < result.columns(); c++)
                row.push_back(result.value(r, c));
            rows.push_back(std::move(row));
        }
        return state_from_rows(rows);
    }

    std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                        int ttl_seconds) override {
        PgResult taken = db_.query(
            "SELECT ferry.try_lock($1, $2, make_interval(secs => $3)), "
            "(SELECT holder FROM ferry.locks WHERE name = $1)",
            {lease, holder, std::to_string(ttl_seconds)});
        if (taken.text(0, 0) == "t")
            return std::nullopt;
        return taken.value(0, 1).value_or("(gone)");
    }
    void unlock(const std::string& lease, const std::string& holder) override {
        db_.execute("SELECT ferry.unlock($1, $2)", {lease, holder});
    }
    bool force_unlock(const std::string& lease) override {
        return db_.query("SELECT ferry.force_unlock($1)", {lease}).text(0, 0) == "t";
    }

    void begin(const std::string& job, const std::string& kind,
               const nlohmann::json& position) override {
        in_transaction(db_, [&] {
            db_.execute("SELECT ferry.checkpoint_begin($1, $2)", {job_record(job), kind});
            advance(job, kind, position);
        });
    }
    void update(const std::string& job, const std::string& kind,
                const nlohmann::json& position) override {
        advance(job, kind, position);
    }
    void update_and_ack(const std::string& job, const std::string& kind,
                        const nlohmann::json& position, const std::vector<std::string>& consumers,
                        const std::string& cursor) override {
        in_transaction(db_, [&] {
            advance(job, kind, position);
            if (!consumers.empty())
                db_.execute("SELECT ferry.ack(c, $2::jsonb) FROM jsonb_array_elements_text($1) c",
                            {nlohmann::json(consumers).dump(), cursor});
        });
        if (!consumers.empty())
            db_.execute("SELECT ferry.purge()");
    }
    void complete(const std::string& job, const std::string& kind,
                  const nlohmann::json& position) override {
        in_transaction(db_, [&] {
            advance(job, kind, position);
            db_.execute("SELECT ferry.checkpoint_complete($1, $2)", {job_record(job), kind});
        });
    }
    void fail(const std::string& job, const std::string& kind, const std::string& error) override {
        db_.execute("SELECT ferry.checkpoint_fail($1, $2, $3)", {job_record(job), kind, error});
    }
    void pause(const std::string& job, const std::string& reason) override {
        in_transaction(db_, [&] {
            db_.execute("SELECT ferry.force_unlock($1)", {pause_lease(job)});
            db_.execute("SELECT ferry.try_lock($1, $2, make_interval(secs => $3))",
                        {pause_lease(job), reason, std::to_string(kPauseSeconds)});
        });
    }

  private:
    void advance(const std::string& job, const std::string& kind, const nlohmann::json& position) {
        db_.execute("SELECT ferry.checkpoint_advance($1, $2, $3::jsonb, 0)",
                    {job_record(job), kind, position.dump()});
    }

    PgConnection db_;
};

class SqliteJobStore : public JobStore {
  public:
    explicit SqliteJobStore(const std::string& path) : db_(path, false) {
        require_sqlite_ferry(db_);
    }
    const std::string& peer() const override { return db_.peer(); }

    HomeState read() override {
        return state_from_rows(db_.query(R"(
SELECT 'record', substr(job, 5), scope, status,
       (julianday(last_attempt_at) - 2440587.5) * 86400.0,
       (julianday(last_completed_at) - 2440587.5) * 86400.0, last_error, position
FROM ferry_checkpoints WHERE job LIKE 'job %' AND scope IN ('full', 'delta')
UNION ALL
SELECT 'lease', name, holder, NULL, NULL, NULL, NULL, NULL
FROM ferry_locks WHERE (name LIKE 'job %' OR name LIKE 'pause %')
                   AND julianday(expires_at) > julianday('now')
UNION ALL
SELECT 'now', NULL, NULL, NULL, (julianday('now') - 2440587.5) * 86400.0, NULL, NULL, NULL)"));
    }

    std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                        int ttl_seconds) override {
        if (auto other = other_live_holder(db_, lease, holder))
            return other;
        auto row = db_.query(
                          "SELECT ferry_try_lock(?1, ?2, ?3), "
                          "(SELECT holder FROM ferry_locks WHERE name = ?1)",
                          {lease, holder, std::to_string(ttl_seconds)})
                       .at(0);
        if (row.at(0) == std::optional<std::string>("1"))
            return std::nullopt;
        return row.at(1).value_or("(gone)");
    }
    void unlock(const std::string& lease, const std::string& holder) override {
        db_.execute("SELECT ferry_unlock(?1, ?2)", {lease, holder});
    }
    bool force_unlock(const std::string& lease) override {
        return db_.query("SELECT ferry_force_unlock(?1)", {lease}).at(0).at(0) ==
               std::optional<std::string>("1");
    }

    void begin(const std::string& job, const std::string& kind,
               const nlohmann::json& position) override {
        transaction([&] {
            db_.execute("SELECT ferry_checkpoint_begin(?1, ?2)", {job_record(job), kind});
            advance(job, kind, position);
        });
    }
    void update(const std::string& job, const std::string& kind,
                const nlohmann::json& position) override {
        advance(job, kind, position);
    }
    void update_and_ack(const std::string& job, const std::string& kind,
                        const nlohmann::json& position, const std::vector<std::string>& consumers,
                        const std::string& cursor) override {
        transaction([&] {
            advance(job, kind, position);
            for (const auto& consumer : consumers)
                db_.execute("SELECT ferry_ack(?1, ?2)", {consumer, cursor});
        });
        if (!consumers.empty())
            db_.execute("SELECT ferry_purge()");
    }
    void complete(const std::string& job, const std::string& kind,
                  const nlohmann::json& position) override {
        transaction([&] {
            advance(job, kind, position);
            db_.execute("SELECT ferry_checkpoint_complete(?1, ?2)", {job_record(job), kind});
        });
    }
    void fail(const std::string& job, const std::string& kind, const std::string& error) override {
        db_.execute("SELECT ferry_checkpoint_fail(?1, ?2, ?3)", {job_record(job), kind, error});
    }
    void pause(const std::string& job, const std::string& reason) override {
        transaction([&] {
            db_.execute("SELECT ferry_force_unlock(?1)", {pause_lease(job)});
            db_.execute("SELECT ferry_try_lock(?1, ?2, ?3)",
                        {pause_lease(job), reason, std::to_string(kPauseSeconds)});
        });
    }

  private:
    void advance(const std::string& job, const std::string& kind, const nlohmann::json& position) {
        db_.execute("SELECT ferry_checkpoint_advance(?1, ?2, ?3, 0)",
                    {job_record(job), kind, position.dump()});
    }
    template <class Body>
    void transaction(Body&& body) {
        db_.execute("BEGIN IMMEDIATE");
        try {
            body();
        } catch (...) {
            db_.execute("ROLLBACK");
            throw;
        }
        db_.execute("COMMIT");
    }

    SqliteConnection db_;
};

}  // namespace

std::optional<std::string> HomeState::pause_of(const std::string& job) const {
    auto own = pauses.find(job);
    if (own != pauses.end())
        return own->second;
    auto all = pauses.find("*");
    if (all != pauses.end())
        return all->second;
    return std::nullopt;
}

schedule::Decision HomeState::decide(const std::string& job, const schedule::Timing& timing) const {
    schedule::History history;
    if (auto found = histories.find(job); found != histories.end())
        history = found->second;
    schedule::Decision decision = schedule::decide(timing, history, now);
    bool abandoned = (history.full.status == "running" || history.delta.status == "running") &&
                     !running.count(job);
    if (abandoned && decision.work == schedule::Work::none)
        decision = {history.full.status == "running" ? schedule::Work::full : schedule::Work::delta,
                    "retry: the last run was abandoned",
                    {},
                    false};
    return decision;
}

std::string job_record(const std::string& job) {
    return "job " + job;
}
std::string job_lease(const std::string& job) {
    return "job " + job;
}
std::string pause_lease(const std::string& job) {
    return "pause " + job;
}

std::unique_ptr<JobStore> open_job_store(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteJobStore>(address.target);
    return std::make_unique<PostgresJobStore>(peer);
}

void finish_abandoned_session(const std::string& peer, int64_t id, const std::string& reason) {
    try {
        PeerAddress address = parse_peer(peer);
        if (address.engine == PeerEngine::sqlite) {
            SqliteConnection db(address.target, false);
            db.execute(
                "SELECT ferry_session_finish(?1, 'failed', ?2) FROM ferry_sessions WHERE "
                "id = ?1 AND status = 'running'",
                {std::to_string(id), reason});
            return;
        }
        PgConnection db = connect_postgres_peer(peer);
        db.execute(
            "SELECT ferry.session_finish(id, 'failed', $2) FROM ferry.sessions WHERE id = "
            "$1::bigint AND status = 'running'",
            {std::to_string(id), reason});
    } catch (const Error&) {
        // The peer is unreachable: the session stays as it was.
    }
}

bool cancel_session(const std::string& peer, int64_t id) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        return db.query("SELECT ferry_cancel(?1)", {std::to_string(id)}).at(0).at(0) ==
               std::optional<std::string>("1");
    }
    PgConnection db = connect_postgres_peer(peer);
    return db.query("SELECT ferry.cancel($1::bigint)", {std::to_string(id)}).text(0, 0) == "t";
}

}  // namespace ferry::cli
