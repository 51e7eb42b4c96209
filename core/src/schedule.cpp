// Due logic and run order of scheduled jobs (see schedule.hpp).
#include "ferry/schedule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "ferry/error.hpp"

namespace ferry::schedule {
namespace {

std::optional<double> newest(std::optional<double> a, std::optional<double> b) {
    if (!a)
        return b;
    if (!b)
        return a;
    return std::max(*a, *b);
}

// The last attempt failed after the last success.
bool failed(const RunRecord& record) {
    return record.status == "failed";
}

struct Due {
    bool now = false;
    std::optional<double> at;
    std::string reason;
};

// A run of period `every` whose last success was at `last`.
Due due_by_period(const char* what, double every, std::optional<double> last, double now) {
    if (!last)
        return {true, std::nullopt, fmt::format("due: no {} has completed yet", what)};
    double at = *last + every - grace(every);
    if (now >= at)
        return {true, std::nullopt,
                fmt::format("due: last {} {} ago, every {}", what, describe_seconds(now - *last),
                            describe_seconds(every))};
    return {false, at, {}};
}

}  // namespace

std::optional<double> History::last_success() const {
    return newest(full.last_completed, delta.last_completed);
}

std::optional<double> History::last_attempt() const {
    return newest(full.last_attempt, delta.last_attempt);
}

double grace(double every) {
    return std::min(every / 10, 300.0);
}

std::string describe_seconds(double seconds) {
    auto total = static_cast<long long>(std::llround(std::max(seconds, 0.0)));
    if (total < 120)
        return fmt::format("{}s", total);
    if (total < 7200)
        return fmt::format("{}m", total / 60);
    if (total < 3 * 86400)
        return total % 3600 >= 60 ? fmt::format("{}h {}m", total / 3600, total % 3600 / 60)
                                  : fmt::format("{}h", total / 3600);
    return total % 86400 >= 3600 ? fmt::format("{}d {}h", total / 86400, total % 86400 / 3600)
                                 : fmt::format("{}d", total / 86400);
}

Decision decide(const Timing& timing, const History& history, double now) {
    if (timing.full_every && failed(history.full))
        return {
            Work::full, "retry: the last full copy failed: " + history.full.last_error, {}, false};
    if (failed(history.delta))
        return {Work::delta, "retry: the last run failed: " + history.delta.last_error, {}, false};
    std::optional<double> success = history.last_success();
    if (timing.fresh_within && success && now - *success < *timing.fresh_within) {
        // Due again when freshness ends, or later when its period says so.
        Timing by_period = timing;
        by_period.fresh_within.reset();
        double fresh_until = *success + *timing.fresh_within;
        std::optional<double> period_due = decide(by_period, history, now).next_due;
        return {
            Work::none,
            fmt::format("fresh: succeeded {} ago, fresh within {}",
                        describe_seconds(now - *success), describe_seconds(*timing.fresh_within)),
            std::max(fresh_until, period_due.value_or(fresh_until)), true};
    }
    std::optional<double> next;
    if (timing.full_every) {
        Due full = due_by_period("full copy", *timing.full_every, history.full.last_completed, now);
        if (full.now)
            return {Work::full, full.reason, {}, false};
        next = full.at;
    }
    if (timing.delta_every) {
        Due delta = due_by_period("run", *timing.delta_every, success, now);
        if (delta.now)
            return {Work::delta, delta.reason, {}, false};
        next = next ? std::min(*next, *delta.at) : delta.at;
    }
    return {Work::none,
            next ? fmt::format("not due for {}", describe_seconds(*next - now)) : "not scheduled",
            next, false};
}

std::vector<size_t> run_order(const std::vector<Ordered>& jobs) {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < jobs.size(); i++)
        index[jobs[i].name] = i;
    for (const auto& job : jobs)
        for (const auto& before : job.after)
            if (!index.count(before))
                throw Error(ErrorKind::invalid_input,
                            fmt::format("job \"{}\" runs after \"{}\", which is not a job",
                                        job.name, before),
                            {}, "Name jobs defined in the same config file in after = [...].");
    // Candidates are taken highest priority first among those whose
    // predecessors are placed: a stable topological order.
    auto before = [&](size_t a, size_t b) {
        if (jobs[a].priority != jobs[b].priority)
            return jobs[a].priority > jobs[b].priority;
        return jobs[a].name < jobs[b].name;
    };
    std::vector<size_t> order;
    std::vector<bool> placed(jobs.size(), false);
    while (order.size() < jobs.size()) {
        std::optional<size_t> next;
        for (size_t i = 0; i < jobs.size(); i++) {
            if (placed[i])
                continue;
            bool ready = std::all_of(jobs[i].after.begin(), jobs[i].after.end(),
                                     [&](const std::string& name) { return placed[index[name]]; });
            if (ready && (!next || before(i, *next)))
                next = i;
        }
        if (!next) {
            std::vector<std::string> stuck;
            for (size_t i = 0; i < jobs.size(); i++)
                if (!placed[i])
                    stuck.push_back(jobs[i].name);
            throw Error(
                ErrorKind::invalid_input,
                fmt::format("the after settings of jobs {} form a cycle", fmt::join(stuck, ", ")),
                {}, "Each job can only run after jobs that do not wait for it.");
        }
        placed[*next] = true;
        order.push_back(*next);
    }
    return order;
}

}  // namespace ferry::schedule
