// Canonical text of dates and times written as text (docs/hashing.md).
//
// PostgreSQL has date and time types; SQLite stores them as text in whatever
// form the application chose. To hash the same instant the same on both, the
// SQLite adapter reads text in a column declared DATE, TIME, TIMESTAMP,
// DATETIME or TIMESTAMPTZ through normalize_temporal().
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::canonical {

enum class TemporalKind { date, time, timestamp, timestamptz };

// The canonical form of an ISO 8601-like date or time: "2024-02-29",
// "13:14:15.123456", "2024-02-29T13:14:15.123456", and for timestamptz the
// instant in UTC, "2024-02-29T12:14:15.000000Z". Accepted input: a date
// YYYY-MM-DD, then optionally 'T' or ' ' and HH:MM[:SS[.fraction]] (up to six
// fraction digits), then optionally a zone "Z", "+HH", "+HHMM" or "+HH:MM",
// and last PostgreSQL's " BC" for a year before 1, which the canonical form
// keeps at its end too ("0044-03-15T08:00:00.000000Z BC").
// A timestamptz without a zone is taken as UTC; a timestamp ignores a zone,
// as PostgreSQL does; a date ignores a time of day. "infinity" and
// "-infinity" are kept for dates and timestamps. Anything else (an invalid
// calendar date, 25:00, free text) gives nullopt: the caller hashes the text
// as it is.
std::optional<std::string> normalize_temporal(std::string_view text, TemporalKind kind);

// A timestamptz written without a zone (SQLite's CURRENT_TIMESTAMP) is UTC to
// ferry, but PostgreSQL reads it in the session's TimeZone. This gives its
// canonical form, which says UTC ("2024-02-29T13:14:15.000000Z" for
// "2024-02-29 13:14:15"), and nullopt for text PostgreSQL reads as ferry
// does: with a zone, infinity, or not a timestamp at all.
std::optional<std::string> zoneless_timestamptz_in_utc(std::string_view text);

}  // namespace ferry::canonical
