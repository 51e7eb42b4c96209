// Splitting and tokenizing untrusted SQL: where statements end, what each
// token is, and what quoted text stands for, in both engines' rules.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "ferry/error.hpp"
#include "ferry/sql_lexer.hpp"

using namespace ferry::sql;

namespace {

std::vector<std::pair<TokenKind, std::string>> tokens_of(std::string_view text,
                                                         Dialect dialect = Dialect::postgresql) {
    std::vector<std::pair<TokenKind, std::string>> out;
    Lexer lexer(text, dialect);
    for (Token token = lexer.next(); token.kind != TokenKind::end; token = lexer.next())
        out.emplace_back(token.kind, std::string(token.text));
    return out;
}

struct Split {
    std::vector<std::string> texts;
    std::vector<size_t> lines;
    std::vector<Statement::Kind> kinds;
};

// Splits `input`, fed whole and then one byte at a time; both must agree.
Split split(std::string_view input, Dialect dialect = Dialect::postgresql) {
    Split whole, bytes;
    auto collect = [](Split& into) {
        return [&into](const Statement& statement) {
            into.texts.emplace_back(statement.text);
            into.lines.push_back(statement.line);
            into.kinds.push_back(statement.kind);
        };
    };
    StatementSplitter at_once(dialect, collect(whole), 1 << 20);
    at_once.feed(input);
    at_once.finish();
    StatementSplitter bytewise(dialect, collect(bytes), 1 << 20);
    for (char c : input)
        bytewise.feed(std::string_view(&c, 1));
    bytewise.finish();
    CHECK(bytes.texts == whole.texts);
    CHECK(bytes.lines == whole.lines);
    return whole;
}

Token single_token(std::string_view text, Dialect dialect = Dialect::postgresql) {
    Lexer lexer(text, dialect);
    return lexer.next();
}

}  // namespace

TEST_CASE("the lexer tells each kind of token apart", "[sql_lexer][upsert]") {
    using K = TokenKind;
    CHECK(tokens_of("INSERT \"A\"\"b\" 'it''s' E'\\'' X'0f' B'01' $t$a;b$t$ 1.5e-3 $1 "
                    "a.b::int[] <> -- c\n/* d /* nested */ */;") ==
          std::vector<std::pair<K, std::string>>{
              {K::word, "INSERT"},
              {K::quoted_identifier, "\"A\"\"b\""},
              {K::string, "'it''s'"},
              {K::escape_string, "E'\\''"},
              {K::hex_string, "X'0f'"},
              {K::bit_string, "B'01'"},
              {K::dollar_string, "$t$a;b$t$"},
              {K::number, "1.5e-3"},
              {K::parameter, "$1"},
              {K::word, "a"},
              {K::punctuation, "."},
              {K::word, "b"},
              {K::punctuation, "::"},
              {K::word, "int"},
              {K::punctuation, "["},
              {K::punctuation, "]"},
              {K::op, "<>"},
              {K::comment, "-- c"},
              {K::comment, "/* d /* nested */ */"},
              {K::punctuation, ";"},
          });
    // SQLite: no E'' strings, nested comments or dollar quotes; [name] and `name`.
    CHECK(tokens_of("E'\\' [a b] `c``d` /* x /* */ :name ?2", Dialect::sqlite) ==
          std::vector<std::pair<K, std::string>>{
              {K::word, "E"},
              {K::string, "'\\'"},
              {K::quoted_identifier, "[a b]"},
              {K::quoted_identifier, "`c``d`"},
              {K::comment, "/* x /* */"},
              {K::parameter, ":name"},
              {K::parameter, "?2"},
          });
}

TEST_CASE("tokens know their line", "[sql_lexer][upsert]") {
    Lexer lexer("a\n'b\nc'\n  d", Dialect::postgresql, 10);
    CHECK(lexer.next().line == 10);
    CHECK(lexer.next().line == 11);
    CHECK(lexer.next().line == 13);
}

TEST_CASE("the lexer refuses what is not a token", "[sql_lexer][upsert]") {
    CHECK_THROWS_WITH(tokens_of("a\n'open"), "unterminated quoted string at line 2");
    CHECK_THROWS_WITH(tokens_of("\"open"), "unterminated quoted identifier at line 1");
    CHECK_THROWS_WITH(tokens_of("$x$ body"), "unterminated dollar-quoted string at line 1");
    CHECK_THROWS_WITH(tokens_of("/* /* */"), "unterminated /* comment at line 1");
    CHECK_THROWS_WITH(tokens_of("12abc"), "trailing junk after numeric literal \"12a\" at line 1");
    CHECK_THROWS_WITH(tokens_of("0x1F"), "trailing junk after numeric literal \"0x\" at line 1");
    CHECK_THROWS_WITH(tokens_of("a \\ b"), "unexpected character \"\\\" at line 1");
    CHECK_THROWS_WITH(tokens_of(std::string("a\0", 2)), "unexpected character byte 0x00 at line 1");
}

TEST_CASE("identifiers fold in PostgreSQL and keep their case in SQLite", "[sql_lexer][upsert]") {
    CHECK(identifier_value(single_token("MyTable"), Dialect::postgresql) == "mytable");
    CHECK(identifier_value(single_token("MyTable", Dialect::sqlite), Dialect::sqlite) == "MyTable");
    CHECK(identifier_value(single_token("\"My \"\"T\"\" ü\""), Dialect::postgresql) ==
          "My \"T\" ü");
    CHECK(identifier_value(single_token("[a \"b\"]", Dialect::sqlite), Dialect::sqlite) ==
          "a \"b\"");
    CHECK(identifier_value(single_token("`a``b`", Dialect::sqlite), Dialect::sqlite) == "a`b");
    CHECK_THROWS_WITH(identifier_value(single_token("\"\""), Dialect::postgresql),
                      "zero-length delimited identifier at line 1");
}

TEST_CASE("string values are unquoted and E'' escapes decoded", "[sql_lexer][upsert]") {
    CHECK(string_value(single_token("'it''s\\n'")) == "it's\\n");
    CHECK(string_value(single_token("E'it''s \\'q\\' \\\\ \\n\\t\\101\\x41\\u00e9\\z'")) ==
          "it's 'q' \\ \n\tAAéz");
    CHECK(string_value(single_token("E'\\U0001F600 \\uD83D\\uDE00'")) ==
          "\xF0\x9F\x98\x80 \xF0\x9F\x98\x80");
    CHECK(string_value(single_token("X'00ff'")) == "00ff");
    CHECK_THROWS_WITH(string_value(single_token("E'\\uD83D'")),
                      "invalid Unicode escape in string at line 1");
    CHECK_THROWS_WITH(string_value(single_token("E'\\u00'")),
                      "invalid Unicode escape in string at line 1");
}

TEST_CASE("statements end at semicolons outside quotes, comments and bodies",
          "[sql_lexer][upsert]") {
    Split result = split(
        "-- leading; comment\n"
        "SELECT 'a;b', \"c;d\", E'\\';', $f$;$f$;  /* between; */\n"
        "INSERT INTO t VALUES (1, ';'),\n  (2, 'x');\n"
        "SELECT (1;2);\n"
        "\\restrict abc\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN "
        "true THEN 2 END; END;\n"
        "/* a /* nested; */ still; */ ;\n");
    CHECK(result.texts == std::vector<std::string>{
                              "SELECT 'a;b', \"c;d\", E'\\';', $f$;$f$;",
                              "INSERT INTO t VALUES (1, ';'),\n  (2, 'x');",
                              "SELECT (1;2);",
                              "\\restrict abc",
                              "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT "
                              "1; SELECT CASE WHEN true THEN 2 END; END;",
                              ";",
                          });
    CHECK(result.lines == std::vector<size_t>{2, 3, 5, 6, 7, 8});
    CHECK(result.kinds[3] == Statement::Kind::meta_command);
    CHECK(result.kinds[4] == Statement::Kind::sql);
}

TEST_CASE("SQLite's own quoting and trigger bodies", "[sql_lexer][upsert]") {
    Split result = split(
        "CREATE TABLE [a;b] (`c;d` TEXT);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (new.a); "
        "UPDATE t SET b = 'y;' WHERE a = 0; END;\n"
        "/* not /* nested */ SELECT E'\\';\n",
        Dialect::sqlite);
    CHECK(result.texts == std::vector<std::string>{
                              "CREATE TABLE [a;b] (`c;d` TEXT);",
                              "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES "
                              "(new.a); UPDATE t SET b = 'y;' WHERE a = 0; END;",
                              "SELECT E'\\';",
                          });
}

// The statements of `input`, skipping the data of each COPY as the upsert
// converter does.
static std::vector<std::string> split_skipping_copy_data(std::string_view input) {
    std::vector<std::string> texts;
    StatementSplitter* self = nullptr;
    StatementSplitter splitter(
        Dialect::postgresql,
        [&](const Statement& statement) {
            texts.emplace_back(statement.text);
            if (statement.text.substr(0, 4) == "COPY")
                self->skip_copy_data();
        },
        1 << 20);
    self = &splitter;
    splitter.feed(input);
    splitter.finish();
    return texts;
}

TEST_CASE("COPY data can be skipped up to its end marker", "[sql_lexer][upsert]") {
    CHECK(split_skipping_copy_data("COPY t (a) FROM stdin;\n1\t'; DROP\n\\.\nSELECT 1;\n") ==
          std::vector<std::string>{"COPY t (a) FROM stdin;", "SELECT 1;"});
    // A data line that only starts like the marker does not end the data,
    // as it does not for psql.
    CHECK(split_skipping_copy_data(
              "COPY t (a) FROM stdin;\n\\.\rDROP TABLE t;\n\\.\r\nSELECT 2;\n") ==
          std::vector<std::string>{"COPY t (a) FROM stdin;", "SELECT 2;"});
}

TEST_CASE("the splitter refuses unfinished input and oversized statements", "[sql_lexer][upsert]") {
    auto finish = [](std::string_view input) {
        StatementSplitter splitter(
            Dialect::postgresql, [](const Statement&) {}, 1 << 20);
        splitter.feed(input);
        splitter.finish();
    };
    CHECK_THROWS_WITH(finish("SELECT 1;\nSELECT\n'x\n"), "unterminated quoted string at line 3");
    CHECK_THROWS_WITH(finish("SELECT $a$ x"), "unterminated dollar-quoted string at line 1");
    CHECK_THROWS_WITH(finish("SELECT 1"), "input ends inside the statement that starts at line 1");
    CHECK_THROWS_WITH(finish("\n-"), "input ends inside a statement at line 2");
    CHECK_NOTHROW(finish("SELECT 1; -- done"));

    StatementSplitter small(
        Dialect::postgresql, [](const Statement&) {}, 10);
    CHECK_NOTHROW(small.feed("SELECT 1;\n"));
    CHECK_THROWS_WITH(small.feed("SELECT 'long'"), "statement at line 2 is longer than 10 bytes");
}
