// Durations as people write them in SQL calls and in ferry.toml.
#include <catch2/catch.hpp>

#include "ferry/duration.hpp"
#include "ferry/error.hpp"

using ferry::parse_duration;

TEST_CASE("durations in seconds, units and clock form", "[duration]") {
    CHECK(parse_duration("90") == 90);
    CHECK(parse_duration("1.5") == 1.5);
    CHECK(parse_duration("30s") == 30);
    CHECK(parse_duration("30 seconds") == 30);
    CHECK(parse_duration("5 min") == 300);
    CHECK(parse_duration("5 Minutes") == 300);
    CHECK(parse_duration("2h") == 7200);
    CHECK(parse_duration("1 hour") == 3600);
    CHECK(parse_duration("3 days") == 259200);
    CHECK(parse_duration("1d 12h") == 129600);
    CHECK(parse_duration("00:05:00") == 300);
    CHECK(parse_duration("01:30") == 5400);
}

TEST_CASE("anything else is refused", "[duration]") {
    for (const char* text :
         {"", "soon", "5 fortnights", "-5", "5 -", "1:2:3:4", "a:b", "::", "1h30", "90 5m"}) {
        INFO(text);
        CHECK_THROWS_AS(parse_duration(text), ferry::Error);
    }
}
