// Identifier and literal quoting.
#include <catch2/catch.hpp>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"

TEST_CASE("identifiers are always quoted", "[sql]") {
    CHECK(ferry::quote_identifier("orders") == "\"orders\"");
    CHECK(ferry::quote_identifier("Order \"Lines\"") == "\"Order \"\"Lines\"\"\"");
    CHECK(ferry::quote_identifier("größe") == "\"größe\"");
    CHECK_THROWS_AS(ferry::quote_identifier(""), ferry::Error);
    CHECK_THROWS_AS(ferry::quote_identifier(std::string("a\0b", 3)), ferry::Error);
}

TEST_CASE("literals double their quotes", "[sql]") {
    CHECK(ferry::quote_literal("it's") == "'it''s'");
}

TEST_CASE("name lists split at commas outside double quotes", "[sql]") {
    using List = std::vector<std::string>;
    CHECK(ferry::split_name_list("a,b") == List{"a", "b"});
    CHECK(ferry::split_name_list("a,\"c,d\"") == List{"a", "\"c,d\""});
    CHECK(ferry::split_name_list("\"x\"\",y\",z") == List{"\"x\"\",y\"", "z"});
    CHECK(ferry::split_name_list("s.\"t,u\",v") == List{"s.\"t,u\"", "v"});
    CHECK(ferry::split_name_list("a,,b") == List{"a", "", "b"});
    CHECK(ferry::split_name_list("") == List{""});
}
