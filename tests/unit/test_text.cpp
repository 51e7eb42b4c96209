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

TEST_CASE("UTF-8: the first byte that is not part of a character", "[text]") {
    using ferry::text::invalid_utf8_at;
    constexpr size_t none = std::string_view::npos;
    CHECK(invalid_utf8_at("") == none);
    CHECK(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == none);
    CHECK(invalid_utf8_at(std::string_view("a\0b", 3)) == none);  // NUL is a character
    CHECK(invalid_utf8_at("cafe\x80") == 4);                      // a stray continuation byte
    CHECK(invalid_utf8_at("A\xe9") == 1);                         // Latin-1
    CHECK(invalid_utf8_at("\xc0\xaf") == 0);                      // overlong
    CHECK(invalid_utf8_at("x\xed\xa0\x80") == 1);                 // a surrogate
    CHECK(invalid_utf8_at("\xf4\x90\x80\x80") == 0);              // beyond U+10FFFF
    CHECK(invalid_utf8_at("ab\xe2\x82") == 2);                    // cut short
}
