// Jobs for `ferry run`, from the [jobs.NAME] sections of the config file
// (docs/scheduling.md):
//
//   [jobs.prices]
//   source = "hub"                  # a peer name or an address
//   target = "site"
//   tables = ["prices"]
//   mode = "incremental"            # full, incremental or bidirectional
//   delta_every = "3h"
//   after = ["products"]
//
// A fleet job names many peers with a pattern on one side,
// target = "sqlite:/data/customers-{user}.db", whose values come from a
// query on the other side (members_query) or from the files that exist
// (members_glob); {user} in its filters is the member's value.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "ferry/schedule.hpp"

namespace ferry::cli {

struct FleetSpec {
    std::string parameter;             // "user" in {user}
    bool pattern_is_target = true;     // else the source is the pattern
    std::optional<std::string> query;  // members_query, run on the other peer
    std::optional<std::string> glob;   // members_glob, a sqlite: pattern's files
};

struct JobSpec {
    std::string name;
    std::string source;  // resolved addresses; a fleet's pattern keeps {parameter}
    std::string target;
    std::vector<std::string> tables;
    std::string mode;  // full, incremental, bidirectional
    schedule::Timing timing;
    int priority = 0;
    std::vector<std::string> after;
    std::vector<std::string> filters;  // TABLE:CONDITION
    std::string policy;           // empty: the link's recorded one (source-wins for a new link)
    std::string method = "auto";  // for full copies
    bool delete_missing = false;
    bool verify = false;
    std::optional<FleetSpec> fleet;

    // The peer that keeps the job's record, lease and pause mark: the
    // target, or for a fleet of targets its single source.
    const std::string& home() const { return fleet && fleet->pattern_is_target ? source : target; }
};

// Validates and returns the jobs of a config file's [jobs] table; `resolve`
// maps a peer name (or address) to an address, throwing with a hint for an
// unknown name. Errors name the file, the line and the key.
std::vector<JobSpec> parse_jobs(const toml::table& jobs, const std::string& path,
                                const std::function<std::string(const std::string&)>& resolve);

// A fleet pattern or filter with {parameter} replaced: in a peer address by
// the value as it is, in a filter by the value as a SQL string literal.
std::string fill_address(const std::string& pattern, const FleetSpec& fleet,
                         const std::string& value);
std::string fill_filter(const std::string& filter, const FleetSpec& fleet,
                        const std::string& value);

}  // namespace ferry::cli
