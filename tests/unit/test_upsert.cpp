// Dump-to-upsert conversion: what pg_dump and sqlite3 .dump write, what comes
// out for each engine, and everything a dump must not be able to smuggle in.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ferry/error.hpp"
#include "ferry/upsert.hpp"

using namespace ferry::upsert;
using Catch::Matchers::Contains;

namespace {

// The target database as the converter's lookup sees it.
struct Catalog {
    std::map<std::string, TableColumns> tables;  // "schema.name", or "name"
    std::vector<std::string> asked;

    TableLookup lookup() {
        return [this](const TableName& name) -> std::optional<TableColumns> {
            std::string key = (name.schema ? *name.schema + "." : "") + name.name;
            asked.push_back(key);
            auto found = tables.find(key);
            if (found == tables.end())
                return std::nullopt;
            return found->second;
        };
    }
};

// items has a generated column (total) that pg_dump --inserts writes as DEFAULT.
Catalog shop() {
    Catalog catalog;
    catalog.tables["public.items"] = {{"id", "name", "price", "total"}, {"id"}, {}};
    catalog.tables["public.tags"] = {{"item", "tag"}, {"item", "tag"}, {}};
    catalog.tables["public.notes"] = {{"id", "body"}, {"id"}, {}};
    catalog.tables["public.Order \"Lines\" ü"] = {{"Line ID", "Qty"}, {"Line ID"}, {}};
    catalog.tables["public.casts"] = {{"id", "a", "b", "c", "d", "e"}, {"id"}, {}};
    catalog.tables["public.loose"] = {{"id", "v"}, {}, {}};
    catalog.tables["t"] = {{"a", "b", "c", "d", "e"}, {"a"}, {}};
    catalog.tables["Mixed"] = {{"Id", "Val"}, {"Id"}, {}};
    catalog.tables["seq"] = {{"k"}, {"k"}, {}};
    return catalog;
}

std::string convert(std::string_view dump, Dialect target, Options options = {}) {
    Catalog catalog = shop();
    return convert_dump(dump, target, catalog.lookup(), options);
}

std::string to_postgres(std::string_view dump) {
    return convert(dump, Dialect::postgresql);
}

std::string to_sqlite(std::string_view dump) {
    Options options;
    options.source = Dialect::sqlite;
    return convert(dump, Dialect::sqlite, options);
}

// The error converting `dump` raises; fails the test if there is none.
ferry::Error error_of(std::string_view dump, Dialect target = Dialect::postgresql,
                      Options options = {}) {
    try {
        convert(dump, target, options);
    } catch (const ferry::Error& error) {
        return error;
    }
    FAIL("no error converting: " << dump);
    throw;  // not reached
}

std::string message_of(std::string_view dump, Dialect target = Dialect::postgresql) {
    return error_of(dump, target).what();
}

std::string sqlite_message_of(std::string_view dump) {
    Options options;
    options.source = Dialect::sqlite;
    return error_of(dump, Dialect::sqlite, options).what();
}

const char* const kPgDump = R"sql(--
-- PostgreSQL database dump
--

\restrict Agc3DQVXQRejJA31zzOUYVAkRhYvTw

-- Dumped from database version 15.20
-- Dumped by pg_dump version 15.20

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: items; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.items VALUES (1, 'pen', 1.50, DEFAULT);
INSERT INTO public.items VALUES (2, 'it''s; -- not a comment', -3, DEFAULT);


--
-- PostgreSQL database dump complete
--

\unrestrict Agc3DQVXQRejJA31zzOUYVAkRhYvTw

)sql";

const char* const kSqliteDump = R"sql(PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c BLOB, d, e REAL);
INSERT INTO t VALUES(1,'a',X'00ff',NULL,1.5e3);
INSERT INTO t VALUES(2,'two
lines; -- still text',NULL,-3,0.25);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO t VALUES (new.a + 100, 'x', NULL, NULL, NULL); UPDATE t SET b = 'y;' WHERE a = 0; END;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('t',2);
CREATE INDEX ti ON t(b);
COMMIT;
)sql";

}  // namespace

// ---------------------------------------------------------------------------
// What comes out

TEST_CASE("pg_dump --inserts becomes upserts that write only rows that differ", "[upsert]") {
    CHECK(
        to_postgres(kPgDump) ==
        R"sql(INSERT INTO "public"."items" ("id", "name", "price") VALUES (1, 'pen', 1.50) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price" WHERE ("items"."name", "items"."price") IS DISTINCT FROM (EXCLUDED."name", EXCLUDED."price");
INSERT INTO "public"."items" ("id", "name", "price") VALUES (2, 'it''s; -- not a comment', -3) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price" WHERE ("items"."name", "items"."price") IS DISTINCT FROM (EXCLUDED."name", EXCLUDED."price");)sql");
}

TEST_CASE("the same dump converts for SQLite", "[upsert]") {
    Options options;
    options.source = Dialect::postgresql;
    CHECK(
        convert(kPgDump, Dialect::sqlite, options) ==
        R"sql(INSERT INTO "public"."items" ("id", "name", "price") VALUES (1, 'pen', 1.50) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "price" = excluded."price" WHERE "items"."name" COLLATE BINARY IS NOT excluded."name" OR "items"."price" COLLATE BINARY IS NOT excluded."price";
INSERT INTO "public"."items" ("id", "name", "price") VALUES (2, 'it''s; -- not a comment', -3) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "price" = excluded."price" WHERE "items"."name" COLLATE BINARY IS NOT excluded."name" OR "items"."price" COLLATE BINARY IS NOT excluded."price";)sql");
}

TEST_CASE("pg_dump --column-inserts keeps its column list and OVERRIDING SYSTEM VALUE",
          "[upsert]") {
    std::string dump =
        "INSERT INTO public.notes (id, body) OVERRIDING SYSTEM VALUE VALUES (7, 'hello');\n";
    CHECK(
        to_postgres(dump) ==
        R"sql(INSERT INTO "public"."notes" ("id", "body") OVERRIDING SYSTEM VALUE VALUES (7, 'hello') ON CONFLICT ("id") DO UPDATE SET "body" = EXCLUDED."body" WHERE ("notes"."body") IS DISTINCT FROM (EXCLUDED."body");)sql");
    // SQLite has no identity columns to override.
    Options options;
    options.source = Dialect::postgresql;
    CHECK(
        convert(dump, Dialect::sqlite, options) ==
        R"sql(INSERT INTO "public"."notes" ("id", "body") VALUES (7, 'hello') ON CONFLICT ("id") DO UPDATE SET "body" = excluded."body" WHERE "notes"."body" COLLATE BINARY IS NOT excluded."body";)sql");
}

TEST_CASE("a listed subset of columns updates only those columns", "[upsert]") {
    CHECK(
        to_postgres("INSERT INTO public.items (price, id) VALUES (2.5, 1);") ==
        R"sql(INSERT INTO "public"."items" ("price", "id") VALUES (2.5, 1) ON CONFLICT ("id") DO UPDATE SET "price" = EXCLUDED."price" WHERE ("items"."price") IS DISTINCT FROM (EXCLUDED."price");)sql");
}

TEST_CASE("pg_dump --rows-per-insert keeps the rows of one INSERT together", "[upsert]") {
    Catalog catalog = shop();
    std::vector<std::string> out;
    UpsertConverter converter(Dialect::postgresql, catalog.lookup(), {},
                              [&](std::string_view statement) { out.emplace_back(statement); });
    converter.feed(
        "INSERT INTO public.notes VALUES\n\t(1, 'a'),\n\t(2, 'b'),\n\t(3, NULL);\n"
        "INSERT INTO public.notes VALUES\n\t(4, 'd');\n");
    converter.finish();
    REQUIRE(out.size() == 2);
    CHECK(
        out[0] ==
        R"sql(INSERT INTO "public"."notes" ("id", "body") VALUES (1, 'a'), (2, 'b'), (3, NULL) ON CONFLICT ("id") DO UPDATE SET "body" = EXCLUDED."body" WHERE ("notes"."body") IS DISTINCT FROM (EXCLUDED."body");)sql");
    CHECK(
        out[1] ==
        R"sql(INSERT INTO "public"."notes" ("id", "body") VALUES (4, 'd') ON CONFLICT ("id") DO UPDATE SET "body" = EXCLUDED."body" WHERE ("notes"."body") IS DISTINCT FROM (EXCLUDED."body");)sql");
    Stats stats = converter.stats();
    CHECK(stats.statements_read == 2);
    CHECK(stats.inserts_converted == 2);
    CHECK(stats.rows == 4);
    CHECK(stats.statements_skipped == 0);
}

TEST_CASE("a table whose columns are all key columns does nothing on conflict", "[upsert]") {
    std::string dump = "INSERT INTO public.tags VALUES (1, 'red'), (1, 'blue');";
    CHECK(
        to_postgres(dump) ==
        R"sql(INSERT INTO "public"."tags" ("item", "tag") VALUES (1, 'red'), (1, 'blue') ON CONFLICT ("item", "tag") DO NOTHING;)sql");
    Options options;
    options.source = Dialect::postgresql;
    CHECK(
        convert(dump, Dialect::sqlite, options) ==
        R"sql(INSERT INTO "public"."tags" ("item", "tag") VALUES (1, 'red'), (1, 'blue') ON CONFLICT ("item", "tag") DO NOTHING;)sql");
    // So does an INSERT that sets the key only.
    CHECK(to_postgres("INSERT INTO public.notes (id) VALUES (3);") ==
          R"sql(INSERT INTO "public"."notes" ("id") VALUES (3) ON CONFLICT ("id") DO NOTHING;)sql");
}

TEST_CASE("sqlite3 .dump: framing dropped, CREATE refused unless skipped", "[upsert]") {
    CHECK(sqlite_message_of(kSqliteDump) ==
          "statement \"CREATE TABLE t\" at line 3 is not allowed in a dump");

    Catalog catalog = shop();
    Options options;
    options.source = Dialect::sqlite;
    options.skip_other_statements = true;
    std::string out;
    UpsertConverter converter(
        Dialect::sqlite, catalog.lookup(), options,
        [&](std::string_view statement) { out += std::string(statement) + "\n"; });
    converter.feed(kSqliteDump);
    converter.finish();
    CHECK(
        out ==
        R"sql(INSERT INTO "t" ("a", "b", "c", "d", "e") VALUES (1, 'a', X'00ff', NULL, 1.5e3) ON CONFLICT ("a") DO UPDATE SET "b" = excluded."b", "c" = excluded."c", "d" = excluded."d", "e" = excluded."e" WHERE "t"."b" COLLATE BINARY IS NOT excluded."b" OR "t"."c" COLLATE BINARY IS NOT excluded."c" OR "t"."d" COLLATE BINARY IS NOT excluded."d" OR "t"."e" COLLATE BINARY IS NOT excluded."e";
INSERT INTO "t" ("a", "b", "c", "d", "e") VALUES (2, 'two
lines; -- still text', NULL, -3, 0.25) ON CONFLICT ("a") DO UPDATE SET "b" = excluded."b", "c" = excluded."c", "d" = excluded."d", "e" = excluded."e" WHERE "t"."b" COLLATE BINARY IS NOT excluded."b" OR "t"."c" COLLATE BINARY IS NOT excluded."c" OR "t"."d" COLLATE BINARY IS NOT excluded."d" OR "t"."e" COLLATE BINARY IS NOT excluded."e";
)sql");
    // The trigger's body, sqlite_sequence and the index are skipped, never
    // converted: the INSERT inside the trigger is not data.
    Stats stats = converter.stats();
    CHECK(stats.statements_read == 10);
    CHECK(stats.inserts_converted == 2);
    CHECK(stats.rows == 2);
    CHECK(stats.statements_skipped == 5);
}

TEST_CASE("a SQLite blob becomes bytea for PostgreSQL", "[upsert]") {
    Options options;
    options.source = Dialect::sqlite;
    CHECK_THAT(
        convert("INSERT INTO t VALUES(1,NULL,x'00FF',NULL,NULL);", Dialect::postgresql, options),
        Contains(R"(VALUES (1, NULL, E'\\x00FF', NULL, NULL))"));
    CHECK_THAT(sqlite_message_of("INSERT INTO t VALUES(1,NULL,X'0FF',NULL,NULL);"),
               Contains("invalid blob literal \"X'0FF'\" at line 1"));
}

TEST_CASE("sqlite3's escaped line breaks are decoded, not called", "[upsert]") {
    // What sqlite3 3.40 .dump writes for text holding \n and \r, and what
    // 3.50 writes with unistr().
    std::string dump =
        "INSERT INTO t VALUES(1,replace(replace('a\\nb\\rc','\\r',char(13)),'\\n',char(10)),"
        "NULL,NULL,NULL);\n"
        "INSERT INTO t VALUES(2,unistr('x\\u000ay\\\\z'),NULL,NULL,NULL);\n";
    std::string out = to_sqlite(dump);
    CHECK_THAT(out, Contains("VALUES (1, 'a\nb\rc', NULL, NULL, NULL)"));
    CHECK_THAT(out, Contains("VALUES (2, 'x\ny\\z', NULL, NULL, NULL)"));
    // Any other function, or another replacement, is still a function call.
    CHECK(sqlite_message_of("INSERT INTO t VALUES(1,replace('a','a',char(65)),NULL,NULL,NULL);") ==
          "unexpected \"65\" in dump values at line 1");
    CHECK(sqlite_message_of("INSERT INTO t VALUES(1,lower('A'),NULL,NULL,NULL);") ==
          "function call \"lower\" is not allowed in dump values at line 1");
}

TEST_CASE("names with spaces, quotes and non-ASCII letters are re-quoted", "[upsert]") {
    std::string dump =
        "INSERT INTO public.\"Order \"\"Lines\"\" ü\" (\"Line ID\", \"Qty\") VALUES (1, 2);";
    CHECK(
        to_postgres(dump) ==
        R"sql(INSERT INTO "public"."Order ""Lines"" ü" ("Line ID", "Qty") VALUES (1, 2) ON CONFLICT ("Line ID") DO UPDATE SET "Qty" = EXCLUDED."Qty" WHERE ("Order ""Lines"" ü"."Qty") IS DISTINCT FROM (EXCLUDED."Qty");)sql");
}

TEST_CASE("unquoted names fold to lower case in PostgreSQL, not in SQLite", "[upsert]") {
    Catalog catalog = shop();
    CHECK_THAT(convert_dump("INSERT INTO Public.NOTES (ID, Body) VALUES (1, 'x');",
                            Dialect::postgresql, catalog.lookup()),
               Contains(R"(INSERT INTO "public"."notes" ("id", "body"))"));
    CHECK(catalog.asked == std::vector<std::string>{"public.notes"});

    // SQLite passes names as written and compares columns case-insensitively,
    // writing the table's own spelling.
    Options options;
    options.source = Dialect::sqlite;
    catalog.asked.clear();
    CHECK_THAT(convert_dump("INSERT INTO Mixed (id, VAL) VALUES (1, 2);", Dialect::sqlite,
                            catalog.lookup(), options),
               Contains(R"(INSERT INTO "Mixed" ("Id", "Val") VALUES (1, 2) ON CONFLICT ("Id"))"));
    CHECK(catalog.asked == std::vector<std::string>{"Mixed"});
    // PostgreSQL names are exact.
    CHECK(message_of("INSERT INTO public.notes (\"ID\", body) VALUES (1, 'x');") ==
          "column \"ID\" of table \"public.notes\" does not exist at line 1");
}

TEST_CASE("the lookup may give the name to write", "[upsert]") {
    Catalog catalog = shop();
    catalog.tables["public.notes"].output_name = TableName{std::nullopt, "notes"};
    Options options;
    options.source = Dialect::postgresql;
    CHECK_THAT(convert_dump("INSERT INTO public.notes VALUES (1, 'x');", Dialect::sqlite,
                            catalog.lookup(), options),
               Contains(R"(INSERT INTO "notes" ("id", "body") VALUES (1, 'x'))"));
}

TEST_CASE("a table named excluded gets an alias", "[upsert]") {
    Catalog catalog;
    catalog.tables["excluded"] = {{"id", "v"}, {"id"}, {}};
    CHECK(
        convert_dump("INSERT INTO excluded VALUES (1, 2);", Dialect::postgresql,
                     catalog.lookup()) ==
        R"sql(INSERT INTO "excluded" AS "existing" ("id", "v") VALUES (1, 2) ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE ("existing"."v") IS DISTINCT FROM (EXCLUDED."v");)sql");
}

TEST_CASE("columns the lookup names are compared by their text", "[upsert]") {
    Catalog catalog;
    catalog.tables["docs"] = {{"id", "doc", "n"}, {"id"}, {}, false, {"doc"}};
    CHECK(
        convert_dump("INSERT INTO docs VALUES (1, '{}', 2);", Dialect::postgresql,
                     catalog.lookup()) ==
        R"sql(INSERT INTO "docs" ("id", "doc", "n") VALUES (1, '{}', 2) ON CONFLICT ("id") DO UPDATE SET "doc" = EXCLUDED."doc", "n" = EXCLUDED."n" WHERE ("docs"."doc"::text, "docs"."n") IS DISTINCT FROM (EXCLUDED."doc"::text, EXCLUDED."n");)sql");
    // SQLite compares values as they are stored.
    CHECK_THAT(
        convert_dump("INSERT INTO docs VALUES (1, '{}', 2);", Dialect::sqlite, catalog.lookup()),
        Catch::Matchers::Contains(
            R"sql(WHERE "docs"."doc" COLLATE BINARY IS NOT excluded."doc")sql"));
}

TEST_CASE("the lookup is asked once per table", "[upsert]") {
    Catalog catalog = shop();
    convert_dump(
        "INSERT INTO public.notes VALUES (1, 'a');\nINSERT INTO public.notes VALUES (2, 'b');\n"
        "INSERT INTO public.tags VALUES (1, 'x');\n",
        Dialect::postgresql, catalog.lookup());
    CHECK(catalog.asked == std::vector<std::string>{"public.notes", "public.tags"});
}

// ---------------------------------------------------------------------------
// Literals

TEST_CASE("E'' strings are decoded and written safely for each target", "[upsert]") {
    std::string dump =
        R"(INSERT INTO public.notes VALUES (1, E'it\'s a \\ backslash\n\x41\u00e9');)";
    // In PostgreSQL, text with a backslash is written as E'' with the
    // backslash doubled: it then reads the same with standard_conforming_strings
    // on or off.
    CHECK_THAT(to_postgres(dump), Contains(R"(VALUES (1, E'it''s a \\ backslash)"
                                           "\n"
                                           R"(Aé'))"));
    Options options;
    options.source = Dialect::postgresql;
    CHECK_THAT(convert(dump, Dialect::sqlite, options),
               Contains(R"(VALUES (1, 'it''s a \ backslash)"
                        "\n"
                        R"(Aé'))"));
    // A standard string ending in a backslash cannot end the literal early.
    CHECK_THAT(to_postgres(R"(INSERT INTO public.notes VALUES (2, 'a\');)"),
               Contains(R"(VALUES (2, E'a\\'))"));
}

TEST_CASE("strings may hold semicolons, comment marks, quotes and line breaks", "[upsert]") {
    std::string dump =
        "INSERT INTO public.notes VALUES (1, 'x''); DROP TABLE notes; --\n/* y */ $$ \"z\"');\n"
        "INSERT INTO public.notes VALUES (2, $q$dollar ' ; quoted$q$);\n";
    Catalog catalog = shop();
    std::vector<std::string> out;
    UpsertConverter converter(Dialect::postgresql, catalog.lookup(), {},
                              [&](std::string_view statement) { out.emplace_back(statement); });
    converter.feed(dump);
    converter.finish();
    REQUIRE(out.size() == 2);
    CHECK_THAT(out[0],
               Contains("VALUES (1, 'x''); DROP TABLE notes; --\n/* y */ $$ \"z\"') ON CONFLICT"));
    CHECK_THAT(out[1], Contains("VALUES (2, 'dollar '' ; quoted') ON CONFLICT"));
}

TEST_CASE("numbers keep their sign, NULL and booleans their meaning", "[upsert]") {
    CHECK_THAT(to_postgres("INSERT INTO public.casts VALUES (-1, +2, -3.5e-2, .5, NULL, true);"),
               Contains("VALUES (-1, 2, -3.5e-2, .5, NULL, TRUE) ON CONFLICT"));
    CHECK_THAT(to_postgres("INSERT INTO public.casts VALUES (- 1, 1e+10, 0, FALSE, null, 5.);"),
               Contains("VALUES (-1, 1e+10, 0, FALSE, NULL, 5.) ON CONFLICT"));
}

TEST_CASE("literals may be cast to a type name, and the casts are dropped", "[upsert]") {
    // A kept cast would run the code of a type of the target's (a domain's
    // CHECK, a cast function) with the rights of whoever applies the dump.
    std::string dump =
        "INSERT INTO public.casts VALUES (1, 'x'::\"char\", 'ab'::character varying(10), "
        "'{1,2}'::integer[], '1.5'::numeric(10, 2), "
        "'2024-01-01 00:00'::timestamp(3) with time zone);";
    CHECK_THAT(to_postgres(dump), Contains("VALUES (1, 'x', 'ab', '{1,2}', '1.5', "
                                           "'2024-01-01 00:00') ON CONFLICT"));
    CHECK_THAT(to_postgres("INSERT INTO public.casts VALUES (1, 'NaN'::double precision, "
                           "'1 day'::interval day to second(0), 'hello'::alice.d, "
                           "'{}'::text[][], 'x'::text::alice.c::text);"),
               Contains("VALUES (1, 'NaN', '1 day', 'hello', '{}', 'x') ON CONFLICT"));
    // SQLite has no '::'; the column's affinity does the cast.
    Options options;
    options.source = Dialect::postgresql;
    CHECK_THAT(convert(dump, Dialect::sqlite, options),
               Contains("VALUES (1, 'x', 'ab', '{1,2}', '1.5', '2024-01-01 00:00') ON CONFLICT"));
}

TEST_CASE("bit strings stay PostgreSQL's", "[upsert]") {
    CHECK_THAT(to_postgres("INSERT INTO public.notes VALUES (1, B'1010'), (2, X'1F');"),
               Contains("VALUES (1, B'1010'), (2, X'1F')"));
    Options options;
    options.source = Dialect::postgresql;
    CHECK_THAT(
        error_of("INSERT INTO public.notes VALUES (1, B'1010');", Dialect::sqlite, options).what(),
        Contains("bit string literal \"B'1010'\" at line 1 has no SQLite equivalent"));
    CHECK(message_of("INSERT INTO public.notes VALUES (1, B'102');") ==
          "invalid bit string literal \"B'102'\" at line 1");
}

TEST_CASE("pg_dump's DEFAULT for generated columns leaves the column out", "[upsert]") {
    CHECK(
        to_postgres(
            "INSERT INTO public.items VALUES (1, 'a', 2, DEFAULT), (2, 'b', 3, DEFAULT);") ==
        R"sql(INSERT INTO "public"."items" ("id", "name", "price") VALUES (1, 'a', 2), (2, 'b', 3) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price" WHERE ("items"."name", "items"."price") IS DISTINCT FROM (EXCLUDED."name", EXCLUDED."price");)sql");
    CHECK(message_of("INSERT INTO public.items VALUES (1, 'a', 2, DEFAULT), (2, 'b', 3, 4);") ==
          "column \"total\" is DEFAULT in some rows only at line 1");
    CHECK(message_of("INSERT INTO public.items VALUES (DEFAULT, 'a', 2, 3);") ==
          "key column \"id\" is DEFAULT at line 1");
}

// ---------------------------------------------------------------------------
// Streaming

TEST_CASE("feeding one byte at a time gives the same output as feeding it whole", "[upsert]") {
    std::string pg_dump = std::string(kPgDump) +
                          "INSERT INTO public.notes VALUES (1, E'\\'quoted\\' ü ; -- x'), "
                          "(2, $t$a;b$t$), (3, '/* not */');\n/* a\n /* nested */ comment; */\n"
                          "INSERT INTO public.\"Order \"\"Lines\"\" ü\" VALUES (1, -2);\n";
    std::string sqlite_dump = kSqliteDump;
    for (auto [dump, source] :
         {std::pair{pg_dump, Dialect::postgresql}, std::pair{sqlite_dump, Dialect::sqlite}}) {
        Options options;
        options.source = source;
        options.skip_other_statements = true;
        std::string whole = convert(dump, Dialect::postgresql, options);
        REQUIRE(!whole.empty());

        Catalog catalog = shop();
        std::string bytewise;
        UpsertConverter converter(Dialect::postgresql, catalog.lookup(), options,
                                  [&](std::string_view statement) {
                                      bytewise += (bytewise.empty() ? "" : "\n");
                                      bytewise += statement;
                                  });
        for (char c : dump)
            converter.feed(std::string_view(&c, 1));
        converter.finish();
        CHECK(bytewise == whole);

        // And in random pieces, some of them empty.
        std::mt19937 random(42);
        std::string pieces;
        UpsertConverter chunked(Dialect::postgresql, catalog.lookup(), options,
                                [&](std::string_view statement) {
                                    pieces += (pieces.empty() ? "" : "\n");
                                    pieces += statement;
                                });
        for (size_t pos = 0; pos < dump.size();) {
            size_t length = std::min<size_t>(random() % 17, dump.size() - pos);
            chunked.feed(std::string_view(dump).substr(pos, length));
            pos += length;
        }
        chunked.finish();
        CHECK(pieces == whole);
        CHECK(chunked.stats().rows == converter.stats().rows);
    }
}

TEST_CASE("the input must not end inside a statement or a string", "[upsert]") {
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'never closed);\n") ==
          "unterminated quoted string at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a');\nINSERT INTO public.notes\n") ==
          "input ends inside the statement that starts at line 2");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'); /* open\n") ==
          "unterminated /* comment at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, \"a);\n") ==
          "unterminated quoted identifier at line 1");
    // Blank space and comments after the last statement are fine.
    CHECK_NOTHROW(to_postgres("INSERT INTO public.notes VALUES (1, 'a');\n-- done\n\n"));
}

TEST_CASE("a converter stops for good at its first error", "[upsert]") {
    Catalog catalog = shop();
    UpsertConverter converter(Dialect::postgresql, catalog.lookup(), {}, [](std::string_view) {});
    CHECK_THROWS_AS(converter.feed("DROP TABLE public.notes;"), ferry::Error);
    CHECK_THROWS_WITH(converter.feed("INSERT INTO public.notes VALUES (1, 'a');"),
                      "upsert converter cannot continue after an error");
}

TEST_CASE("a statement longer than the limit is refused", "[upsert]") {
    Options options;
    options.max_statement_bytes = 64;
    ferry::Error error =
        error_of("INSERT INTO public.notes VALUES (1, 'a long text that never ends ...............",
                 Dialect::postgresql, options);
    CHECK(std::string(error.what()) == "statement at line 1 is longer than 64 bytes");
}

// ---------------------------------------------------------------------------
// What a dump must not contain

TEST_CASE("values must be literals", "[upsert]") {
    ferry::Error call = error_of("SET x = 1;\n\nINSERT INTO public.notes VALUES (1, now());");
    CHECK(std::string(call.what()) ==
          "function call \"now\" is not allowed in dump values at line 3");
    CHECK(call.kind() == ferry::ErrorKind::invalid_input);
    CHECK_THAT(call.detail(), Contains("must be literals"));
    CHECK(message_of("INSERT INTO public.notes VALUES (1, (SELECT 1));") ==
          "subquery \"(SELECT\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 1+1);") ==
          "operator \"+\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a' || 'b');") ==
          "operator \"||\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, - -1);") ==
          "operator \"-\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, -'1');") ==
          "operator \"-\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, body);") ==
          "name \"body\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, $1);") ==
          "parameter \"$1\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, (2));") ==
          "expression in parentheses \"(\" is not allowed in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES\n(1, 'a'),\n(2, /* hidden */ 'b');") ==
          "comment \"/* hidden */\" inside a statement at line 3");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a' -- trailing\n);") ==
          "comment \"-- trailing\" inside a statement at line 1");
}

TEST_CASE("a cast names a type, never an expression", "[upsert]") {
    // pg_terminate_backend(1234) after a boolean cast would be a call.
    CHECK(
        message_of("INSERT INTO public.notes VALUES (1, 't'::bool OR pg_terminate_backend(1));") ==
        "unexpected \"OR\" in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'::text COLLATE \"C\");") ==
          "unexpected \"COLLATE\" in dump values at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'::varchar(length('x')));") ==
          "unexpected \"length\" in type name at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'::(text));") ==
          "unexpected \"(\" in type name at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'::text[1+1]);") ==
          "unexpected \"+\" in type name at line 1");
}

TEST_CASE("statements other than data INSERTs are refused, or skipped and counted", "[upsert]") {
    ferry::Error error = error_of("INSERT INTO public.notes VALUES (1, 'a');\nDELETE FROM t;\n");
    CHECK(std::string(error.what()) ==
          "statement \"DELETE FROM t\" at line 2 is not allowed in a dump");
    CHECK_THAT(error.hint(), Contains("skip other statements"));
    CHECK(message_of("UPDATE public.notes SET body = 'x';") ==
          "statement \"UPDATE public.notes SET\" at line 1 is not allowed in a dump");
    CHECK(message_of("DROP TABLE public.notes;") ==
          "statement \"DROP TABLE public.notes\" at line 1 is not allowed in a dump");
    CHECK(message_of("SELECT pg_catalog.setval('public.notes_id_seq', 2, true);") ==
          "statement \"SELECT pg_catalog.setval\" at line 1 is not allowed in a dump");
    CHECK(message_of("SELECT pg_catalog.set_config('search_path', 'evil', false);") ==
          "statement \"SELECT pg_catalog.set_config\" at line 1 is not allowed in a dump");
    CHECK(message_of("PRAGMA writable_schema=ON;") ==
          "statement \"PRAGMA writable_schema=ON\" at line 1 is not allowed in a dump");
    CHECK(message_of("\\connect other\n") ==
          "statement \"\\connect other\" at line 1 is not allowed in a dump");
    CHECK(sqlite_message_of("INSERT INTO sqlite_sequence VALUES('t',2);") ==
          "statement \"INSERT INTO sqlite_sequence\" at line 1 is not allowed in a dump");

    // Skipped, a COPY takes its data lines with it: they are not SQL.
    std::string dump =
        "CREATE TABLE public.x (a int);\n"
        "COPY public.notes (id, body) FROM stdin;\n"
        "1\tINSERT INTO public.notes VALUES (9, 'smuggled');\n"
        "\\.\n"
        "SELECT pg_catalog.setval('public.notes_id_seq', 2, true);\n"
        "INSERT INTO public.notes VALUES (1, 'kept');\n";
    Catalog catalog = shop();
    Options options;
    options.skip_other_statements = true;
    std::string out;
    UpsertConverter converter(Dialect::postgresql, catalog.lookup(), options,
                              [&](std::string_view statement) { out += statement; });
    converter.feed(dump);
    converter.finish();
    CHECK_THAT(out, Contains("VALUES (1, 'kept')"));
    CHECK_THAT(out, !Contains("smuggled"));
    CHECK(converter.stats().statements_skipped == 3);
    CHECK(converter.stats().inserts_converted == 1);
}

TEST_CASE("INSERTs into the target's own tables are statements, not data", "[upsert]") {
    Catalog catalog = shop();
    TableColumns state;
    state.internal = true;  // e.g. ferry.consumers, which pg_dump --data-only writes
    catalog.tables["ferry.consumers"] = state;
    std::string dump =
        "INSERT INTO ferry.consumers VALUES ('site-1', '{}');\n"
        "INSERT INTO public.notes VALUES (1, 'kept');\n";
    try {
        convert_dump(dump, Dialect::postgresql, catalog.lookup());
        FAIL("an INSERT into an internal table was converted");
    } catch (const ferry::Error& error) {
        CHECK(std::string(error.what()) ==
              "statement \"INSERT INTO ferry.consumers\" at line 1 is not allowed in a dump");
    }
    Options options;
    options.skip_other_statements = true;
    std::string out = convert_dump(dump, Dialect::postgresql, catalog.lookup(), options);
    CHECK_THAT(out, Contains("VALUES (1, 'kept')"));
    CHECK_THAT(out, !Contains("site-1"));
}

TEST_CASE("INSERT forms with their own semantics are refused", "[upsert]") {
    CHECK(message_of("INSERT INTO public.notes SELECT 1, 'a';") ==
          "INSERT ... SELECT is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes (id, body) SELECT id, body FROM public.notes;") ==
          "INSERT ... SELECT is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes DEFAULT VALUES;") ==
          "INSERT ... DEFAULT VALUES is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a') ON CONFLICT DO NOTHING;") ==
          "INSERT ... ON CONFLICT is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a') RETURNING id;") ==
          "INSERT ... RETURNING is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes OVERRIDING USER VALUE VALUES (1, 'a');") ==
          "INSERT ... OVERRIDING USER VALUE is not supported at line 1");
    CHECK(sqlite_message_of("INSERT OR REPLACE INTO t VALUES(1,'a',NULL,NULL,NULL);") ==
          "INSERT OR REPLACE is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'); DELETE FROM public.notes;") ==
          "statement \"DELETE FROM public.notes\" at line 1 is not allowed in a dump");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a')\nINSERT INTO public.notes VALUES "
                     "(2, 'b');") == "syntax error at or near \"INSERT\" at line 2");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'a'; DELETE FROM public.notes);") ==
          "unexpected \";\" in dump values at line 1");
}

TEST_CASE("tables and columns must exist on the target and have a key", "[upsert]") {
    ferry::Error unknown = error_of("\nINSERT INTO public.nowhere VALUES (1);");
    CHECK(std::string(unknown.what()) == "table \"public.nowhere\" does not exist at line 2");
    CHECK(unknown.kind() == ferry::ErrorKind::not_found);

    ferry::Error keyless = error_of("INSERT INTO public.loose VALUES (1, 2);");
    CHECK(std::string(keyless.what()) == "table \"public.loose\" has no primary key at line 1");
    CHECK(keyless.kind() == ferry::ErrorKind::unsupported);

    CHECK(message_of("INSERT INTO public.notes (id, colour) VALUES (1, 'red');") ==
          "column \"colour\" of table \"public.notes\" does not exist at line 1");
    CHECK(message_of("INSERT INTO public.notes (body) VALUES ('a');") ==
          "INSERT into \"public.notes\" at line 1 does not set key column \"id\"");
    CHECK(message_of("INSERT INTO public.notes (id, id) VALUES (1, 2);") ==
          "column \"id\" named more than once at line 1");
}

TEST_CASE("rows must have one value per column", "[upsert]") {
    ferry::Error few = error_of("INSERT INTO public.items VALUES (1, 'pen', 2);");
    CHECK(std::string(few.what()) == "wrong number of values for table \"public.items\" at line 1");
    CHECK(few.detail() == "The row has 3 values; the table has 4 columns.");
    CHECK(message_of("INSERT INTO public.notes VALUES\n(1, 'a'),\n(2, 'b', 3);") ==
          "wrong number of values for table \"public.notes\" at line 3");
    CHECK(error_of("INSERT INTO public.notes (id) VALUES (1, 'a');").detail() ==
          "The row has 2 values; the INSERT names 1 column.");
}

TEST_CASE("a dump in another encoding or string syntax is refused", "[upsert]") {
    ferry::Error encoding = error_of("SET client_encoding = 'LATIN1';\n");
    CHECK(std::string(encoding.what()) == "dump encoding \"LATIN1\" is not supported at line 1");
    CHECK(encoding.hint() == "Dump with pg_dump --encoding=UTF8.");
    CHECK(message_of("SET standard_conforming_strings = off;\n") ==
          "standard_conforming_strings = off is not supported at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, 'caf\xe9');") ==
          "invalid UTF-8 or NUL character at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, E'a\\xff');") ==
          "invalid UTF-8 or NUL character at line 1");
    CHECK(message_of("INSERT INTO public.notes VALUES (1, E'a\\u0000');") ==
          "invalid Unicode escape in string at line 1");
    const char with_nul[] = "INSERT INTO public.notes VALUES (1, 'a\0b');";
    CHECK(message_of(std::string(with_nul, sizeof with_nul - 1)) ==
          "invalid UTF-8 or NUL character at line 1");
}

TEST_CASE("a PostgreSQL bytea in hex becomes a SQLite blob", "[upsert]") {
    Options options;
    options.source = Dialect::postgresql;
    std::string out = convert(
        "INSERT INTO public.notes (id, body) VALUES (1, '\\x00ff'::bytea), (2, 'plain'::text), "
        "(3, '\\xzz'::bytea);",
        Dialect::sqlite, options);
    CHECK(out.find("(1, X'00ff')") != std::string::npos);
    CHECK(out.find("(2, 'plain')") != std::string::npos);
    // Not hex: left as the text it is, for the column's affinity.
    CHECK(out.find("(3, '\\xzz')") != std::string::npos);
    // For PostgreSQL the cast goes too: the bytea column reads the hex text.
    CHECK(convert("INSERT INTO public.notes (id, body) VALUES (1, '\\x00ff'::bytea);",
                  Dialect::postgresql)
              .find("(1, E'\\\\x00ff') ON CONFLICT") != std::string::npos);
}
