// Fuzz harness for core/upsert: the UpsertConverter on arbitrary bytes, for
// each pair of source and target dialect, against a target that has a few
// fixed tables (quoted and non-ASCII names, a composite key, a key-only
// table, one renamed by the lookup, one named excluded, one without a key,
// one of the target's own).
//
// Invariants (docs/fuzzing.md):
// - only ferry::Error escapes, and a converter that failed or finished
//   refuses to be fed again;
// - the same statements, the same error and the same counts whether the
//   dump comes whole or in chunks cut anywhere;
// - skip_other_statements only drops statements: without it the output is a
//   prefix of the output with it, and all of it when nothing was skipped;
// - the lookup is asked once per table; the counts match what was emitted;
// - every output statement is UTF-8 without NUL and reads back, in the
//   target's rules, as exactly one statement made of names, literals and
//   the converter's own keywords (no cast: a dump's are dropped): nothing else of the
//   input reaches the output;
// - converting an output statement again is refused, always with the same
//   error (it is an INSERT ... ON CONFLICT); without its ON CONFLICT clause
//   it converts to itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/error.hpp"
#include "ferry/sql_lexer.hpp"
#include "ferry/upsert.hpp"
#include "fuzz_support.hpp"

namespace {

using ferry::ErrorKind;
using ferry::fuzz::Outcome;
using ferry::fuzz::run_recording_errors;
using ferry::sql::Dialect;
using ferry::sql::Lexer;
using ferry::sql::Statement;
using ferry::sql::StatementSplitter;
using ferry::sql::Token;
using ferry::sql::TokenKind;
using ferry::upsert::Options;
using ferry::upsert::Stats;
using ferry::upsert::TableColumns;
using ferry::upsert::TableLookup;
using ferry::upsert::TableName;
using ferry::upsert::UpsertConverter;

const char* name_of(Dialect dialect) {
    return dialect == Dialect::postgresql ? "postgresql" : "sqlite";
}

std::string fold(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
}

// ---------------------------------------------------------------------------
// The target's tables, by (schema or "", name). sql.dict lists their names.

using TableKey = std::pair<std::string, std::string>;

TableColumns table(std::vector<std::string> columns, std::vector<std::string> key_columns,
                   std::optional<TableName> output_name = std::nullopt, bool internal = false) {
    TableColumns table;
    table.columns = std::move(columns);
    table.key_columns = std::move(key_columns);
    table.output_name = std::move(output_name);
    table.internal = internal;
    return table;
}

const std::map<TableKey, TableColumns>& target_tables() {
    static const std::map<TableKey, TableColumns> tables = {
        {{"public", "items"}, table({"id", "name", "price", "total"}, {"id"})},
        {{"", "items"}, table({"id", "name", "price", "total"}, {"id"})},
        {{"public", "tags"}, table({"item", "tag"}, {"item", "tag"})},
        {{"public", "order_lines"},
         table({"order_id", "line_no", "qty", "note"}, {"order_id", "line_no"})},
        {{"public", "Order \"Lines\" \xc3\xbc"},
         table({"Line ID", "Qty", "\xc3\x9cn\xc3\xaf code \xe2\x9c\x93"}, {"Line ID"})},
        {{"", "Mixed"}, table({"Id", "Val"}, {"Id"})},
        {{"", "excluded"}, table({"id", "v"}, {"id"})},
        {{"public", "remote"}, table({"id", "v"}, {"id"}, TableName{std::nullopt, "local"})},
        {{"", "local"}, table({"id", "v"}, {"id"})},
        {{"public", "loose"}, table({"id", "v"}, {})},
        {{"ferry", "consumers"}, table({}, {}, std::nullopt, true)},
    };
    return tables;
}

// SQLite compares names case-insensitively, so a SQLite target's lookup
// does too; PostgreSQL's compares them exactly.
std::optional<TableColumns> find_table(const TableName& name, Dialect target) {
    TableKey wanted{name.schema.value_or(""), name.name};
    for (const auto& [key, columns] : target_tables()) {
        bool same = target == Dialect::sqlite ? fold(key.first) == fold(wanted.first) &&
                                                    fold(key.second) == fold(wanted.second)
                                              : key == wanted;
        if (same)
            return columns;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Running the converter.

struct Run {
    Dialect source;
    Dialect target;
    bool skip_other_statements;
};

struct Result {
    Outcome outcome;
    Stats stats;
};

bool same_stats(const Stats& a, const Stats& b) {
    return a.statements_read == b.statements_read && a.inserts_converted == b.inserts_converted &&
           a.rows == b.rows && a.statements_skipped == b.statements_skipped;
}

std::string describe(const Run& run) {
    return std::string("from ") + name_of(run.source) + " to " + name_of(run.target) +
           (run.skip_other_statements ? ", skipping other statements" : "");
}

// Converts `input`, whole or in `chunks`, and checks what holds of any run.
Result convert(std::string_view input, const Run& run,
               const std::vector<std::string_view>* chunks = nullptr) {
    Result result;
    std::set<TableKey> asked;
    TableLookup lookup = [&](const TableName& name) {
        bool first = asked.insert({name.schema.value_or(""), name.name}).second;
        FUZZ_REQUIRE(first, "the lookup is asked once per table", name.name);
        return find_table(name, run.target);
    };
    Options options;
    options.source = run.source;
    options.skip_other_statements = run.skip_other_statements;
    UpsertConverter converter(run.target, lookup, options, [&](std::string_view statement) {
        result.outcome.statements.emplace_back(statement);
    });
    run_recording_errors(result.outcome, [&] {
        if (chunks) {
            for (std::string_view chunk : *chunks)
                converter.feed(chunk);
        } else {
            converter.feed(input);
        }
        converter.finish();
    });
    result.stats = converter.stats();

    // Failed or finished, the converter takes nothing more.
    Outcome again;
    run_recording_errors(again, [&] { converter.feed(";"); });
    FUZZ_REQUIRE(again.failed && again.kind == ErrorKind::conflict && again.statements.empty(),
                 "a converter that failed or finished refuses more input", again.describe());

    const Stats& stats = result.stats;
    FUZZ_REQUIRE(stats.inserts_converted == result.outcome.statements.size(),
                 "inserts_converted counts the statements emitted", describe(run));
    FUZZ_REQUIRE(stats.rows >= stats.inserts_converted, "every INSERT has a row", describe(run));
    FUZZ_REQUIRE(stats.statements_read >= stats.inserts_converted + stats.statements_skipped,
                 "statements_read counts every statement", describe(run));
    FUZZ_REQUIRE(run.skip_other_statements || stats.statements_skipped == 0,
                 "nothing is skipped unless asked", describe(run));
    return result;
}

// ---------------------------------------------------------------------------
// What an output statement may be.

// Length of the UTF-8 character at text[pos] other than NUL, or 0; written
// here from the standard's table so as not to trust the converter's own.
size_t utf8_length(std::string_view text, size_t pos) {
    auto byte = [&](size_t i) -> unsigned {
        return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i]) : 0u;
    };
    unsigned b0 = byte(0);
    if (b0 >= 0x01 && b0 <= 0x7f)
        return 1;
    auto continuation = [&](size_t i, unsigned low = 0x80, unsigned high = 0xbf) {
        return byte(i) >= low && byte(i) <= high;
    };
    if (b0 >= 0xc2 && b0 <= 0xdf)
        return continuation(1) ? 2 : 0;
    if (b0 >= 0xe0 && b0 <= 0xef) {
        unsigned low = b0 == 0xe0 ? 0xa0 : 0x80, high = b0 == 0xed ? 0x9f : 0xbf;
        return continuation(1, low, high) && continuation(2) ? 3 : 0;
    }
    if (b0 >= 0xf0 && b0 <= 0xf4) {
        unsigned low = b0 == 0xf0 ? 0x90 : 0x80, high = b0 == 0xf4 ? 0x8f : 0xbf;
        return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
    }
    return 0;
}

bool is_utf8_without_nul(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        size_t length = utf8_length(text, pos);
        if (length == 0)
            return false;
        pos += length;
    }
    return true;
}

bool is_converter_keyword(std::string_view word) {
    static const std::set<std::string_view> keywords = {
        "INSERT", "INTO",     "AS",       "OVERRIDING", "SYSTEM", "VALUE", "VALUES",
        "ON",     "CONFLICT", "DO",       "NOTHING",    "UPDATE", "SET",   "WHERE",
        "IS",     "DISTINCT", "FROM",     "NOT",        "OR",     "NULL",  "TRUE",
        "FALSE",  "EXCLUDED", "excluded", "COLLATE",    "BINARY",
    };
    return keywords.count(word) != 0;
}

// Reads `statement` in the target's rules and checks every token: the only
// words are the converter's keywords, and there is no cast. Returns whether the table carries the
// AS "existing" alias a table named excluded gets.
bool check_tokens(const std::string& statement, Dialect target) {
    bool postgres = target == Dialect::postgresql;
    std::vector<Token> tokens;
    Outcome lexed;
    run_recording_errors(lexed, [&] {
        Lexer lexer(statement, target);
        for (Token token = lexer.next(); token.kind != TokenKind::end; token = lexer.next())
            tokens.push_back(token);
    });
    FUZZ_REQUIRE(!lexed.failed, "an output statement lexes in the target's rules",
                 statement + " -> " + lexed.message);
    FUZZ_REQUIRE(tokens.size() >= 3 && tokens[0].text == "INSERT" && tokens[1].text == "INTO",
                 "an output statement is an INSERT INTO", statement);
    bool aliased = false;
    bool in_head = true;  // before the column list
    for (size_t i = 0; i < tokens.size(); i++) {
        const Token& token = tokens[i];
        bool last = i + 1 == tokens.size();
        FUZZ_REQUIRE(token.is(";") == last, "an output statement has one ';', at its end",
                     statement);
        if (in_head && token.is("("))
            in_head = false;
        if (in_head && token.kind == TokenKind::word && token.text == "AS")
            aliased = true;
        FUZZ_REQUIRE(!token.is("::"), "the output has no casts (a dump's are dropped)", statement);
        switch (token.kind) {
            case TokenKind::word:
                FUZZ_REQUIRE(is_converter_keyword(token.text),
                             "words in the output are the converter's own", statement);
                break;
            case TokenKind::escape_string:
            case TokenKind::bit_string:
                FUZZ_REQUIRE(postgres, "E'' and B'' strings are written for PostgreSQL only",
                             statement);
                break;
            case TokenKind::quoted_identifier:
            case TokenKind::string:
            case TokenKind::hex_string:
            case TokenKind::number:
            case TokenKind::punctuation:
                break;
            case TokenKind::op:
                FUZZ_REQUIRE(token.text == "=" || token.text == "-",
                             "the only operators in the output are = and a sign", statement);
                break;
            default:
                FUZZ_REQUIRE(false, "no comment, parameter or dollar quote in the output",
                             statement);
        }
    }
    return aliased;
}

void check_output_statement(const std::string& statement, Dialect target) {
    FUZZ_REQUIRE(is_utf8_without_nul(statement), "an output statement is UTF-8 without NUL",
                 statement);
    bool aliased = check_tokens(statement, target);

    // The splitter of the target agrees that this is one statement.
    std::vector<std::string> split;
    Outcome splitting;
    run_recording_errors(splitting, [&] {
        StatementSplitter splitter(
            target, [&](const Statement& piece) { split.emplace_back(piece.text); },
            size_t{1} << 30);
        splitter.feed(statement);
        splitter.finish();
    });
    FUZZ_REQUIRE(!splitting.failed && split == std::vector<std::string>{statement},
                 "an output statement splits as exactly itself", statement);

    // Fed back in, it is refused: the converter writes ON CONFLICT itself.
    Run back{target, target, false};
    Result refused = convert(statement, back);
    Result refused_again = convert(statement, back);
    FUZZ_REQUIRE(refused.outcome == refused_again.outcome, "converting output again is repeatable",
                 statement);
    std::string expected = aliased ? "syntax error at or near \"AS\" at line 1"
                                   : "INSERT ... ON CONFLICT is not supported at line 1";
    FUZZ_REQUIRE(refused.outcome.failed && refused.outcome.kind == ErrorKind::invalid_input &&
                     refused.outcome.message == expected && refused.outcome.statements.empty(),
                 "an output statement converted again is refused for its ON CONFLICT",
                 statement + " -> " + refused.outcome.describe());

    // Without its conflict clause (and the alias, which the converter adds
    // itself) it converts to itself. Names in target_tables() never contain
    // " ON CONFLICT (" or " AS ", so the last and the first are the
    // converter's.
    std::string plain = statement.substr(0, statement.rfind(" ON CONFLICT (")) + ";";
    const std::string alias = " AS \"existing\"";
    if (aliased)
        plain.erase(plain.find(alias), alias.size());
    Result again = convert(plain, back);
    FUZZ_REQUIRE(!again.outcome.failed && again.outcome.statements == std::vector{statement},
                 "an output statement without its ON CONFLICT converts to itself",
                 plain + " -> " + again.outcome.describe() + ": " +
                     (again.outcome.statements.empty() ? "" : again.outcome.statements[0]));
}

void check_pair(std::string_view input, Dialect source, Dialect target,
                const std::vector<std::string_view>& chunks) {
    Run skipping{source, target, true};
    Result whole = convert(input, skipping);
    Result pieces = convert(input, skipping, &chunks);
    FUZZ_REQUIRE(whole.outcome == pieces.outcome && same_stats(whole.stats, pieces.stats),
                 "the converter does not depend on how the input is cut",
                 describe(skipping) + ": whole: " + whole.outcome.describe() +
                     "; in chunks: " + pieces.outcome.describe());

    Run strict{source, target, false};
    Result refusing = convert(input, strict);
    const auto& all = whole.outcome.statements;
    const auto& some = refusing.outcome.statements;
    FUZZ_REQUIRE(some.size() <= all.size() && std::equal(some.begin(), some.end(), all.begin()),
                 "without skipping, the output is a prefix of the output with it",
                 describe(strict));
    FUZZ_REQUIRE(refusing.outcome.failed ||
                     (whole.outcome == refusing.outcome && whole.stats.statements_skipped == 0),
                 "without skipping, a dump that converts converts the same", describe(strict));

    for (const std::string& statement : all)
        check_output_statement(statement, target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> chunks = ferry::fuzz::cut_into_chunks(input);
    for (Dialect source : {Dialect::postgresql, Dialect::sqlite}) {
        for (Dialect target : {Dialect::postgresql, Dialect::sqlite})
            check_pair(input, source, target, chunks);
    }
    return 0;
}
