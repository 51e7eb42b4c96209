// Fuzz harness for core/sql_lexer: the StatementSplitter and the Lexer on
// arbitrary bytes, read in PostgreSQL's and in SQLite's rules.
//
// Invariants (docs/fuzzing.md), each checked in both dialects:
// - only ferry::Error escapes;
// - the splitter finds the same statements (text, kind, line) and ends with
//   the same error whether the input comes whole, in chunks cut anywhere or
//   one byte at a time, with the normal statement limit and with a tiny one;
// - every statement is the input's own text, in input order, carrying the
//   line it starts on: SQL that ends in its ';', or a meta-command, one line
//   starting with a backslash; between statements lie only white space and
//   comments, as the lexer reads them too (or the data of a COPY);
// - a statement's text, split again on its own, is exactly that statement;
// - where the lexer reads a statement at all, its tokens start at the first
//   byte, have only white space between them and end with the ';' that ended
//   the statement: the two readers agree where quotes and comments are;
// - the lexer's tokens, over any text, are non-empty pieces of it in order,
//   each carrying the line it starts on; their values are never longer than
//   the tokens.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/error.hpp"
#include "ferry/sql_lexer.hpp"
#include "fuzz_support.hpp"

namespace {

using ferry::fuzz::Outcome;
using ferry::fuzz::run_recording_errors;
using ferry::sql::Dialect;
using ferry::sql::Lexer;
using ferry::sql::Statement;
using ferry::sql::StatementSplitter;
using ferry::sql::Token;
using ferry::sql::TokenKind;

constexpr size_t kNormalLimit = size_t{1} << 20;
constexpr size_t kTinyLimit = 48;  // most inputs reach it somewhere

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// A COPY statement, whose data lines the handler skips, as the upsert
// converter does for COPY ... FROM stdin.
bool is_copy(const Statement& statement) {
    std::string_view text = statement.text;
    if (statement.kind != Statement::Kind::sql || text.size() < 5)
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (ascii_lower(text[i]) != "copy"[i])
            return false;
    }
    return is_space(text[4]);
}

std::string describe(const Statement& statement) {
    return std::string(statement.kind == Statement::Kind::sql ? "sql " : "meta ") +
           std::to_string(statement.line) + ": " + std::string(statement.text);
}

// Lexes `text` to its end, checking the tokens; returns them, or throws the
// lexer's Error. Tokens point into `text`.
std::vector<Token> checked_tokens(std::string_view text, Dialect dialect) {
    Lexer lexer(text, dialect);
    std::vector<Token> tokens;
    size_t covered = 0;   // end of the previous token
    size_t newlines = 0;  // in text[0, covered)
    while (true) {
        Token token = lexer.next();
        FUZZ_REQUIRE(token.text.data() >= text.data() &&
                         token.text.data() + token.text.size() <= text.data() + text.size(),
                     "a token is a piece of the text it was read from", "");
        size_t offset = static_cast<size_t>(token.text.data() - text.data());
        FUZZ_REQUIRE(offset >= covered, "tokens come in text order without overlapping", "");
        for (size_t i = covered; i < offset; i++) {
            FUZZ_REQUIRE(is_space(text[i]), "only white space lies between tokens",
                         std::string(text.substr(covered, offset - covered)));
            newlines += text[i] == '\n';
        }
        FUZZ_REQUIRE(token.line == 1 + newlines, "a token carries the line it starts on", "");
        if (token.kind == TokenKind::end) {
            FUZZ_REQUIRE(offset == text.size(), "the end token comes at the end of the text", "");
            FUZZ_REQUIRE(lexer.next().kind == TokenKind::end, "the lexer keeps returning end", "");
            return tokens;
        }
        FUZZ_REQUIRE(!token.text.empty(), "tokens other than end are not empty", "");
        for (char c : token.text)
            newlines += c == '\n';
        covered = offset + token.text.size();
        tokens.push_back(token);

        // Values may be refused (an empty name, a bad escape), but only with
        // an Error, and decoding never makes text longer.
        Outcome value;
        run_recording_errors(value, [&] {
            std::string decoded;
            if (token.kind == TokenKind::word || token.kind == TokenKind::quoted_identifier)
                decoded = ferry::sql::identifier_value(token, dialect);
            else if (token.kind == TokenKind::string || token.kind == TokenKind::escape_string ||
                     token.kind == TokenKind::hex_string || token.kind == TokenKind::bit_string)
                decoded = ferry::sql::string_value(token);
            FUZZ_REQUIRE(decoded.size() <= token.text.size(), "a value is no longer than its token",
                         std::string(token.text));
        });
    }
}

// Where the statements lie in the input. Fed one byte at a time, the
// splitter completes a statement while taking its last byte: the ';', the
// end of a meta-command's line, or the end of the input in finish().
struct Placement {
    std::string_view input;
    Dialect dialect;
    size_t at = 0;            // the byte being fed; input.size() in finish()
    size_t covered = 0;       // the end of the previous statement
    size_t newlines = 0;      // in input[0, covered)
    bool after_copy = false;  // what follows is COPY data, not SQL
};

size_t count_newlines(std::string_view text) {
    size_t count = 0;
    for (char c : text)
        count += c == '\n';
    return count;
}

// What the splitter drops between statements is white space and comments,
// as the lexer reads them too.
void check_gap(std::string_view gap, Dialect dialect) {
    std::vector<Token> tokens;
    Outcome lexed;
    run_recording_errors(lexed, [&] { tokens = checked_tokens(gap, dialect); });
    FUZZ_REQUIRE(!lexed.failed, "what lies between statements lexes",
                 std::string(gap) + " -> " + lexed.message);
    for (const Token& token : tokens) {
        FUZZ_REQUIRE(token.kind == TokenKind::comment,
                     "only comments and white space lie between statements", std::string(gap));
    }
}

// Checks one statement the splitter found, and where it lies.
void check_statement(const Statement& statement, Placement& placement) {
    std::string_view input = placement.input;
    Dialect dialect = placement.dialect;
    std::string_view text = statement.text;
    FUZZ_REQUIRE(!text.empty(), "a statement is not empty", "");
    size_t end;       // of the statement's bytes in the input
    size_t text_end;  // of its text: a meta-command loses the '\r' of a CRLF
    if (statement.kind == Statement::Kind::meta_command) {
        FUZZ_REQUIRE(text[0] == '\\', "a meta-command starts with a backslash",
                     describe(statement));
        FUZZ_REQUIRE(text.find('\n') == std::string_view::npos, "a meta-command is one line",
                     describe(statement));
        bool at_newline = placement.at < input.size();
        FUZZ_REQUIRE(!at_newline || input[placement.at] == '\n',
                     "a meta-command ends at the end of its line", describe(statement));
        end = placement.at;
        text_end = at_newline && end > 0 && input[end - 1] == '\r' ? end - 1 : end;
    } else {
        FUZZ_REQUIRE(
            placement.at < input.size() && input[placement.at] == ';' && text.back() == ';',
            "a statement ends with its ';'", describe(statement));
        FUZZ_REQUIRE(!is_space(text[0]) && text[0] != '\\',
                     "a statement starts with a token, not space or a backslash",
                     describe(statement));
        end = placement.at + 1;
        text_end = end;
    }
    FUZZ_REQUIRE(text_end >= text.size() && text_end - text.size() >= placement.covered &&
                     input.substr(text_end - text.size(), text.size()) == text,
                 "a statement is the input's text, after the one before", describe(statement));
    size_t start = text_end - text.size();
    std::string_view gap = input.substr(placement.covered, start - placement.covered);
    if (!placement.after_copy)
        check_gap(gap, dialect);
    placement.newlines += count_newlines(gap);
    FUZZ_REQUIRE(statement.line == 1 + placement.newlines,
                 "a statement carries the line it starts on", describe(statement));
    placement.newlines += count_newlines(input.substr(start, end - start));
    placement.covered = end;
    placement.after_copy = is_copy(statement);

    // Split again on its own: the same one statement.
    std::vector<Statement> again;
    std::vector<std::string> texts;
    Outcome resplit;
    run_recording_errors(resplit, [&] {
        StatementSplitter splitter(
            dialect,
            [&](const Statement& inner) {
                again.push_back(inner);
                texts.emplace_back(inner.text);
            },
            kNormalLimit);
        splitter.feed(text);
        splitter.finish();
    });
    FUZZ_REQUIRE(!resplit.failed, "a statement split again is accepted",
                 describe(statement) + " -> " + resplit.message);
    FUZZ_REQUIRE(again.size() == 1 && texts[0] == text && again[0].kind == statement.kind &&
                     again[0].line == 1,
                 "a statement split again is exactly that statement", describe(statement));

    if (statement.kind != Statement::Kind::sql)
        return;
    std::vector<Token> tokens;
    Outcome lexed;
    run_recording_errors(lexed, [&] { tokens = checked_tokens(text, dialect); });
    if (lexed.failed)
        return;  // the splitter passes what the lexer refuses, e.g. "12abc"
    FUZZ_REQUIRE(!tokens.empty() && tokens.front().text.data() == text.data(),
                 "the lexer's first token starts the statement", describe(statement));
    const Token& last = tokens.back();
    FUZZ_REQUIRE(last.is(";") && last.text.data() + 1 == text.data() + text.size(),
                 "the lexer's last token is the ';' that ended the statement", describe(statement));
}

enum class Feeding { whole, chunks, bytes };

// Splits `input`, fed whole, in `chunks`, or one byte at a time; the last
// checks every statement and where it lies.
Outcome split(std::string_view input, Dialect dialect, size_t limit, Feeding feeding,
              const std::vector<std::string_view>& chunks) {
    Outcome outcome;
    Placement placement{input, dialect};
    StatementSplitter* self = nullptr;
    StatementSplitter splitter(
        dialect,
        [&](const Statement& statement) {
            outcome.statements.push_back(describe(statement));
            if (feeding == Feeding::bytes)
                check_statement(statement, placement);
            if (is_copy(statement))
                self->skip_copy_data();
        },
        limit);
    self = &splitter;
    run_recording_errors(outcome, [&] {
        if (feeding == Feeding::whole) {
            splitter.feed(input);
        } else if (feeding == Feeding::chunks) {
            for (std::string_view chunk : chunks)
                splitter.feed(chunk);
        } else {
            for (; placement.at < input.size(); placement.at++)
                splitter.feed(input.substr(placement.at, 1));
        }
        splitter.finish();
    });
    if (feeding == Feeding::bytes && !outcome.failed && !placement.after_copy)
        check_gap(input.substr(placement.covered), dialect);
    return outcome;
}

void check_dialect(std::string_view input, Dialect dialect,
                   const std::vector<std::string_view>& chunks) {
    Outcome bytes = split(input, dialect, kNormalLimit, Feeding::bytes, chunks);
    for (size_t limit : {kNormalLimit, kTinyLimit}) {
        Outcome whole = split(input, dialect, limit, Feeding::whole, chunks);
        Outcome pieces = split(input, dialect, limit, Feeding::chunks, chunks);
        FUZZ_REQUIRE(whole == pieces && (limit != kNormalLimit || whole == bytes),
                     "the splitter does not depend on how the input is cut",
                     "whole: " + whole.describe() + "; in chunks: " + pieces.describe() +
                         "; byte by byte: " + bytes.describe());
    }
    Outcome lexed;
    run_recording_errors(lexed, [&] { checked_tokens(input, dialect); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> chunks = ferry::fuzz::cut_into_chunks(input);
    check_dialect(input, Dialect::postgresql, chunks);
    check_dialect(input, Dialect::sqlite, chunks);
    return 0;
}
