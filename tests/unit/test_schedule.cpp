// Due logic and run order of scheduled jobs.
#include <catch2/catch.hpp>

#include "ferry/error.hpp"
#include "ferry/schedule.hpp"

using namespace ferry::schedule;

namespace {

constexpr double kHour = 3600;
constexpr double kNow = 1'800'000'000;

RunRecord completed(double ago) {
    return {"completed", kNow - ago - 10, kNow - ago, ""};
}

std::vector<std::string> names(const std::vector<Ordered>& jobs, const std::vector<size_t>& order) {
    std::vector<std::string> out;
    for (size_t i : order)
        out.push_back(jobs[i].name);
    return out;
}

}  // namespace

TEST_CASE("a job that never ran is due", "[schedule]") {
    Timing timing{24 * kHour, std::nullopt, std::nullopt};
    Decision d = decide(timing, {}, kNow);
    CHECK(d.work == Work::full);
    CHECK(d.reason == "due: no full copy has completed yet");
}

TEST_CASE("periods, with a tenth of grace capped at five minutes", "[schedule]") {
    Timing every_30m{std::nullopt, 30 * 60, std::nullopt};
    History h;
    h.delta = completed(26 * 60);
    CHECK(decide(every_30m, h, kNow).work == Work::none);
    CHECK(decide(every_30m, h, kNow).next_due == Approx(kNow + 60));
    h.delta = completed(27 * 60);  // 30m - 3m grace
    CHECK(decide(every_30m, h, kNow).work == Work::delta);
    CHECK(decide(every_30m, h, kNow).reason == "due: last run 27m ago, every 30m");
    CHECK(grace(24 * kHour) == 300);
    CHECK(grace(60) == 6);
}

TEST_CASE("a full copy also counts as the delta run it makes unnecessary", "[schedule]") {
    Timing timing{24 * kHour, kHour, std::nullopt};
    History h;
    h.full = completed(10 * 60);
    h.delta = completed(5 * kHour);
    CHECK(decide(timing, h, kNow).work == Work::none);
    h.full = completed(25 * kHour);
    CHECK(decide(timing, h, kNow).work == Work::full);  // full first when both are due
}

TEST_CASE("a failed run is retried at once, before freshness counts", "[schedule]") {
    Timing timing{std::nullopt, kHour, kHour};
    History h;
    h.delta = {"failed", kNow - 60, kNow - 120, "connection lost"};
    Decision d = decide(timing, h, kNow);
    CHECK(d.work == Work::delta);
    CHECK(d.reason == "retry: the last run failed: connection lost");
    Timing full_job{24 * kHour, std::nullopt, std::nullopt};
    h = {};
    h.full = {"failed", kNow - 60, std::nullopt, "verify: table hashes differ"};
    CHECK(decide(full_job, h, kNow).work == Work::full);
}

TEST_CASE("fresh_within skips a job that succeeded recently", "[schedule]") {
    Timing timing{kHour, std::nullopt, 2 * kHour};
    History h;
    h.full = completed(90 * 60);  // due by its period, but fresh
    Decision d = decide(timing, h, kNow);
    CHECK(d.work == Work::none);
    CHECK(d.fresh);
    CHECK(d.reason == "fresh: succeeded 90m ago, fresh within 2h");
    CHECK(d.next_due == Approx(kNow + 30 * 60));
    h.full = completed(3 * kHour);
    CHECK(decide(timing, h, kNow).work == Work::full);
    Timing hourly_fresh_half{kHour, std::nullopt, 30 * 60.0};
    h.full = completed(10 * 60);  // fresh for 20 more minutes, due by period in 44
    CHECK(decide(hourly_fresh_half, h, kNow).next_due == Approx(kNow + 44 * 60));
}

TEST_CASE("a job with no period is never due by itself", "[schedule]") {
    Decision d = decide({}, {}, kNow);
    CHECK(d.work == Work::none);
    CHECK(d.reason == "not scheduled");
}

TEST_CASE("durations for people", "[schedule]") {
    CHECK(describe_seconds(59.6) == "60s");
    CHECK(describe_seconds(300) == "5m");
    CHECK(describe_seconds(25 * kHour) == "25h");
    CHECK(describe_seconds(2 * kHour + 30 * 60) == "2h 30m");
    CHECK(describe_seconds(4 * 24 * kHour + 3 * kHour) == "4d 3h");
}

TEST_CASE("run order: after first, then priority, then name", "[schedule]") {
    std::vector<Ordered> jobs = {{"prices", 50, {"products"}},
                                 {"customers", 10, {}},
                                 {"products", 1, {}},
                                 {"orders", 10, {}}};
    CHECK(names(jobs, run_order(jobs)) ==
          std::vector<std::string>{"customers", "orders", "products", "prices"});
    jobs[1].priority = 0;
    CHECK(names(jobs, run_order(jobs)) ==
          std::vector<std::string>{"orders", "products", "prices", "customers"});
}

TEST_CASE("run order refuses cycles and unknown names", "[schedule]") {
    std::vector<Ordered> cycle = {{"a", 0, {"b"}}, {"b", 0, {"a"}}, {"c", 0, {}}};
    CHECK_THROWS_WITH(run_order(cycle), "the after settings of jobs a, b form a cycle");
    std::vector<Ordered> unknown = {{"a", 0, {"nope"}}};
    CHECK_THROWS_WITH(run_order(unknown), "job \"a\" runs after \"nope\", which is not a job");
}
