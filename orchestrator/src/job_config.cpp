// [jobs.NAME] sections of the config file (see job_config.hpp).
#include "job_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "ferry/conninfo.hpp"
#include "ferry/duration.hpp"
#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "ferry/text.hpp"

namespace ferry::cli {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kKeys = {
    "source",         "target",   "tables",        "mode",        "full_every", "delta_every",
    "fresh_within",   "priority", "after",         "where",       "policy",     "method",
    "delete_missing", "verify",   "members_query", "members_glob"};

// Reads one job's settings, each error naming the file, line and key.
class JobReader {
  public:
    JobReader(const std::string& path, const std::string& name, const toml::table& section)
        : path_(path), name_(name), section_(section) {}

    [[noreturn]] void fail(const std::string& key, const std::string& message,
                           const std::string& hint = "See docs/scheduling.md.") const {
        const toml::node* node = key.empty() ? nullptr : section_.get(key);
        const toml::source_region& where = node ? node->source() : section_.source();
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{}: line {}: jobs.{}{}: {}", path_, where.begin.line, name_,
                                key.empty() ? "" : "." + key, message),
                    {}, hint);
    }

    std::optional<std::string> text(const std::string& key) const {
        const toml::node* node = section_.get(key);
        if (!node)
            return std::nullopt;
        if (!node->is_string() || node->as_string()->get().empty())
            fail(key, "must be a non-empty string");
        return node->as_string()->get();
    }

    std::vector<std::string> list(const std::string& key) const {
        std::vector<std::string> out;
        const toml::node* node = section_.get(key);
        if (!node)
            return out;
        const toml::array* array = node->as_array();
        if (!array)
            fail(key, "must be a list of strings, e.g. [\"a\", \"b\"]");
        for (const auto& item : *array) {
            if (!item.is_string() || item.as_string()->get().empty())
                fail(key, "must be a list of non-empty strings");
            out.push_back(item.as_string()->get());
        }
        return out;
    }

    std::optional<double> duration(const std::string& key) const {
        auto written = text(key);
        if (!written)
            return std::nullopt;
        double seconds = 0;
        try {
            seconds = parse_duration(*written);
        } catch (const Error&) {
            fail(key, fmt::format("\"{}\" is not a duration", *written),
                 "Write e.g. \"90s\", \"30 min\", \"2h\" or \"1d 12h\".");
        }
        if (seconds <= 0)
            fail(key, "must be longer than zero");
        return seconds;
    }

    bool flag(const std::string& key) const {
        const toml::node* node = section_.get(key);
        if (!node)
            return false;
        if (!node->is_boolean())
            fail(key, "must be true or false");
        return node->as_boolean()->get();
    }

    int integer(const std::string& key) const {
        const toml::node* node = section_.get(key);
        if (!node)
            return 0;
        if (!node->is_integer())
            fail(key, "must be a whole number");
        int64_t value = node->as_integer()->get();
        if (value < -1000000 || value > 1000000)
            fail(key, "must be between -1000000 and 1000000");
        return static_cast<int>(value);
    }

    std::string one_of(const std::string& key, const std::set<std::string>& allowed,
                       const std::string& otherwise) const {
        auto value = text(key);
        if (!value)
            return otherwise;
        if (!allowed.count(*value))
            fail(key, fmt::format("\"{}\" is not one of {}", *value, fmt::join(allowed, ", ")));
        return *value;
    }

  private:
    const std::string& path_;
    const std::string& name_;
    const toml::table& section_;
};

// "{user}" in a pattern: the parameter's name, or nullopt without one.
std::optional<std::string> parameter_in(const std::string& pattern) {
    size_t open = pattern.find('{');
    if (open == std::string::npos)
        return std::nullopt;
    size_t close = pattern.find('}', open);
    if (close == std::string::npos || close == open + 1)
        return "";
    return pattern.substr(open + 1, close - open - 1);
}

void read_fleet(const JobReader& reader, JobSpec& job, const fs::path& config_dir) {
    auto source_parameter = parameter_in(job.source);
    auto target_parameter = parameter_in(job.target);
    auto query = reader.text("members_query");
    auto glob = reader.text("members_glob");
    if (!source_parameter && !target_parameter) {
        if (query || glob)
            reader.fail(query ? "members_query" : "members_glob",
                        "is only for a fleet, whose source or target has a {parameter}");
        return;
    }
    if (source_parameter && target_parameter)
        reader.fail("target", "only one side of a fleet job can be a pattern");
    FleetSpec fleet;
    fleet.pattern_is_target = target_parameter.has_value();
    fleet.parameter = fleet.pattern_is_target ? *target_parameter : *source_parameter;
    const char* side = fleet.pattern_is_target ? "target" : "source";
    if (!text::is_plain_name(fleet.parameter, "_"))
        reader.fail(side, "a fleet pattern names its parameter as {name}, letters, digits and _");
    if (!!query == !!glob)
        reader.fail("", "a fleet job needs exactly one of members_query and members_glob",
                    "members_query = \"SELECT user_id FROM users\" (run on the other peer), or "
                    "members_glob = \"/data/customers-*.db\" for a sqlite: pattern.");
    fleet.query = query;
    fleet.glob = glob;
    if (glob && !fs::path(*glob).is_absolute())  // like sqlite: paths, next to the config
        fleet.glob = (config_dir / *glob).lexically_normal().string();
    if (glob &&
        parse_peer(fleet.pattern_is_target ? job.target : job.source).engine != PeerEngine::sqlite)
        reader.fail("members_glob", "lists files: it needs a sqlite: pattern");
    if (glob && std::count(glob->begin(), glob->end(), '*') != 1)
        reader.fail("members_glob", "needs exactly one *, which stands for the member's value");
    job.fleet = fleet;
}

// A {name} in a fleet's filter outside a quoted literal that is not the
// fleet's parameter is a misspelling ({usr} for {user}): caught here, not
// by every member failing at run time.
void check_fleet_filters(const JobReader& reader, const JobSpec& job) {
    for (const auto& filter : job.filters) {
        bool quoted = false;
        for (size_t i = 0; i < filter.size(); i++) {
            if (filter[i] == '\'') {
                quoted = !quoted;
                continue;
            }
            if (quoted || filter[i] != '{')
                continue;
            size_t end = filter.find('}', i);
            if (end == std::string::npos)
                break;
            std::string name = filter.substr(i + 1, end - i - 1);
            if (!name.empty() && text::is_plain_name(name, "_") && name != job.fleet->parameter)
                reader.fail("where",
                            fmt::format("\"{}\" names {{{}}}, but the fleet's parameter is {{{}}}",
                                        filter, name, job.fleet->parameter),
                            fmt::format("Write {{{}}} where each member's value goes.",
                                        job.fleet->parameter));
            i = end;
        }
    }
}

void check_timing(const JobReader& reader, const JobSpec& job) {
    const schedule::Timing& t = job.timing;
    if (job.mode == "full" && !t.full_every && !t.delta_every)
        reader.fail("", "a full job needs full_every (and may have delta_every)",
                    "E.g. full_every = \"24h\": a full copy once a day.");
    if (job.mode != "full" && !t.delta_every)
        reader.fail("", fmt::format("an {} job needs delta_every", job.mode),
                    "E.g. delta_every = \"30m\": apply the changes every half hour.");
    if (job.mode == "bidirectional" && t.full_every)
        reader.fail("full_every", "a bidirectional job cannot re-copy one side over the other",
                    "Drop full_every; copy once by hand with ferry full-sync.");
}

JobSpec read_job(const std::string& path, const std::string& name, const toml::table& section,
                 const std::function<std::string(const std::string&)>& resolve) {
    JobReader reader(path, name, section);
    for (const auto& [key, value] : section)
        if (!kKeys.count(std::string(key.str())))
            reader.fail(std::string(key.str()), "unknown setting",
                        fmt::format("Settings of a job: {}.", fmt::join(kKeys, ", ")));
    JobSpec job;
    job.name = name;
    for (const char* side : {"source", "target"}) {
        auto peer = reader.text(side);
        if (!peer)
            reader.fail("", fmt::format("has no {}", side),
                        fmt::format("Add {} = \"PEER\", a [peers.PEER] name or an address.", side));
        if (redact(*peer) != *peer)  // as for peers.NAME.url (docs/config.md)
            reader.fail(side, "holds a password",
                        "Keep passwords out of ferry.toml: in ~/.pgpass, a service file "
                        "(service=NAME) or PGPASSWORD.");
        try {
            (side == std::string("source") ? job.source : job.target) = resolve(*peer);
        } catch (const Error& e) {
            reader.fail(side, e.what(), e.hint());
        }
    }
    job.tables = reader.list("tables");
    job.mode = reader.one_of("mode", {"full", "incremental", "bidirectional"}, "");
    if (job.mode.empty())
        reader.fail("", "has no mode",
                    "Add mode = \"full\", \"incremental\" or \"bidirectional\".");
    job.timing = {reader.duration("full_every"), reader.duration("delta_every"),
                  reader.duration("fresh_within")};
    check_timing(reader, job);
    job.priority = reader.integer("priority");
    job.after = reader.list("after");
    job.filters = reader.list("where");
    for (const auto& filter : job.filters)
        if (filter.find(':') == std::string::npos)
            reader.fail("where", fmt::format("\"{}\" is not TABLE:CONDITION", filter));
    job.policy =
        reader.one_of("policy", {"source-wins", "target-wins", "latest-wins", "manual"}, "");
    job.method = reader.one_of("method", {"dump", "diff", "auto"}, "auto");
    job.delete_missing = reader.flag("delete_missing");
    job.verify = reader.flag("verify");
    read_fleet(reader, job, fs::absolute(path).parent_path());
    if (job.fleet)
        check_fleet_filters(reader, job);
    if (job.fleet && job.mode == "bidirectional")
        reader.fail("mode", "a fleet job is full or incremental");
    if (redact(job.source) == redact(job.target))
        reader.fail("target", "the source and the target are the same peer");
    return job;
}

std::string replace_parameter(const std::string& text, const FleetSpec& fleet,
                              const std::string& value) {
    std::string marker = "{" + fleet.parameter + "}";
    std::string out;
    size_t from = 0;
    for (size_t at; (at = text.find(marker, from)) != std::string::npos; from = at + marker.size())
        out += text.substr(from, at - from) + value;
    return out + text.substr(from);
}

}  // namespace

std::vector<JobSpec> parse_jobs(const toml::table& jobs, const std::string& path,
                                const std::function<std::string(const std::string&)>& resolve) {
    std::vector<JobSpec> out;
    for (const auto& [key, value] : jobs) {
        std::string name(key.str());
        if (!text::is_plain_name(name, "_.-") || !value.is_table())
            throw Error(ErrorKind::invalid_input,
                        fmt::format("{}: line {}: jobs.{}: a job is a [jobs.NAME] section, NAME "
                                    "letters, digits, _ . -",
                                    path, value.source().begin.line, name));
        out.push_back(read_job(path, name, *value.as_table(), resolve));
    }
    for (const auto& job : out)
        for (const auto& before : job.after)
            if (!jobs.contains(before)) {
                const toml::node* after = jobs[job.name]["after"].node();
                throw Error(ErrorKind::invalid_input,
                            fmt::format("{}: line {}: jobs.{}.after: \"{}\" is not a job", path,
                                        after ? after->source().begin.line : 0, job.name, before),
                            {}, "Name jobs by their [jobs.NAME] sections.");
            }
    std::vector<schedule::Ordered> order;
    for (const auto& job : out)
        order.push_back({job.name, job.priority, job.after});
    try {
        schedule::run_order(order);
    } catch (const Error& e) {
        throw Error(ErrorKind::invalid_input, fmt::format("{}: {}", path, e.what()), {}, e.hint());
    }
    return out;
}

std::string fill_address(const std::string& pattern, const FleetSpec& fleet,
                         const std::string& value) {
    return replace_parameter(pattern, fleet, value);
}

std::string fill_filter(const std::string& filter, const FleetSpec& fleet,
                        const std::string& value) {
    return replace_parameter(filter, fleet, quote_literal(value));
}

}  // namespace ferry::cli
