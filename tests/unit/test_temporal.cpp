// Dates and times given as text reach the canonical form of docs/hashing.md.
#include <catch2/catch.hpp>

#include "ferry/temporal.hpp"

using namespace ferry::canonical;

TEST_CASE("dates and timestamps in ISO forms normalize", "[temporal]") {
    CHECK(normalize_temporal("2024-02-29", TemporalKind::date) == "2024-02-29");
    CHECK(normalize_temporal("2024-02-29 13:14:15", TemporalKind::date) == "2024-02-29");
    CHECK(normalize_temporal("2024-02-29 13:14:15", TemporalKind::timestamp) ==
          "2024-02-29T13:14:15.000000");
    CHECK(normalize_temporal("2024-02-29T13:14:15.123", TemporalKind::timestamp) ==
          "2024-02-29T13:14:15.123000");
    CHECK(normalize_temporal("2024-02-29 13:14", TemporalKind::timestamp) ==
          "2024-02-29T13:14:00.000000");
    CHECK(normalize_temporal("2024-02-29", TemporalKind::timestamp) ==
          "2024-02-29T00:00:00.000000");
    CHECK(normalize_temporal("2024-02-29 13:14:15+05", TemporalKind::timestamp) ==
          "2024-02-29T13:14:15.000000");
    CHECK(normalize_temporal("2024-12-31 24:00:00", TemporalKind::timestamp) ==
          "2025-01-01T00:00:00.000000");
    CHECK(normalize_temporal("13:14:15.5", TemporalKind::time) == "13:14:15.500000");
    CHECK(normalize_temporal("24:00:00", TemporalKind::time) == "24:00:00.000000");
    CHECK(normalize_temporal("infinity", TemporalKind::timestamp) == "infinity");
    CHECK(normalize_temporal("-infinity", TemporalKind::date) == "-infinity");
}

TEST_CASE("timestamptz is the instant in UTC", "[temporal]") {
    CHECK(normalize_temporal("2024-02-29 13:14:15+01", TemporalKind::timestamptz) ==
          "2024-02-29T12:14:15.000000Z");
    CHECK(normalize_temporal("2024-02-29T13:14:15.000001+01:00", TemporalKind::timestamptz) ==
          "2024-02-29T12:14:15.000001Z");
    CHECK(normalize_temporal("2024-03-01 00:30:00+0100", TemporalKind::timestamptz) ==
          "2024-02-29T23:30:00.000000Z");
    CHECK(normalize_temporal("2023-12-31 20:00:00-05:30", TemporalKind::timestamptz) ==
          "2024-01-01T01:30:00.000000Z");
    CHECK(normalize_temporal("2024-02-29T12:14:15Z", TemporalKind::timestamptz) ==
          "2024-02-29T12:14:15.000000Z");
    // Without a zone the text is taken as UTC.
    CHECK(normalize_temporal("2024-02-29 12:14:15", TemporalKind::timestamptz) ==
          "2024-02-29T12:14:15.000000Z");
    CHECK(normalize_temporal("0001-01-01 00:30:00+01", TemporalKind::timestamptz) ==
          "0001-12-31T23:30:00.000000Z BC");
    // PostgreSQL's spellings under TimeZone = 'Europe/Paris': local mean
    // time before 1911 (an offset with seconds), and years past 9999.
    CHECK(normalize_temporal("1900-01-01 00:09:21+00:09:21", TemporalKind::timestamptz) ==
          "1900-01-01T00:00:00.000000Z");
    CHECK(normalize_temporal("1900-01-01 00:00:00-00:09:21", TemporalKind::timestamptz) ==
          "1900-01-01T00:09:21.000000Z");
    CHECK(normalize_temporal("12345-06-07 10:09:10.5+02", TemporalKind::timestamptz) ==
          "12345-06-07T08:09:10.500000Z");
    CHECK(normalize_temporal("10000-01-01", TemporalKind::date) == "10000-01-01");
}

TEST_CASE("dates before year 1 keep PostgreSQL's BC suffix", "[temporal]") {
    // As PostgreSQL prints them, and reads them back: the suffix ends the text.
    CHECK(normalize_temporal("0044-03-15 BC", TemporalKind::date) == "0044-03-15 BC");
    CHECK(normalize_temporal("0044-03-15 10:00:00 BC", TemporalKind::timestamp) ==
          "0044-03-15T10:00:00.000000 BC");
    CHECK(normalize_temporal("0044-03-15 10:00:00+02 BC", TemporalKind::timestamptz) ==
          "0044-03-15T08:00:00.000000Z BC");
    // Leap years count from 1 BC, year 0 of the proleptic Gregorian calendar.
    CHECK(normalize_temporal("0001-02-29 BC", TemporalKind::date) == "0001-02-29 BC");
    CHECK(normalize_temporal("0005-02-29 BC", TemporalKind::date) == "0005-02-29 BC");
    CHECK_FALSE(normalize_temporal("0004-02-29 BC", TemporalKind::date).has_value());
    // Across the turn of the era, both ways.
    CHECK(normalize_temporal("0001-12-31 23:30:00-01 BC", TemporalKind::timestamptz) ==
          "0001-01-01T00:30:00.000000Z");
    CHECK(normalize_temporal("0001-01-01 23:59:59.5 BC", TemporalKind::timestamp) ==
          "0001-01-01T23:59:59.500000 BC");
    CHECK(normalize_temporal("0001-12-31 24:00:00 BC", TemporalKind::timestamp) ==
          "0001-01-01T00:00:00.000000");
    for (const char* text : {"0000-01-01 BC", "13:14 BC", "2024-01-01 bc", "2024-01-01BC", " BC"}) {
        INFO(text);
        CHECK_FALSE(normalize_temporal(text, TemporalKind::timestamp).has_value());
    }
}

TEST_CASE("text that is not a date or time is left to the caller", "[temporal]") {
    for (const char* text :
         {"", "yesterday", "2023-02-29", "2024-13-01", "2024-1-01", "2024-02-29 25:00",
          "2024-02-29x", "13:60", "2024-02-29 10:00 +25", "2024-02-29 10:00:00 UTC",
          "1234567-01-01", "123-01-01", "2024-02-29 10:00+01:00:60"}) {
        INFO(text);
        CHECK_FALSE(normalize_temporal(text, TemporalKind::timestamp).has_value());
    }
    CHECK_FALSE(normalize_temporal("13:14", TemporalKind::date).has_value());
    CHECK_FALSE(normalize_temporal("2024-02-29", TemporalKind::time).has_value());
    CHECK_FALSE(normalize_temporal("13:14+01", TemporalKind::time).has_value());
    CHECK_FALSE(normalize_temporal("infinity", TemporalKind::time).has_value());
}

TEST_CASE("a timestamptz without a zone is spelled as UTC for PostgreSQL", "[temporal]") {
    CHECK(zoneless_timestamptz_in_utc("2024-02-29 13:14:15") == "2024-02-29T13:14:15.000000Z");
    CHECK(zoneless_timestamptz_in_utc("2024-02-29") == "2024-02-29T00:00:00.000000Z");
    CHECK(zoneless_timestamptz_in_utc("0044-03-15 10:00 BC") == "0044-03-15T10:00:00.000000Z BC");
    // PostgreSQL reads these as ferry does: left as they are.
    for (const char* text :
         {"2024-02-29 13:14:15+01", "2024-02-29T13:14:15Z", "2024-02-29 13:14:15+00:00", "infinity",
          "-infinity", "13:14:15", "yesterday", "2024-02-30 10:00"}) {
        INFO(text);
        CHECK_FALSE(zoneless_timestamptz_in_utc(text).has_value());
    }
}

TEST_CASE("more than six fraction digits round to microseconds as PostgreSQL does", "[temporal]") {
    // Each expectation is what PostgreSQL 15 reads the text as.
    const std::pair<const char*, const char*> cases[] = {
        {"2024-02-29 13:14:15.1234565", "2024-02-29T13:14:15.123456"},
        {"2024-02-29 13:14:15.0000005", "2024-02-29T13:14:15.000000"},
        {"2024-02-29 13:14:15.0000015", "2024-02-29T13:14:15.000002"},
        {"2024-02-29 13:14:15.0000025", "2024-02-29T13:14:15.000002"},
        {"2024-02-29 13:14:15.9999995", "2024-02-29T13:14:16.000000"},
        {"2024-02-29 23:59:59.9999999", "2024-03-01T00:00:00.000000"},
        {"2024-02-29 13:14:15.123456789", "2024-02-29T13:14:15.123457"},
    };
    for (const auto& [text, expected] : cases) {
        INFO(text);
        CHECK(normalize_temporal(text, TemporalKind::timestamp) == expected);
    }
    CHECK(normalize_temporal("2024-01-01T00:00:00.1234567Z", TemporalKind::timestamptz) ==
          "2024-01-01T00:00:00.123457Z");
    CHECK(normalize_temporal("23:59:59.9999999", TemporalKind::time) == "24:00:00.000000");
}
