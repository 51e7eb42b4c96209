// COPY text format: what pg_dump writes and COPY FROM STDIN reads.
#include <catch2/catch.hpp>

#include "ferry/copy_text.hpp"
#include "ferry/error.hpp"

using ferry::copy_text::Field;

namespace {

std::vector<Field> decode(std::string_view line) {
    std::vector<Field> fields;
    ferry::copy_text::decode_line(line, fields);
    return fields;
}

}  // namespace

TEST_CASE("COPY text: fields, NULL and empty values") {
    auto fields = decode("1\t\\N\t\tlast");
    REQUIRE(fields.size() == 4);
    CHECK(fields[0].value == "1");
    CHECK(fields[1].is_null);
    CHECK_FALSE(fields[2].is_null);
    CHECK(fields[2].value.empty());
    CHECK(fields[3].value == "last");
    CHECK(decode("").size() == 1);
    CHECK(decode("\\N").at(0).is_null);
    // \N only means NULL as the whole field
    CHECK(decode("a\\N").at(0).value == "aN");
}

TEST_CASE("COPY text: escapes decode to the bytes they stand for") {
    auto fields = decode("tab\\there\tnew\\nline\\r\tback\\\\slash\t\\101\\x42\\q");
    REQUIRE(fields.size() == 4);
    CHECK(fields[0].value == "tab\there");
    CHECK(fields[1].value == "new\nline\r");
    CHECK(fields[2].value == "back\\slash");
    CHECK(fields[3].value == "ABq");
    CHECK(decode("\\b\\f\\v").at(0).value == "\b\f\v");
    CHECK(decode("\\\\x00ff").at(0).value == "\\x00ff");  // a bytea in hex form
    CHECK_THROWS_AS(decode("ends in \\"), ferry::Error);
}

TEST_CASE("COPY text: encoding round-trips every byte") {
    std::string value;
    for (int c = 1; c < 256; c++)
        value += static_cast<char>(c);
    std::string line;
    ferry::copy_text::append_value(line, value);
    line += '\t';
    ferry::copy_text::append_null(line);
    CHECK(line.find('\n') == std::string::npos);
    auto fields = decode(line);
    REQUIRE(fields.size() == 2);
    CHECK(fields[0].value == value);
    CHECK(fields[1].is_null);
}

TEST_CASE("COPY text: decoding reuses the field vector") {
    std::vector<Field> fields;
    ferry::copy_text::decode_line("a\tb\tc", fields);
    CHECK(fields.size() == 3);
    ferry::copy_text::decode_line("x", fields);
    REQUIRE(fields.size() == 1);
    CHECK(fields[0].value == "x");
}
