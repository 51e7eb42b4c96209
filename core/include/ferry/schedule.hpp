// When a scheduled job is due (docs/scheduling.md). `ferry run` reads each
// job's history from the databases and asks decide() what to do now; the
// order of the due jobs comes from run_order(). Times are seconds since the
// Unix epoch, as the database that keeps the history reports them, so that
// every machine running ferry decides alike.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ferry::schedule {

// A job's rhythm; each setting is optional (seconds).
struct Timing {
    std::optional<double> full_every;    // a full copy this often
    std::optional<double> delta_every;   // an incremental run (or a checked re-copy) this often
    std::optional<double> fresh_within;  // skip when a run succeeded this recently
};

// The last run of one kind (full or delta) of a job, as its record says.
struct RunRecord {
    std::string status;  // "" (never ran), "running", "completed", "failed"
    std::optional<double> last_attempt;
    std::optional<double> last_completed;
    std::string last_error;
};

struct History {
    RunRecord full;
    RunRecord delta;
    // The newest success of either kind.
    std::optional<double> last_success() const;
    // The newest attempt of either kind.
    std::optional<double> last_attempt() const;
};

enum class Work { none, full, delta };

struct Decision {
    Work work = Work::none;
    std::string reason;              // why, in words: "due: last full copy 25h ago, every 24h"
    std::optional<double> next_due;  // when it becomes due (nullopt: now, or never)
    bool fresh = false;              // skipped because of fresh_within
};

// A run counts as on time a little early, so that a cron line every N
// minutes keeps an N-minute job on its beat although each run takes a while:
// a tenth of the period, at most five minutes.
double grace(double every);

// What a job should do at `now`: retry a failed run, skip a fresh one, else
// whichever of full and delta is due (full first).
Decision decide(const Timing& timing, const History& history, double now);

// "25h", "90s", "3d 4h": a duration for people.
std::string describe_seconds(double seconds);

// The order to run jobs in: every job after the jobs its `after` lists, and
// otherwise by priority (higher first), then name. Throws Error(invalid_input)
// naming the jobs of a cycle or an unknown name.
struct Ordered {
    std::string name;
    int priority = 0;
    std::vector<std::string> after;
};
std::vector<size_t> run_order(const std::vector<Ordered>& jobs);

}  // namespace ferry::schedule
