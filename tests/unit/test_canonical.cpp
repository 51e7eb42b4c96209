// Canonical value and row encoding: the vectors here are the ones listed in
// docs/hashing.md, which the engine adapters must reproduce.
#include <catch2/catch.hpp>

#include "ferry/canonical.hpp"
#include "ferry/error.hpp"

using namespace ferry::canonical;

TEST_CASE("numbers normalize regardless of notation", "[canonical]") {
    CHECK(normalize_number("10.50") == "1.05e1");
    CHECK(normalize_number("10.5") == "1.05e1");
    CHECK(normalize_number("10.500") == "1.05e1");
    CHECK(normalize_number("1.05E+1") == "1.05e1");
    CHECK(normalize_number("5") == "5e0");
    CHECK(normalize_number("5.0") == "5e0");
    CHECK(normalize_number("500") == "5e2");
    CHECK(normalize_number("0.001") == "1e-3");
    CHECK(normalize_number("-0.00120") == "-1.2e-3");
    CHECK(normalize_number("0") == "0");
    CHECK(normalize_number("-0") == "0");
    CHECK(normalize_number("0.000e10") == "0");
    CHECK(normalize_number("NaN") == "NaN");
    CHECK(normalize_number("-nan") == "NaN");
    CHECK(normalize_number("Infinity") == "Infinity");
    CHECK(normalize_number("-Infinity") == "-Infinity");
    CHECK(normalize_number("123456789012345678901234567890") ==
          "1.2345678901234567890123456789e29");
}

TEST_CASE("integers, doubles and decimals meet in one form", "[canonical]") {
    CHECK(number_from_int(5) == normalize_number("5.000"));
    CHECK(number_from_double(5.0) == number_from_int(5));
    CHECK(number_from_double(-0.0) == "0");
    CHECK(number_from_double(0.1) == normalize_number("0.1"));
    CHECK(number_from_double(1e-7) == "1e-7");
    CHECK(number_from_int(INT64_MIN) == "-9.223372036854775808e18");
    for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{10}, int64_t{1200},
                      int64_t{-305}, int64_t{INT64_MAX}, int64_t{1000000}}) {
        CHECK(number_from_int(v) == normalize_number(std::to_string(v)));
    }
}

TEST_CASE("an encoder reused row after row encodes each row alone", "[canonical]") {
    // add_int is add_number(number_from_int()), and clear() forgets the
    // previous row even though the buffer keeps its size.
    RowEncoder reused;
    for (int64_t v : {int64_t{123456789012}, int64_t{-7}, int64_t{0}, INT64_MIN}) {
        RowEncoder fresh;
        fresh.add_number("id", number_from_int(v));
        fresh.add_text("name", "x");
        reused.clear();
        reused.add_int("id", v);
        reused.add_text("name", "x");
        CHECK(reused.bytes() == fresh.bytes());
        CHECK(reused.hash() == fresh.hash());
        CHECK(reused.hash128().low == fresh.hash128().low);
        CHECK(reused.hash128().high == fresh.hash128().high);
    }
}

TEST_CASE("char(n) padding is dropped, whatever its length", "[canonical]") {
    using std::string;
    CHECK(without_trailing_blanks("") == "");
    CHECK(without_trailing_blanks(" ") == "");
    for (size_t blanks : {1u, 7u, 8u, 9u, 16u, 17u, 84u}) {
        CAPTURE(blanks);
        CHECK(without_trailing_blanks(string(blanks, ' ')) == "");
        CHECK(without_trailing_blanks("x" + string(blanks, ' ')) == "x");
        CHECK(without_trailing_blanks("a  b" + string(blanks, ' ')) == "a  b");
        CHECK(without_trailing_blanks(string(blanks, ' ') + "y") == string(blanks, ' ') + "y");
    }
    // Only blanks are padding: a tab, a NUL or a non-breaking space stay.
    CHECK(without_trailing_blanks(string("ab\t        ")) == "ab\t");
    CHECK(without_trailing_blanks(string("ab\0        ", 11)) == string("ab\0", 3));
    CHECK(without_trailing_blanks("ab\xc2\xa0        ") == "ab\xc2\xa0");
}

TEST_CASE("malformed numbers are refused", "[canonical]") {
    CHECK_THROWS_AS(normalize_number(""), ferry::Error);
    CHECK_THROWS_AS(normalize_number("12a"), ferry::Error);
    CHECK_THROWS_AS(normalize_number("1e"), ferry::Error);
    CHECK_THROWS_AS(normalize_number("."), ferry::Error);
}

TEST_CASE("json normalizes key order, spacing and numbers", "[canonical]") {
    CHECK(normalize_json(R"({ "b": 1.50, "a": [true, null, "x"] })") ==
          R"({"a":[true,null,"x"],"b":1.5e0})");
    CHECK(normalize_json(R"({"a":1,"a":2})") == R"({"a":2e0})");
    CHECK(normalize_json(R"("line\nbreak \u00e9")") == "\"line\\nbreak \xc3\xa9\"");
    CHECK(normalize_json("12345678901234567890123") == "1.2345678901234567890123e22");
    CHECK_THROWS_AS(normalize_json("{oops}"), ferry::Error);
}

TEST_CASE("row encoding keeps column boundaries and classes apart", "[canonical]") {
    auto hash_of = [](auto&& fill) {
        RowEncoder row;
        fill(row);
        return row.hash();
    };
    auto ab_c = hash_of([](RowEncoder& r) {
        r.add_text("x", "ab");
        r.add_text("y", "c");
    });
    auto a_bc = hash_of([](RowEncoder& r) {
        r.add_text("x", "a");
        r.add_text("y", "bc");
    });
    CHECK(ab_c != a_bc);

    auto null_value = hash_of([](RowEncoder& r) { r.add_null("x"); });
    auto empty_text = hash_of([](RowEncoder& r) { r.add_text("x", ""); });
    auto null_text = hash_of([](RowEncoder& r) { r.add_text("x", "NULL"); });
    auto empty_bytes = hash_of([](RowEncoder& r) { r.add_bytes("x", ""); });
    CHECK(null_value != empty_text);
    CHECK(null_value != null_text);
    CHECK(empty_text != empty_bytes);

    auto number_five = hash_of([](RowEncoder& r) { r.add_number("x", number_from_int(5)); });
    auto text_five = hash_of([](RowEncoder& r) { r.add_text("x", "5e0"); });
    CHECK(number_five != text_five);
}

TEST_CASE("row encoding vector", "[canonical]") {
    RowEncoder row;
    row.add_number("id", number_from_int(1));
    row.add_null("note");
    row.add_text("name", "é");
    std::string expected(
        "\x02\x00\x00\x00"
        "idN\x03\x00\x00\x00"
        "1e0"
        "\x04\x00\x00\x00"
        "noten"
        "\x04\x00\x00\x00"
        "namet\x02\x00\x00\x00\xc3\xa9",
        4 + 2 + 1 + 4 + 3 + 4 + 4 + 1 + 4 + 4 + 1 + 4 + 2);
    CHECK(row.bytes() == expected);
    CHECK(row.hash() == hash_bytes(expected));
}

TEST_CASE("table digests ignore row order and add up by parts", "[canonical]") {
    std::vector<Hash128> rows;
    for (int i = 0; i < 100; i++) {
        RowEncoder row;
        row.add_number("id", number_from_int(i));
        rows.push_back(row.hash128());
    }
    TableDigest forward, backward, first_half, second_half;
    for (size_t i = 0; i < rows.size(); i++) {
        forward.add_row(rows[i]);
        backward.add_row(rows[rows.size() - 1 - i]);
        (i < 50 ? first_half : second_half).add_row(rows[i]);
    }
    CHECK(forward == backward);
    TableDigest parts;
    parts.add(first_half);
    parts.add(second_half);
    CHECK(parts == forward);
    CHECK(parts.rows() == 100);

    TableDigest one_changed;
    for (size_t i = 0; i < rows.size(); i++)
        one_changed.add_row(i == 7 ? Hash128{rows[i].low ^ 1, rows[i].high} : rows[i]);
    CHECK_FALSE(one_changed == forward);

    TableDigest missing_row;
    for (size_t i = 1; i < rows.size(); i++)
        missing_row.add_row(rows[i]);
    CHECK_FALSE(missing_row == forward);
}

TEST_CASE("table digest sums modulo 2^128 and prints 32 hex digits", "[canonical]") {
    TableDigest digest;
    digest.add_row({~0ULL, 0});
    digest.add_row({1, 0});  // carries into the high half
    CHECK(digest.sum().low == 0);
    CHECK(digest.sum().high == 1);
    CHECK(digest.hex() == "00000000000000010000000000000000");
    digest.add_row({~0ULL, ~0ULL});  // wraps around 2^128
    CHECK(digest.hex() == "0000000000000000ffffffffffffffff");
    CHECK(TableDigest().hex() == std::string(32, '0'));
}

TEST_CASE("row hash vector matches PostgreSQL's ferry.row_hash", "[canonical]") {
    // id = 1, note = NULL, name = 'é' (docs/hashing.md); tests/pg/sql/hashing.sql
    // pins the same value for ferry.row_hash in PostgreSQL.
    RowEncoder row;
    row.add_number("id", number_from_int(1));
    row.add_text("name", "\xc3\xa9");
    row.add_null("note");
    CHECK(static_cast<int64_t>(row.hash()) == -7492196940480047951LL);
}

TEST_CASE("json normalization handles every token and refuses malformed text", "[canonical]") {
    CHECK(normalize_json(" [ ] ") == "[]");
    CHECK(normalize_json("{}") == "{}");
    CHECK(normalize_json(R"({"z":{"b":[1,{"y":null,"x":false}],"a":{}},"a":[[],[0.0]]})") ==
          R"({"a":[[],[0]],"z":{"a":{},"b":[1e0,{"x":false,"y":null}]}})");
    CHECK(normalize_json(R"({"b":1,"a":2,"b":3,"a":4})") == R"({"a":4e0,"b":3e0})");
    CHECK(normalize_json(R"("\ud83d\ude00 \/ \u0001")") == "\"\xf0\x9f\x98\x80 / \\u0001\"");
    CHECK(normalize_json("-0.5e-3") == "-5e-4");
    CHECK(normalize_json(R"({"é":1,"e":2,"ee":3})") == "{\"e\":2e0,\"ee\":3e0,\"\xc3\xa9\":1e0}");
    for (const char* bad : {"", "[1,]", "{\"a\"}", "{\"a\":1,}", "[1 2]", "01", "1.", "-", "tru",
                            "\"open", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1]]", "{1:2}",
                            "\"a\tb\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "nul"}) {
        INFO(bad);
        CHECK_THROWS_AS(normalize_json(bad), ferry::Error);
    }
}

TEST_CASE("json nesting is bounded by memory, not the stack", "[canonical]") {
    const size_t depth = 20000;  // far beyond the 1,000 or so the C stack would allow
    std::string deep = std::string(depth, '[') + "1" + std::string(depth, ']');
    std::string expected = std::string(depth, '[') + "1e0" + std::string(depth, ']');
    CHECK(normalize_json(deep) == expected);
    std::string objects;
    for (size_t i = 0; i < 10000; i++)
        objects += "{\"k\":";
    objects += "true" + std::string(10000, '}');
    CHECK(normalize_json(objects).size() == objects.size());
}
