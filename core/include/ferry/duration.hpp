// Durations written by people: lease time-to-live, freshness thresholds, the
// every/within settings of jobs.
#pragma once

#include <string_view>

namespace ferry {

// Seconds in "90", "1.5", "30s", "30 seconds", "5 min", "5 minutes", "2h",
// "1 hour", "3 days", "1d 12h", or PostgreSQL's "00:05:00". Throws
// Error(invalid_input) for anything else, for negative durations, and for a
// number without a unit next to others ("1h30").
double parse_duration(std::string_view text);

}  // namespace ferry
