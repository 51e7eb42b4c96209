// `ferry status` without a peer: every job of the config file, from the
// records in the jobs' homes — last run, outcome, next due, lag — as a
// table, JSON, or Prometheus text for node_exporter's textfile collector.
#include "jobs_status.hpp"

#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "ferry/schedule.hpp"
#include "job_store.hpp"
#include "output.hpp"
#include "peer_config.hpp"

namespace ferry::cli {
namespace {

struct JobStatus {
    const JobSpec* job = nullptr;
    std::string home;
    bool reachable = true;
    std::string home_error;
    schedule::History history;
    schedule::Decision decision;
    double now = 0;
    std::optional<std::string> paused;
    std::optional<std::string> running;  // lease holder
    nlohmann::json last;                 // the newest run's record position
    std::string last_kind;
};

std::vector<JobStatus> read_all() {
    std::vector<JobStatus> out;
    std::map<std::string, std::optional<HomeState>> states;
    std::map<std::string, std::string> errors;
    for (const auto& job : configured_jobs()) {
        JobStatus status;
        status.job = &job;
        status.home = redact(job.home());
        if (!states.count(job.home())) {
            try {
                states[job.home()] = open_job_store(job.home())->read();
            } catch (const Error& e) {
                states[job.home()] = std::nullopt;
                errors[job.home()] = e.what();
            }
        }
        const std::optional<HomeState>& state = states[job.home()];
        if (!state) {
            status.reachable = false;
            status.home_error = errors[job.home()];
            out.push_back(status);
            continue;
        }
        status.now = state->now;
        if (auto found = state->histories.find(job.name); found != state->histories.end())
            status.history = found->second;
        status.decision = state->decide(job.name, job.timing);
        status.paused = state->pause_of(job.name);
        if (auto holder = state->running.find(job.name); holder != state->running.end())
            status.running = holder->second;
        const schedule::History& h = status.history;
        status.last_kind =
            h.full.last_attempt.value_or(0) >= h.delta.last_attempt.value_or(0) ? "full" : "delta";
        if (auto position = state->positions.find(job.name + " " + status.last_kind);
            position != state->positions.end())
            status.last = position->second;
        out.push_back(status);
    }
    return out;
}

std::string utc(std::optional<double> epoch) {
    if (!epoch)
        return "never";
    std::time_t seconds = static_cast<std::time_t>(*epoch);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

std::string outcome(const JobStatus& s) {
    if (!s.reachable)
        return "home unreachable: " + s.home_error;
    if (s.running)
        return "running: " + *s.running;
    const schedule::RunRecord& run = s.last_kind == "full" ? s.history.full : s.history.delta;
    if (run.status.empty())
        return "never ran";
    if (run.status == "failed")
        return "failed: " + run.last_error;
    if (run.status == "running")
        return "abandoned (retried on the next run)";
    std::string text = s.last.is_object() ? s.last.value("outcome", "succeeded") : "succeeded";
    return s.last_kind + " " + text;
}

std::string next_due(const JobStatus& s) {
    if (!s.reachable)
        return "-";
    if (s.paused)
        return "paused: " + *s.paused;
    if (s.decision.work != schedule::Work::none)
        return "now";
    if (!s.decision.next_due)
        return "never";
    return "in " + schedule::describe_seconds(*s.decision.next_due - s.now);
}

std::optional<double> lag(const JobStatus& s) {
    auto success = s.history.last_success();
    if (!success || !s.reachable)
        return std::nullopt;
    return s.now - *success;
}

void print_prometheus(const std::vector<JobStatus>& all) {
    struct Metric {
        const char* name;
        const char* help;
        std::function<std::optional<double>(const JobStatus&)> value;
    };
    auto flag = [](bool b) { return std::optional<double>(b ? 1 : 0); };
    // What only the home knows: no sample while it cannot be reached (a 0
    // would read as "not failed", "not due"); ferry_job_up says why.
    auto known = [&](const JobStatus& s, bool b) {
        return s.reachable ? flag(b) : std::optional<double>();
    };
    std::vector<Metric> metrics = {
        {"ferry_job_up", "1 when the job's home peer answered",
         [&](const JobStatus& s) { return flag(s.reachable); }},
        {"ferry_job_last_success_timestamp_seconds", "Unix time of the last successful run",
         [](const JobStatus& s) { return s.reachable ? s.history.last_success() : std::nullopt; }},
        {"ferry_job_lag_seconds", "Seconds since the last successful run", lag},
        {"ferry_job_failed", "1 when the last run failed",
         [&](const JobStatus& s) {
             return known(s,
                          s.history.full.status == "failed" || s.history.delta.status == "failed");
         }},
        {"ferry_job_running", "1 while a ferry run holds the job's lease",
         [&](const JobStatus& s) { return known(s, s.running.has_value()); }},
        {"ferry_job_paused", "1 when ferry pause stopped the job",
         [&](const JobStatus& s) { return known(s, s.paused.has_value()); }},
        {"ferry_job_due", "1 when the job would run now",
         [&](const JobStatus& s) { return known(s, s.decision.work != schedule::Work::none); }},
        {"ferry_job_rows_written", "Rows the last successful run wrote",
         [](const JobStatus& s) -> std::optional<double> {
             if (!s.last.is_object() || !s.last.contains("written"))
                 return std::nullopt;
             return s.last["written"].get<double>();
         }},
    };
    std::string text;
    for (const auto& metric : metrics) {
        text +=
            fmt::format("# HELP {} {}\n# TYPE {} gauge\n", metric.name, metric.help, metric.name);
        for (const auto& s : all)
            if (auto value = metric.value(s))
                text += fmt::format("{}{{job=\"{}\",mode=\"{}\",home=\"{}\"}} {}\n", metric.name,
                                    prometheus_label(s.job->name), s.job->mode,
                                    prometheus_label(s.home), *value);
    }
    fmt::print("{}", text);
}

}  // namespace

int print_jobs_status(bool json, bool prometheus) {
    std::vector<JobStatus> all = read_all();
    if (prometheus) {
        print_prometheus(all);
        return exit_ok;
    }
    if (json) {
        nlohmann::json jobs = nlohmann::json::array();
        for (const auto& s : all) {
            auto optional = [](std::optional<double> v) {
                return v ? nlohmann::json(*v) : nlohmann::json();
            };
            auto time = [](std::optional<double> epoch) {  // null: never
                return epoch ? nlohmann::json(utc(epoch)) : nlohmann::json();
            };
            bool waits = s.reachable && !s.paused && s.decision.work == schedule::Work::none;
            jobs.push_back({{"job", s.job->name},
                            {"mode", s.job->mode},
                            {"home", s.home},
                            {"reachable", s.reachable},
                            {"last_attempt_at", time(s.history.last_attempt())},
                            {"last_success_at", time(s.history.last_success())},
                            {"outcome", outcome(s)},
                            {"next_due", next_due(s)},
                            {"next_due_at", waits ? time(s.decision.next_due) : nlohmann::json()},
                            {"due", s.reachable && s.decision.work != schedule::Work::none},
                            {"paused", s.paused ? nlohmann::json(*s.paused) : nlohmann::json()},
                            {"lag_seconds", optional(lag(s))}});
        }
        print_json(nlohmann::json{{"jobs", jobs}});
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : all) {
        auto behind = lag(s);
        rows.push_back({s.job->name, s.job->mode, utc(s.history.last_attempt()), outcome(s),
                        next_due(s), behind ? schedule::describe_seconds(*behind) : "-"});
    }
    print_table({"JOB", "MODE", "LAST RUN", "OUTCOME", "NEXT DUE", "LAG"}, rows);
    return exit_ok;
}

}  // namespace ferry::cli
