// `ferry run`: the cron entry (docs/scheduling.md). Reads every job's
// history from its home peer, decides what is due, and runs the due jobs in
// order (after, then priority), each under a lease in its home so that
// overlapping runs and other machines never run a job twice. Quiet when
// nothing is due. Also `ferry pause` / `ferry resume`, and the job view of
// `ferry status` and `ferry history`.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "commands.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "ferry/schedule.hpp"
#include "job_store.hpp"
#include "job_work.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "session_recorder.hpp"
#include "stop_signals.hpp"
#include "table_leases.hpp"

namespace ferry::cli {
namespace {

using schedule::Decision;
using schedule::Work;

struct RunOptions {
    std::string once;        // --once JOB
    bool all_links = false;  // ferry sync without peers: every link of the config, now
    bool dry_run = false;
    bool json = false;
    bool syslog = false;
    size_t parallel = 4;
    int lease_seconds = 120;
};

struct JobReport {
    std::string job;
    std::string work;  // full, delta, or empty
    std::string reason;
    std::string outcome;  // see docs/scheduling.md#outcomes
    std::string error;
    double seconds = 0;
    WorkResult result;
    bool executed = false;  // it ran (and logged how it ended)
    bool fleet = false;     // its --json object has the members' figures
};

const char* work_name(Work work) {
    return work == Work::full ? "full" : work == Work::delta ? "delta" : "";
}

// Renews a lease while a job runs, on a connection of its own.
class LeaseKeeper {
  public:
    LeaseKeeper(const std::string& home, const std::string& lease, const std::string& holder,
                int ttl_seconds)
        : thread_([=] { keep(home, lease, holder, ttl_seconds); }) {}
    ~LeaseKeeper() {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

  private:
    void keep(const std::string& home, const std::string& lease, const std::string& holder,
              int ttl_seconds) {
        std::unique_lock<std::mutex> lock(mutex_);
        std::unique_ptr<JobStore> store;
        while (
            !wake_.wait_for(lock, std::chrono::seconds(ttl_seconds / 3), [&] { return done_; })) {
            try {
                if (!store)
                    store = open_job_store(home);
                if (auto other = store->try_lock(lease, holder, ttl_seconds))
                    log_line(fmt::format("lease \"{}\" was lost to {}", lease, *other));
            } catch (const Error& e) {
                store.reset();
                log_line(fmt::format("cannot renew lease \"{}\": {}", lease, e.what()));
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_;
};

// The stores and states of the jobs' homes, each read once per run.
class Homes {
  public:
    // nullptr when the home cannot be reached; error() says why.
    HomeState* state(const std::string& home) {
        if (errors_.count(home))
            return nullptr;
        if (auto found = states_.find(home); found != states_.end())
            return &found->second;
        try {
            stores_[home] = open_job_store(home);
            return &(states_[home] = stores_[home]->read());
        } catch (const Error& e) {
            errors_[home] = error_line(e);
            return nullptr;
        }
    }
    JobStore& store(const std::string& home) { return *stores_.at(home); }
    HomeState& reread(const std::string& home) { return states_[home] = store(home).read(); }
    const std::string& error(const std::string& home) { return errors_[home]; }

  private:
    std::map<std::string, std::unique_ptr<JobStore>> stores_;
    std::map<std::string, HomeState> states_;
    std::map<std::string, std::string> errors_;
};

class Runner {
  public:
    explicit Runner(const RunOptions& options)
        : options_(options),
          holder_(fmt::format("ferry run (pid {} on {})", getpid(), this_host())) {}
    int run();

  private:
    JobReport consider(const JobSpec& job);
    std::optional<std::string> waiting_for(const JobSpec& job);
    void execute(const JobSpec& job, Work work, JobReport& report);
    void recover_abandoned(const JobSpec& job, HomeState& state);
    void finish(const JobSpec& job, const std::string& kind, JobReport& report,
                nlohmann::json& position, const std::optional<Error>& error);
    void print(const std::vector<JobReport>& reports) const;
    bool forced() const { return !options_.once.empty() || options_.all_links; }

    const RunOptions& options_;
    std::string holder_;
    Homes homes_;
    std::map<std::string, JobReport> done_;  // this run's reports, by job
};

// A job's `after` jobs must have succeeded: in this run, or (not due now)
// last time they ran.
std::optional<std::string> Runner::waiting_for(const JobSpec& job) {
    for (const auto& name : job.after) {
        const JobReport& before = done_.at(name);
        if (before.outcome == "succeeded" || before.outcome == "unchanged" ||
            before.outcome == "done elsewhere" || before.outcome == "would run")
            continue;
        if (before.outcome == "not due" || before.outcome == "fresh") {
            const JobSpec& spec = configured_job(name);
            HomeState* state = homes_.state(spec.home());
            if (!state)
                return fmt::format("{} (its peer cannot be reached to read its record)", name);
            const schedule::History& history = state->histories[name];
            // A run of it under way elsewhere (a retry after a failure, say)
            // has not succeeded yet either.
            auto settled = [](const std::string& status) {
                return status != "failed" && status != "running";
            };
            if (history.last_success() && settled(history.full.status) &&
                settled(history.delta.status))
                continue;
            return fmt::format("{} has not succeeded yet", name);
        }
        return fmt::format("{} ({})", name, before.outcome);
    }
    return std::nullopt;
}

// A run whose record still says running while no live ferry holds its lease
// (the lease expired, or its holder was a ferry of this machine that is
// gone): its ferry died. The record is marked failed (and retried), its sessions finished.
void Runner::recover_abandoned(const JobSpec& job, HomeState& state) {
    schedule::History& history = state.histories[job.name];
    for (auto* run : {&history.full, &history.delta}) {
        if (run->status != "running")
            continue;
        std::string kind = run == &history.full ? "full" : "delta";
        nlohmann::json position = state.positions[job.name + " " + kind];
        std::string reason = fmt::format(
            "abandoned: the run {} started stopped without finishing (no live ferry holds it)",
            position.is_object() ? position.value("holder", "?") : "?");
        log_line(fmt::format("job {}: {}; retrying", job.name, reason));
        homes_.store(job.home()).fail(job.name, kind, reason);
        if (position.is_object() && position["sessions"].is_array())
            for (const auto& session : position["sessions"])
                finish_abandoned_session(
                    session.value("on", "") == "source" ? job.source : job.target,
                    session.value("id", int64_t{0}), reason);
        run->status = "failed";
        run->last_error = reason;
    }
}

JobReport Runner::consider(const JobSpec& job) {
    JobReport report;
    report.job = job.name;
    HomeState* state = homes_.state(job.home());
    if (!state) {
        report.outcome = "failed";
        report.error = homes_.error(job.home());
        return report;
    }
    Decision decision = state->decide(job.name, job.timing);
    if (forced() && decision.work == Work::none && !decision.fresh)
        decision = {job.timing.delta_every ? Work::delta : Work::full,
                    options_.all_links ? "run by ferry sync" : "run by --once",
                    {},
                    false};
    report.reason = decision.reason;
    report.work = work_name(decision.work);
    if (decision.work == Work::none) {
        report.outcome = decision.fresh ? "fresh" : "not due";
        return report;
    }
    if (auto pause = state->pause_of(job.name)) {
        report.outcome = "paused";
        report.error = *pause;
        return report;
    }
    if (auto waiting = waiting_for(job)) {
        report.outcome = "waiting";
        report.error = "after " + *waiting;
        return report;
    }
    if (options_.dry_run) {
        report.outcome = "would run";
        return report;
    }
    execute(job, decision.work, report);
    return report;
}

void Runner::execute(const JobSpec& job, Work work, JobReport& report) {
    JobStore& store = homes_.store(job.home());
    std::string lease = job_lease(job.name);
    std::optional<std::string> holder = store.try_lock(lease, holder_, options_.lease_seconds);
    if (holder && holder_is_gone(*holder)) {
        store.unlock(lease, *holder);  // only if still the dead one's: two runs may see it
        holder = store.try_lock(lease, holder_, options_.lease_seconds);
    }
    if (holder) {
        report.outcome = "locked";
        report.error = "running elsewhere: " + *holder;
        return;
    }
    struct Release {
        JobStore& store;
        const std::string& lease;
        const std::string& holder;
        ~Release() {
            try {
                store.unlock(lease, holder);
            } catch (...) {
            }
        }
    } release{store, lease, holder_};
    // Under the lease, the record is read again: another run may have done
    // the job meanwhile, or left it abandoned.
    HomeState& state = homes_.reread(job.home());
    if (auto pause = state.pause_of(job.name)) {  // paused while this run did other jobs
        report.outcome = "paused";
        report.error = *pause;
        return;
    }
    recover_abandoned(job, state);
    Decision decision = schedule::decide(job.timing, state.histories[job.name], state.now);
    if (decision.work == Work::none && !forced()) {
        report.outcome = "done elsewhere";
        return;
    }
    if (decision.work != Work::none)
        work = decision.work;
    report.work = work_name(work);
    std::string kind = report.work;
    nlohmann::json fleet_memory = nlohmann::json::object();
    // What the last delta run remembered of each member holds only until a
    // full run writes to the members again (a full copy since may have
    // given a member rows the hub has deleted since).
    const schedule::History& history = state.histories[job.name];
    bool memory_current =
        !history.full.last_attempt ||
        (history.delta.last_attempt && *history.delta.last_attempt > *history.full.last_attempt);
    if (job.fleet && memory_current) {
        const nlohmann::json& last = state.positions[job.name + " delta"];
        if (last.is_object() && last.contains("fleet") && last["fleet"].is_object())
            fleet_memory = last["fleet"];
    }
    LeaseKeeper keeper(job.home(), lease, holder_, options_.lease_seconds);
    nlohmann::json position = {
        {"holder", holder_}, {"work", kind}, {"sessions", nlohmann::json::array()}};
    store.begin(job.name, kind, position);
    log_line(fmt::format("job {}: {} run ({})", job.name, kind, report.reason));

    WorkOptions work_options;
    work_options.lease_seconds = options_.lease_seconds;
    work_options.parallel = options_.parallel;
    work_options.log = [](const std::string& line) { log_line(line); };
    work_options.fleet_memory = std::move(fleet_memory);
    if (!job.fleet) {
        work_options.on_session = [&](const std::string& peer, int64_t id) {
            position["sessions"].push_back(
                {{"on", peer == job.source ? "source" : "target"}, {"id", id}});
            store.update(job.name, kind, position);
        };
    }
    std::unique_ptr<JobStore> pause_store;
    auto checked = std::chrono::steady_clock::now();
    work_options.paused = [&] {  // called by one fleet worker at a time
        auto now = std::chrono::steady_clock::now();
        if (now - checked < std::chrono::seconds(1))
            return false;
        checked = now;
        if (!pause_store)
            pause_store = open_job_store(job.home());
        return pause_store->read().pause_of(job.name).has_value();
    };
    auto started = std::chrono::steady_clock::now();
    report.executed = true;
    std::optional<Error> error;
    try {
        report.result = run_job_work(job, work == Work::full, work_options);
    } catch (const WorkStopped& e) {
        report.result = e.done;
        error = e;
    } catch (const Error& e) {
        error = e;
    } catch (const std::exception& e) {
        error = Error(ErrorKind::internal, e.what());
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    finish(job, kind, report, position, error);
}

// Records how a run ended, in the job's home and in the report.
void Runner::finish(const JobSpec& job, const std::string& kind, JobReport& report,
                    nlohmann::json& position, const std::optional<Error>& error) {
    JobStore& store = homes_.store(job.home());
    const WorkResult& r = report.result;
    if (job.fleet && !error) {
        // What each member received, and the unchanged members' consumers
        // acknowledged, in one transaction: whatever happens next.
        position["fleet"] = r.fleet_memory;
        try {
            store.update_and_ack(job.name, kind, position, r.acks, r.ack_cursor);
        } catch (const Error& e) {
            log_line(fmt::format("job {}: cannot record the fleet's members in {}: {}", job.name,
                                 store.peer(), e.what()));
        }
    }
    if (error) {
        // Another sync holding the tables (a ferry follow, a hand-run
        // sync) is a skip, as when the job's own lease is held; the record
        // still says the run did not succeed, so it is retried next time.
        report.outcome = error->kind() == ErrorKind::locked ? "locked" : "failed";
        report.error = error_line(*error);
        if (std::string(error->what()) == kCancelledMessage)
            if (auto pause = homes_.reread(job.home()).pause_of(job.name)) {
                report.outcome = "paused";
                report.error = fmt::format("{}; stopped after its current batch", *pause);
            }
    } else if (!r.failed_members.empty()) {
        report.outcome = "failed";
        report.error = fmt::format("{} of {} members failed", r.failed_members.size(), r.members);
        for (auto it = r.failed_members.begin(); it != r.failed_members.end(); ++it) {
            if (std::distance(r.failed_members.begin(), it) == 3) {
                report.error += "; ...";
                break;
            }
            report.error += fmt::format("; {}: {}", it->first, it->second);
        }
    } else if (r.stopped_by_pause) {
        report.outcome = "paused";
        report.error =
            fmt::format("paused after {} members; the others wait for ferry resume", r.members);
    } else {
        report.outcome = r.unchanged ? "unchanged" : "succeeded";
    }
    report.error = valid_utf8(report.error);  // member values are file names: any bytes
    try {
        if (report.outcome == "succeeded" || report.outcome == "unchanged") {
            position["outcome"] =
                report.outcome == "unchanged" ? "skipped: unchanged" : "succeeded";
            position["written"] = r.written;
            position["changes"] = r.changes;
            position["seconds"] = report.seconds;
            if (job.fleet)
                position["members"] = r.members;
            store.complete(job.name, kind, position);
        } else {
            store.fail(job.name, kind, report.error);
        }
    } catch (const Error& e) {
        log_line(fmt::format("job {}: cannot record the outcome in {}: {}", job.name, store.peer(),
                             e.what()));
    }
    std::string summary =
        report.outcome == "failed" || report.outcome == "paused" || report.outcome == "locked"
            ? fmt::format(
                  "{}: {}{}", report.outcome, report.error,
                  r.written ? fmt::format(" ({} rows written before it stopped)", r.written) : "")
            : fmt::format("{} in {:.1f} s: {} rows written, {} changes", report.outcome,
                          report.seconds, r.written, r.changes);
    if (job.fleet)
        summary += fmt::format(" ({} members, {} unchanged)", r.members, r.members_unchanged);
    log_line(fmt::format("job {}: {}", job.name, summary));
}

int Runner::run() {
    StopSignals signals;
    if (options_.syslog)
        also_log_to_syslog();
    const std::vector<JobSpec>& jobs = configured_jobs();
    if (!options_.once.empty())
        configured_job(options_.once);  // an unknown name is an error
    std::vector<schedule::Ordered> order_input;
    for (const auto& job : jobs)
        order_input.push_back({job.name, job.priority, job.after});
    std::vector<JobReport> reports;
    for (size_t index : schedule::run_order(order_input)) {
        const JobSpec& job = jobs[index];
        bool left_out = (!options_.once.empty() && job.name != options_.once) ||
                        (options_.all_links && job.mode == "full");
        if (left_out) {
            done_[job.name] = {job.name, "", "", "not due", "", 0, {}};
            continue;
        }
        if (stop_requested()) {
            done_[job.name] = {job.name, "", "", "waiting", "stopped by a signal", 0, {}};
            continue;
        }
        JobReport report;
        try {
            report = consider(job);
        } catch (const Error& e) {  // the home failed under us: this job only
            report = {job.name, "", "", "failed", error_line(e), 0, {}, false};
        }
        report.fleet = job.fleet.has_value();
        done_[job.name] = report;
        reports.push_back(report);
        bool skipped = report.outcome == "paused" || report.outcome == "locked" ||
                       report.outcome == "waiting" || report.outcome == "failed";
        if (skipped && !report.executed)
            log_line(fmt::format("job {}: {}: {}", job.name, report.outcome, report.error));
        else if (!report.executed && job.name == options_.once)  // asked for by name: answer
            log_line(fmt::format("job {}: {} ({})", job.name, report.outcome, report.reason));
    }
    print(reports);
    bool failed = false, skipped = false;
    for (const auto& report : reports) {
        failed = failed || report.outcome == "failed";
        skipped = skipped || report.outcome == "paused" || report.outcome == "locked";
    }
    return failed ? exit_error : skipped ? exit_locked : exit_ok;
}

void Runner::print(const std::vector<JobReport>& reports) const {
    if (options_.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : reports) {
            nlohmann::json one = {{"job", r.job},
                                  {"work", r.work},
                                  {"reason", r.reason},
                                  {"outcome", r.outcome},
                                  {"error", r.error},
                                  {"seconds", r.seconds},
                                  {"written", r.result.written},
                                  {"changes", r.result.changes}};
            if (r.fleet) {
                one["members"] = r.result.members;
                one["members_unchanged"] = r.result.members_unchanged;
                one["failed_members"] = r.result.failed_members;
            }
            out.push_back(one);
        }
        print_json(nlohmann::json{{"jobs", out}, {"dry_run", options_.dry_run}});
        return;
    }
    if (!options_.dry_run && !options_.all_links)
        return;  // the log lines said it all; nothing due prints nothing
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : reports)
        rows.push_back({r.job, r.outcome, r.work.empty() ? "-" : r.work,
                        r.error.empty() ? r.reason : r.error});
    print_table({"JOB", options_.dry_run ? "WOULD" : "OUTCOME", "WORK", "WHY"}, rows);
}

// ---- pause and resume -------------------------------------------------------

struct PauseOptions {
    std::string job;
    bool all = false;
    std::string reason;
};

// The homes a pause or resume acts on: the job's, or every job's.
std::vector<std::string> homes_of(const PauseOptions& options) {
    std::vector<std::string> homes;
    if (!options.all) {
        homes.push_back(configured_job(options.job).home());
        return homes;
    }
    std::set<std::string> seen;
    for (const auto& job : configured_jobs())
        if (seen.insert(job.home()).second)
            homes.push_back(job.home());
    return homes;
}

// A usage error (exit 2), as CLI11 reports a missing argument.
void check_pause_target(const PauseOptions& options, const char* verb) {
    if (options.all == !options.job.empty())
        throw CLI::ValidationError(
            fmt::format("ferry {0} needs a job or --all: ferry {0} JOB, or ferry {0} --all", verb));
}

// Running sessions of paused jobs are asked to stop after their batch.
void stop_running(const std::vector<std::string>& jobs, JobStore& store) {
    HomeState state = store.read();
    for (const auto& name : jobs) {
        if (!state.running.count(name))
            continue;
        const JobSpec& job = configured_job(name);
        for (const char* kind : {"full", "delta"}) {
            const nlohmann::json& position = state.positions[name + " " + kind];
            if (!position.is_object() || !position["sessions"].is_array())
                continue;
            for (const auto& session : position["sessions"]) {
                int64_t id = session.value("id", int64_t{0});
                std::string peer = session.value("on", "") == "source" ? job.source : job.target;
                try {
                    if (cancel_session(peer, id))
                        fmt::print("job {}: asked session {} in {} to stop after its batch\n", name,
                                   id, redact(peer));
                } catch (const Error&) {
                }
            }
        }
    }
}

// Runs `act` in each home of the jobs `options` names. A home that fails
// does not stop the others: each failure is reported (what was done where
// stays done), and the result is exit_error if any failed.
int in_each_home(const PauseOptions& options,
                 const std::function<void(const std::string&, JobStore&)>& act) {
    std::vector<std::string> failed;
    for (const auto& home : homes_of(options)) {
        try {
            std::unique_ptr<JobStore> store = open_job_store(home);
            act(home, *store);
        } catch (const Error& e) {
            report_error(e);
            failed.push_back(redact(home));
        }
    }
    if (failed.empty())
        return exit_ok;
    fmt::print(stderr, "ferry: not done in {}; run the command again once {} reachable\n",
               fmt::join(failed, ", "), failed.size() == 1 ? "it is" : "they are");
    return exit_error;
}

int run_pause(const PauseOptions& options) {
    check_pause_target(options, "pause");
    const passwd* user = getpwuid(geteuid());
    std::string who =
        fmt::format("{}@{}", user ? user->pw_name : std::to_string(geteuid()), this_host());
    std::string reason =
        fmt::format("{} (by {})", options.reason.empty() ? "no reason given" : options.reason, who);
    std::string name = options.all ? "*" : options.job;
    bool any = false;
    int code = in_each_home(options, [&](const std::string& home, JobStore& store) {
        store.pause(name, reason);
        any = true;
        std::vector<std::string> jobs;
        for (const auto& job : configured_jobs())
            if (job.home() == home && (options.all || job.name == options.job))
                jobs.push_back(job.name);
        stop_running(jobs, store);
        if (options.all)
            fmt::print("paused the jobs of {}\n", store.peer());
    });
    if (any)
        fmt::print("paused {}: {}\n", options.all ? "all jobs" : "job " + options.job, reason);
    return code;
}

int run_resume(const PauseOptions& options) {
    check_pause_target(options, "resume");
    std::string name = options.all ? "*" : options.job;
    bool found = false;
    bool all_paused = false;
    int code = in_each_home(options, [&](const std::string&, JobStore& store) {
        bool resumed = store.force_unlock(pause_lease(name));
        found = resumed || found;
        all_paused = all_paused || store.read().pauses.count("*");
        if (options.all && resumed)
            fmt::print("resumed the jobs of {}\n", store.peer());
    });
    if (!found)
        fmt::print("{} was not paused\n", options.all ? "--all" : "job " + options.job);
    else
        fmt::print("resumed {}\n", options.all ? "all jobs" : "job " + options.job);
    if (all_paused)
        fmt::print("note: all jobs are still paused (ferry resume --all)\n");
    return code;
}

}  // namespace

int run_config_links(bool json) {
    RunOptions options;
    options.all_links = true;
    options.json = json;
    return Runner(options).run();
}

void setup_run(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<RunOptions>();
    auto* run = app.add_subcommand("run", "Run the jobs of the config file that are due (cron)");
    run->add_option("--once", options->once, "Run this job now unless it is fresh or paused");
    run->add_flag("--dry-run", options->dry_run, "Show what would run, and why; run nothing");
    run->add_option("--jobs", options->parallel, "Fleet members synced at once (default 4)")
        ->check(CLI::Range(1, 256));
    run->add_option("--lease-seconds", options->lease_seconds,
                    "How long a job's lease outlives a crashed ferry (default 120)")
        ->check(CLI::Range(10, 86400));
    run->add_flag("--json", options->json, "JSON report on stdout");
    run->add_flag("--syslog", options->syslog, "Log to syslog too");
    run->callback([options, exit_code] { *exit_code = Runner(*options).run(); });

    auto pause_options = std::make_shared<PauseOptions>();
    auto* pause = app.add_subcommand(
        "pause", "Make scheduled jobs stand aside: running ones stop after their batch");
    pause->add_option("job", pause_options->job, "A job of the config file");
    pause->add_flag("--all", pause_options->all, "Every job");
    pause->add_option("--reason", pause_options->reason, "Shown to whoever finds it paused");
    pause->callback([pause_options, exit_code] { *exit_code = run_pause(*pause_options); });

    auto resume_options = std::make_shared<PauseOptions>();
    auto* resume = app.add_subcommand("resume", "Let paused jobs run again");
    resume->add_option("job", resume_options->job, "A job of the config file");
    resume->add_flag("--all", resume_options->all, "Undo ferry pause --all");
    resume->callback([resume_options, exit_code] { *exit_code = run_resume(*resume_options); });
}

}  // namespace ferry::cli
