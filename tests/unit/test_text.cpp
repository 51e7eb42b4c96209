// Small text helpers of core.
#include <catch2/catch.hpp>

#include "ferry/text.hpp"

using ferry::text::is_plain_name;

TEST_CASE("plain names: letters, digits and the characters allowed", "[text]") {
    CHECK(is_plain_name("hub", "_.-"));
    CHECK(is_plain_name("site-7.eu_west", "_.-"));
    CHECK(is_plain_name("u17@corp", "_.@-"));
    CHECK_FALSE(is_plain_name("", "_"));
    CHECK_FALSE(is_plain_name("a b", "_"));
    CHECK_FALSE(is_plain_name("a/b", "_.-"));
    CHECK_FALSE(is_plain_name("x.y", "_"));
    CHECK_FALSE(is_plain_name("dbname=x", "_.-"));
    CHECK_FALSE(is_plain_name("caf\xc3\xa9", "_"));  // ASCII only, whatever the locale
}
