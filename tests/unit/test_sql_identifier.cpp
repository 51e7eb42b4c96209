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
