// What ferry run keeps about its jobs, in the databases and nowhere else
// (docs/scheduling.md), so that any machine can run them: in the job's home
// peer (its target, or a fleet's hub),
//   ferry.checkpoints  job "job NAME", scope "full" or "delta": the last run
//                      of each kind, its outcome in position
//   ferry.locks        "job NAME": held while the job runs;
//                      "pause NAME" / "pause *": ferry pause, the reason as holder
// (ferry_checkpoints and ferry_locks in a SQLite home).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ferry/schedule.hpp"

namespace ferry::cli {

// All of one home's job state, read at once.
struct HomeState {
    double now = 0;  // the home's clock: every machine decides by the same one
    std::map<std::string, schedule::History> histories;  // by job name
    std::map<std::string, nlohmann::json> positions;     // by "NAME full" / "NAME delta"
    std::map<std::string, std::string> pauses;           // job name or "*" -> reason
    // job name -> lease holder; not a holder known to be dead (a ferry
    // process of this machine that is gone)
    std::map<std::string, std::string> running;

    // The pause that stops a job, if any: its own or "*".
    std::optional<std::string> pause_of(const std::string& job) const;
    // What the job is due for: by its timing, or at once to retry a run
    // that was abandoned (its record says running, no live ferry holds it).
    schedule::Decision decide(const std::string& job, const schedule::Timing& timing) const;
};

std::string job_record(const std::string& job);   // "job NAME"
std::string job_lease(const std::string& job);    // "job NAME"
std::string pause_lease(const std::string& job);  // "pause NAME", "pause *"

class JobStore {
  public:
    virtual ~JobStore() = default;
    virtual const std::string& peer() const = 0;  // redacted
    virtual HomeState read() = 0;
    // nullopt when `holder` has the lease now, else who holds it.
    virtual std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                                int ttl_seconds) = 0;
    virtual void unlock(const std::string& lease, const std::string& holder) = 0;
    virtual bool force_unlock(const std::string& lease) = 0;
    // A run of `kind` (full, delta) starts, ends, or fails; `position`
    // holds who runs it and its sessions, then its outcome.
    virtual void begin(const std::string& job, const std::string& kind,
                       const nlohmann::json& position) = 0;
    virtual void update(const std::string& job, const std::string& kind,
                        const nlohmann::json& position) = 0;
    // update(), and in the same transaction each consumer acknowledged at
    // `cursor` (a fleet's unchanged members: docs/scheduling.md#fleets);
    // then the change log purged of what every consumer has.
    virtual void update_and_ack(const std::string& job, const std::string& kind,
                                const nlohmann::json& position,
                                const std::vector<std::string>& consumers,
                                const std::string& cursor) = 0;
    virtual void complete(const std::string& job, const std::string& kind,
                          const nlohmann::json& position) = 0;
    virtual void fail(const std::string& job, const std::string& kind,
                      const std::string& error) = 0;
    // The pause mark: a lease that does not expire, its holder the reason.
    virtual void pause(const std::string& job, const std::string& reason) = 0;
};

std::unique_ptr<JobStore> open_job_store(const std::string& peer);

// Ends a session a dead ferry left "running" (best effort: it may be gone,
// or already finished).
void finish_abandoned_session(const std::string& peer, int64_t id, const std::string& reason);

// Asks a running session to stop at its next batch (ferry.cancel).
bool cancel_session(const std::string& peer, int64_t id);

}  // namespace ferry::cli
