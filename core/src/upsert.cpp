// Dump-to-upsert conversion (see upsert.hpp).
//
// Every output statement is written here from values the converter decoded
// itself: names through quote_identifier(), strings re-quoted for the target,
// numbers and type names only from tokens whose characters the lexer
// checked. Nothing of the input text is copied through as it stands.
#include "ferry/upsert.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "ferry/text.hpp"

namespace ferry::upsert {
namespace {

using sql::Statement;
using sql::Token;
using sql::TokenKind;

constexpr const char* kValuesDetail =
    "Values in a dump must be literals: numbers, strings, NULL, TRUE or FALSE, each optionally "
    "cast to a type name.";
constexpr const char* kDumpHint =
    "A dump is data, not SQL to run: produce it with pg_dump --data-only --inserts (or "
    "--column-inserts) or with sqlite3 .dump.";

std::string at_line(size_t line) {
    return " at line " + std::to_string(line);
}

std::string count_of(size_t count, const std::string& noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string fold(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = ascii_lower(c);
    return out;
}

// The first `limit` bytes of text or fewer, not cutting a UTF-8 character.
std::string_view cut_at_character(std::string_view text, size_t limit) {
    if (text.size() <= limit)
        return text;
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80)
        cut--;
    return text.substr(0, cut);
}

// Input text for a message, quoted and cut short.
std::string quoted(std::string_view text) {
    std::string_view shown = cut_at_character(text, 40);
    return "\"" + std::string(shown) + (shown.size() < text.size() ? "...\"" : "\"");
}

// The offset of the first byte that is not part of a UTF-8 character other
// than NUL, or npos.
size_t invalid_text_at(std::string_view text) {
    return std::min(text::invalid_utf8_at(text), text.find('\0'));
}

[[noreturn]] void not_utf8(size_t line) {
    throw Error(ErrorKind::invalid_input, "invalid UTF-8 or NUL character" + at_line(line),
                "Names and text in a dump must be UTF-8 without NUL characters.",
                "Dump with pg_dump --encoding=UTF8, or check the file's encoding.");
}

void check_utf8(std::string_view text, size_t line) {
    if (invalid_text_at(text) != std::string_view::npos)
        not_utf8(line);
}

[[noreturn]] void syntax_error(const Token& token) {
    std::string near = token.kind == TokenKind::end ? "end of statement" : quoted(token.text);
    throw Error(ErrorKind::invalid_input, "syntax error at or near " + near + at_line(token.line),
                "Expected INSERT INTO table [(columns)] VALUES (...), ...;", kDumpHint);
}

[[noreturn]] void values_error(const std::string& message, size_t line) {
    throw Error(ErrorKind::invalid_input, message + at_line(line), kValuesDetail, kDumpHint);
}

[[noreturn]] void unexpected_in_values(const Token& token) {
    if (token.kind == TokenKind::end)
        values_error("statement ends inside its values", token.line);
    values_error("unexpected " + quoted(token.text) + " in dump values", token.line);
}

[[noreturn]] void not_a_literal(const std::string& what, std::string_view shown, size_t line) {
    values_error(what + " " + quoted(shown) + " is not allowed in dump values", line);
}

[[noreturn]] void not_a_literal(const std::string& what, const Token& token) {
    if (token.kind == TokenKind::end)
        unexpected_in_values(token);
    not_a_literal(what, token.text, token.line);
}

[[noreturn]] void unsupported_insert(std::string form, size_t line, std::string detail) {
    throw Error(ErrorKind::invalid_input, form + " is not supported" + at_line(line),
                std::move(detail), kDumpHint);
}

// The tokens of one statement with one token of lookahead. Comments inside a
// converted statement are refused: no dump writes one there, and one could
// only be there to hide something.
class Tokens {
  public:
    Tokens(const Statement& statement, Dialect dialect, bool skip_comments = false)
        : lexer_(statement.text, dialect, statement.line), skip_comments_(skip_comments) {
        current_ = read();
    }

    const Token& peek() const { return current_; }

    Token take() {
        Token token = current_;
        if (token.kind != TokenKind::end)
            current_ = read();
        return token;
    }

    bool take_if(std::string_view symbol) {
        if (!current_.is(symbol))
            return false;
        take();
        return true;
    }

    bool take_word_if(std::string_view keyword) {
        if (!current_.is_word(keyword))
            return false;
        take();
        return true;
    }

    void expect(std::string_view symbol) {
        if (!take_if(symbol))
            syntax_error(current_);
    }

    // The statement's last token is its ';'.
    void expect_end() {
        expect(";");
        if (current_.kind != TokenKind::end)
            syntax_error(current_);
    }

  private:
    Token read() {
        Token token = lexer_.next();
        while (token.kind == TokenKind::comment) {
            if (!skip_comments_)
                throw Error(
                    ErrorKind::invalid_input,
                    "comment " + quoted(token.text) + " inside a statement" + at_line(token.line),
                    "Comments are allowed between statements only.", kDumpHint);
            token = lexer_.next();
        }
        return token;
    }

    sql::Lexer lexer_;
    bool skip_comments_;
    Token current_;
};

bool is_name(const Token& token) {
    return token.kind == TokenKind::word || token.kind == TokenKind::quoted_identifier;
}

// ---------------------------------------------------------------------------
// Literals, written for the target.

// A string for the target. In PostgreSQL a string holding a backslash is
// written as E'...' with the backslash doubled: that reads the same whatever
// standard_conforming_strings is, where '...' would not.
std::string write_string(std::string_view value, Dialect target, size_t line) {
    check_utf8(value, line);
    if (target == Dialect::sqlite || value.find('\\') == std::string_view::npos)
        return quote_literal(value);
    std::string out = "E'";
    for (char c : value) {
        if (c == '\\' || c == '\'')
            out += c;
        out += c;
    }
    return out + "'";
}

bool all_of(std::string_view text, bool (*accept)(char)) {
    for (char c : text) {
        if (!accept(c))
            return false;
    }
    return true;
}

bool is_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_bit(char c) {
    return c == '0' || c == '1';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// X'00ff' from a SQLite dump: a blob, which PostgreSQL calls bytea.
std::string write_blob(const Token& token, Dialect target) {
    std::string hex = sql::string_value(token);
    if (!all_of(hex, is_hex_digit) || hex.size() % 2 != 0)
        throw Error(ErrorKind::invalid_input,
                    "invalid blob literal " + quoted(token.text) + at_line(token.line),
                    "A blob literal is X'...' with an even number of hexadecimal digits.");
    if (target == Dialect::sqlite)
        return "X'" + hex + "'";
    // No cast: a bytea column reads the hex text as the bytes.
    return write_string("\\x" + hex, target, token.line);
}

// B'0101' or X'5' from a PostgreSQL dump: a bit string.
std::string write_bit_string(const Token& token, Dialect target) {
    bool binary = token.kind == TokenKind::bit_string;
    std::string digits = sql::string_value(token);
    if (!all_of(digits, binary ? is_bit : is_hex_digit))
        throw Error(ErrorKind::invalid_input,
                    "invalid bit string literal " + quoted(token.text) + at_line(token.line));
    if (target == Dialect::sqlite)
        throw Error(ErrorKind::unsupported,
                    "bit string literal " + quoted(token.text) + at_line(token.line) +
                        " has no SQLite equivalent",
                    {}, "Leave bit and bit varying columns out of dumps for SQLite peers.");
    return std::string(binary ? "B'" : "X'") + digits + "'";
}

// The body of $tag$...$tag$.
std::string dollar_string_value(const Token& token) {
    size_t tag = token.text.find('$', 1) + 1;
    return std::string(token.text.substr(tag, token.text.size() - 2 * tag));
}

// ---------------------------------------------------------------------------
// sqlite3's .dump writes text holding line breaks as
// replace('a\nb','\n',char(10)), nested for '\r', and since 3.50 as
// unistr('a\u000ab'). These two forms, and only they, are evaluated here and
// written as a plain literal: no function of the input is ever called.

// unistr()'s escapes: \\, \XXXX, \uXXXX, \+XXXXXX, \UXXXXXXXX.
std::string decode_unistr(std::string_view text, const Token& token) {
    std::string out;
    for (size_t pos = 0; pos < text.size();) {
        if (text[pos] != '\\') {
            out += text[pos++];
            continue;
        }
        char kind = pos + 1 < text.size() ? text[pos + 1] : 0;
        if (kind == '\\') {
            out += '\\';
            pos += 2;
            continue;
        }
        size_t skip = kind == 'u' ? 2 : kind == '+' ? 2 : kind == 'U' ? 2 : 1;
        size_t digits = kind == '+' ? 6 : kind == 'U' ? 8 : 4;
        std::string_view hex = text.substr(std::min(pos + skip, text.size()), digits);
        uint32_t code = 0;
        for (char c : hex)
            code = code * 16 +
                   static_cast<uint32_t>(is_digit(c) ? c - '0' : ascii_lower(c) - 'a' + 10);
        if (hex.size() != digits || !all_of(hex, is_hex_digit) || code == 0 || code > 0x10ffff ||
            (code >= 0xd800 && code <= 0xdfff))
            throw Error(ErrorKind::invalid_input,
                        "invalid escape in unistr() text" + at_line(token.line),
                        "unistr() escapes are \\\\, \\XXXX, \\uXXXX, \\+XXXXXX and \\UXXXXXXXX.");
        text::append_utf8(out, code);
        pos += skip + digits;
    }
    return out;
}

std::string replace_all(std::string text, std::string_view pattern, std::string_view with) {
    std::string out;
    size_t start = 0;
    for (size_t found; (found = text.find(pattern, start)) != std::string::npos;
         start = found + pattern.size()) {
        out.append(text, start, found - start);
        out.append(with);
    }
    out.append(text, start, std::string::npos);
    return out;
}

Token expect_kind(Tokens& tokens, TokenKind kind) {
    if (tokens.peek().kind != kind)
        unexpected_in_values(tokens.peek());
    return tokens.take();
}

void expect_symbol(Tokens& tokens, std::string_view symbol) {
    if (!tokens.take_if(symbol))
        unexpected_in_values(tokens.peek());
}

std::string shell_text(Tokens& tokens, const Token& function, int depth) {
    expect_symbol(tokens, "(");
    if (function.is_word("unistr")) {
        std::string text =
            decode_unistr(sql::string_value(expect_kind(tokens, TokenKind::string)), function);
        expect_symbol(tokens, ")");
        return text;
    }
    Token inner = tokens.take();
    std::string text;
    if (inner.kind == TokenKind::string) {
        text = sql::string_value(inner);
    } else if (depth < 2 && (inner.is_word("replace") || inner.is_word("unistr"))) {
        text = shell_text(tokens, inner, depth + 1);
    } else {
        unexpected_in_values(inner);
    }
    expect_symbol(tokens, ",");
    std::string pattern = sql::string_value(expect_kind(tokens, TokenKind::string));
    expect_symbol(tokens, ",");
    Token char_function = expect_kind(tokens, TokenKind::word);
    if (!char_function.is_word("char"))
        not_a_literal("function call", char_function);
    expect_symbol(tokens, "(");
    Token code = expect_kind(tokens, TokenKind::number);
    if ((code.text != "10" && code.text != "13") || pattern.empty())
        unexpected_in_values(code);
    expect_symbol(tokens, ")");
    expect_symbol(tokens, ")");
    return replace_all(std::move(text), pattern, code.text == "10" ? "\n" : "\r");
}

// ---------------------------------------------------------------------------
// Type names after '::'.

// Words that continue a type name of several words, as PostgreSQL prints
// them: double precision, character varying, timestamp(3) with time zone,
// interval day to second. None of them can continue an expression.
bool continues_type_name(const Token& token) {
    static const char* const words[] = {"precision", "varying", "character", "with",  "without",
                                        "time",      "zone",    "year",      "month", "day",
                                        "hour",      "minute",  "second",    "to"};
    for (const char* word : words) {
        if (token.is_word(word))
            return true;
    }
    return false;
}

[[noreturn]] void bad_type_name(const Token& token) {
    throw Error(
        ErrorKind::invalid_input,
        "unexpected " +
            (token.kind == TokenKind::end ? std::string("end of statement") : quoted(token.text)) +
            " in type name" + at_line(token.line),
        "A cast names a type: words, quoted names, dots, integer modifiers in "
        "parentheses, and [].",
        kDumpHint);
}

std::string type_name_part(const Token& token) {
    if (token.kind == TokenKind::word)
        return fold(token.text);
    if (token.kind == TokenKind::quoted_identifier)
        return quote_identifier(sql::identifier_value(token, Dialect::postgresql));
    bad_type_name(token);
}

std::string type_integer(Tokens& tokens) {
    std::string sign = tokens.take_if("-") ? "-" : "";
    Token number = tokens.take();
    if (number.kind != TokenKind::number || !all_of(number.text, is_digit))
        bad_type_name(number);
    return sign + std::string(number.text);
}

std::string type_modifiers(Tokens& tokens) {
    std::string out = "(";
    tokens.take();  // (
    do {
        if (out.size() > 1)
            out += ", ";
        out += type_integer(tokens);
    } while (tokens.take_if(","));
    if (!tokens.take_if(")"))
        bad_type_name(tokens.peek());
    return out + ")";
}

std::string read_type_name(Tokens& tokens) {
    std::string out = type_name_part(tokens.take());
    while (tokens.take_if("."))
        out += "." + type_name_part(tokens.take());
    while (true) {
        if (continues_type_name(tokens.peek())) {
            out += " " + fold(tokens.take().text);
        } else if (tokens.peek().is("(")) {
            out += type_modifiers(tokens);
        } else {
            break;
        }
    }
    while (tokens.take_if("[")) {
        out += "[";
        if (!tokens.peek().is("]"))
            out += type_integer(tokens);
        if (!tokens.take_if("]"))
            bad_type_name(tokens.peek());
        out += "]";
    }
    return out;
}

// ---------------------------------------------------------------------------
// Values.

[[noreturn]] void reject_value(const Token& token, const Token& next) {
    if (token.kind == TokenKind::word && next.is("("))
        not_a_literal("function call", token);
    if (token.is("(")) {
        if (next.is_word("select") || next.is_word("with") || next.is_word("values"))
            not_a_literal("subquery", "(" + std::string(next.text), token.line);
        not_a_literal("expression in parentheses", token);
    }
    if (token.kind == TokenKind::op)
        not_a_literal("operator", token);
    if (is_name(token))
        not_a_literal("name", token);
    if (token.kind == TokenKind::parameter)
        not_a_literal("parameter", token);
    unexpected_in_values(token);
}

// One element of a VALUES row: its text for the target, or nullopt for
// DEFAULT.
class ValueReader {
  public:
    ValueReader(Dialect source, Dialect target) : source_(source), target_(target) {}

    std::optional<std::string> read(Tokens& tokens) const {
        if (tokens.take_word_if("default"))
            return std::nullopt;
        std::string value = literal(tokens);
        // A dump's casts are read and dropped: the target column's type
        // reads the literal. Kept, a cast names a type of the target's
        // (a domain whose CHECK, or a cast whose function, runs with the
        // rights of whoever applies the dump) and so would run its code.
        // SQLite has no '::'; a bytea's hex text must become a blob there.
        while (tokens.take_if("::")) {
            std::string type = read_type_name(tokens);
            if (target_ == Dialect::sqlite && type == "bytea")
                value = bytea_as_blob(value);
        }
        return value;
    }

  private:
    // '\x00ff' (PostgreSQL's bytea hex form, as written for SQLite) → X'00ff'.
    static std::string bytea_as_blob(const std::string& written) {
        if (written.size() < 4 || written.compare(0, 3, "'\\x") != 0 || written.back() != '\'')
            return written;
        std::string hex = written.substr(3, written.size() - 4);
        bool all_hex = hex.size() % 2 == 0 && std::all_of(hex.begin(), hex.end(), [](char c) {
                           return std::isxdigit(static_cast<unsigned char>(c));
                       });
        return all_hex ? "X'" + hex + "'" : written;
    }

    std::string literal(Tokens& tokens) const {
        Token token = tokens.take();
        switch (token.kind) {
            case TokenKind::number:
                return std::string(token.text);
            case TokenKind::string:
            case TokenKind::escape_string:
                return write_string(sql::string_value(token), target_, token.line);
            case TokenKind::dollar_string:
                return write_string(dollar_string_value(token), target_, token.line);
            case TokenKind::hex_string:
                return source_ == Dialect::sqlite ? write_blob(token, target_)
                                                  : write_bit_string(token, target_);
            case TokenKind::bit_string:
                return write_bit_string(token, target_);
            default:
                break;
        }
        if (token.is("-") || token.is("+"))
            return signed_number(token, tokens);
        for (const char* keyword : {"NULL", "TRUE", "FALSE"}) {
            if (token.is_word(keyword))
                return keyword;
        }
        if (source_ == Dialect::sqlite && tokens.peek().is("(") &&
            (token.is_word("replace") || token.is_word("unistr")))
            return write_string(shell_text(tokens, token, 0), target_, token.line);
        reject_value(token, tokens.peek());
    }

    // Only a single sign directly before a number: "- -1" or "-'1'" is an
    // expression.
    static std::string signed_number(const Token& sign, Tokens& tokens) {
        Token number = tokens.take();
        if (number.kind != TokenKind::number)
            reject_value(number.kind == TokenKind::end ? number : sign, tokens.peek());
        return (sign.is("-") ? "-" : "") + std::string(number.text);
    }

    Dialect source_;
    Dialect target_;
};

// After a value: ',' or ')', anything else is the rest of an expression.
void reject_after_value(const Token& token) {
    if (token.kind == TokenKind::op)
        not_a_literal("operator", token);
    unexpected_in_values(token);
}

// One "(value, ...)" row.
std::vector<std::optional<std::string>> read_row(Tokens& tokens, const ValueReader& values) {
    if (!tokens.take_if("("))
        syntax_error(tokens.peek());
    std::vector<std::optional<std::string>> row;
    if (tokens.peek().is(")")) {
        tokens.take();
        return row;
    }
    do {
        row.push_back(values.read(tokens));
        if (!tokens.peek().is(",") && !tokens.peek().is(")"))
            reject_after_value(tokens.peek());
    } while (tokens.take_if(","));
    tokens.expect(")");
    return row;
}

// ---------------------------------------------------------------------------
// The INSERT statement.

std::string display_name(const TableName& name) {
    return name.schema ? *name.schema + "." + name.name : name.name;
}

std::string table_key(const TableName& name) {
    return (name.schema ? *name.schema : std::string()) + '\0' + name.name;
}

TableName read_table_name(Tokens& tokens, Dialect source) {
    Token first = tokens.take();
    if (!is_name(first))
        syntax_error(first);
    TableName name{std::nullopt, sql::identifier_value(first, source)};
    if (tokens.take_if(".")) {
        Token second = tokens.take();
        if (!is_name(second))
            syntax_error(second);
        name.schema = std::move(name.name);
        name.name = sql::identifier_value(second, source);
        if (tokens.peek().is("."))
            syntax_error(tokens.peek());
    }
    return name;
}

std::vector<std::string> read_column_list(Tokens& tokens, Dialect source) {
    std::vector<std::string> columns;
    tokens.expect("(");
    do {
        Token column = tokens.take();
        if (!is_name(column))
            syntax_error(column);
        columns.push_back(sql::identifier_value(column, source));
    } while (tokens.take_if(","));
    tokens.expect(")");
    return columns;
}

// OVERRIDING SYSTEM VALUE, which pg_dump writes for GENERATED ALWAYS identity
// columns, is kept; OVERRIDING USER VALUE would replace the dump's keys.
bool read_overriding(Tokens& tokens, size_t line) {
    if (!tokens.take_word_if("overriding"))
        return false;
    if (tokens.take_word_if("user"))
        unsupported_insert("INSERT ... OVERRIDING USER VALUE", line,
                           "It would replace the dump's identity values by new ones.");
    if (!tokens.take_word_if("system"))
        syntax_error(tokens.peek());
    if (!tokens.take_word_if("value"))
        syntax_error(tokens.peek());
    return true;
}

// What follows the column list must be VALUES.
void expect_values(Tokens& tokens, size_t line) {
    const Token& next = tokens.peek();
    if (next.is_word("select") || next.is_word("with") || next.is_word("table") || next.is("("))
        unsupported_insert("INSERT ... SELECT", line,
                           "Only INSERT ... VALUES with literals is "
                           "converted.");
    if (next.is_word("default"))
        unsupported_insert("INSERT ... DEFAULT VALUES", line,
                           "A row without values cannot be matched to an existing one.");
    if (!tokens.take_word_if("values"))
        syntax_error(next);
}

// What may follow the rows: only the ';'.
void expect_insert_end(Tokens& tokens, size_t line) {
    const Token& next = tokens.peek();
    if (next.is_word("on"))
        unsupported_insert("INSERT ... ON CONFLICT", line,
                           "The converter writes the conflict handling itself.");
    if (next.is_word("returning"))
        unsupported_insert("INSERT ... RETURNING", line, "A dump returns nothing.");
    tokens.expect_end();
}

// Tables the engine keeps for itself (sqlite_sequence, sqlite_stat1,
// sqlite_schema) are not data.
bool is_internal_table(const TableName& name) {
    return fold(name.name).compare(0, 7, "sqlite_") == 0;
}

std::optional<size_t> find_position(const std::map<std::string, size_t>& names,
                                    const std::string& name) {
    auto found = names.find(name);
    if (found == names.end())
        return std::nullopt;
    return found->second;
}

// Checks a row's DEFAULTs against the first row's: a column is DEFAULT in
// every row (a generated column, left out of the output) or in none.
void check_defaults(const std::vector<std::optional<std::string>>& row,
                    std::vector<bool>& defaulted, bool first_row,
                    const std::vector<std::string>& column_names, size_t line) {
    for (size_t i = 0; i < row.size(); i++) {
        bool is_default = !row[i];
        if (first_row) {
            defaulted.push_back(is_default);
        } else if (defaulted[i] != is_default) {
            throw Error(ErrorKind::invalid_input,
                        "column " + quoted(column_names[i]) + " is DEFAULT in some rows only" +
                            at_line(line),
                        "A column of an INSERT must be DEFAULT in every row or in none.",
                        kDumpHint);
        }
    }
}

// Identifier of a name that came from the dump, checked to be text.
std::string quote_dump_identifier(const std::string& name, size_t line) {
    check_utf8(name, line);
    return quote_identifier(name);
}

}  // namespace

// ---------------------------------------------------------------------------
// UpsertConverter

UpsertConverter::UpsertConverter(Dialect target, TableLookup lookup, Options options, Emit emit)
    : target_(target),
      source_(options.source.value_or(target)),
      lookup_(std::move(lookup)),
      options_(std::move(options)),
      emit_(std::move(emit)),
      splitter_(
          source_, [this](const Statement& statement) { on_statement(statement); },
          options_.max_statement_bytes) {}

// After an error the splitter may be anywhere inside a statement: going on
// would read the rest of the dump out of step.
void UpsertConverter::check_usable() const {
    if (failed_)
        throw Error(ErrorKind::conflict, "upsert converter cannot continue after an error");
    if (finished_)
        throw Error(ErrorKind::conflict, "upsert converter used after finish()");
}

void UpsertConverter::feed(std::string_view chunk) {
    check_usable();
    try {
        splitter_.feed(chunk);
    } catch (...) {
        failed_ = true;
        throw;
    }
}

void UpsertConverter::finish() {
    check_usable();
    try {
        splitter_.finish();
    } catch (...) {
        failed_ = true;
        throw;
    }
    finished_ = true;
}

void UpsertConverter::on_statement(const Statement& statement) {
    if (statement.kind == Statement::Kind::sql) {
        Tokens tokens(statement, source_, true);
        if (tokens.peek().is(";"))
            return;  // an empty statement
        stats_.statements_read++;
        if (tokens.peek().is_word("insert")) {
            convert_insert(statement);
            return;
        }
    } else {
        stats_.statements_read++;
    }
    if (!is_framing(statement))
        other_statement(statement);
}

namespace {

// pg_dump's preamble: SET name = value, .... Only the settings that change
// how the rest of the dump reads are checked.
void check_setting(const std::string& name, const std::string& value, size_t line) {
    std::string folded = fold(value);
    if (name == "client_encoding" && folded != "utf8" && folded != "utf-8" && folded != "unicode")
        throw Error(ErrorKind::unsupported,
                    "dump encoding " + quoted(value) + " is not supported" + at_line(line),
                    "The converter reads UTF-8 dumps only.", "Dump with pg_dump --encoding=UTF8.");
    if (name == "standard_conforming_strings" && folded != "on" && folded != "true" &&
        folded != "1" && folded != "yes")
        throw Error(ErrorKind::unsupported,
                    "standard_conforming_strings = " + value + " is not supported" + at_line(line),
                    "With it off, backslashes in '...' are escapes, and the dump's text would be "
                    "read wrongly.",
                    "Dump from a server with standard_conforming_strings on, the default.");
}

bool is_set_statement(Tokens& tokens, size_t line) {
    tokens.take();  // SET
    if (!tokens.take_word_if("session"))
        tokens.take_word_if("local");
    Token name = tokens.take();
    if (name.kind != TokenKind::word)
        return false;
    std::string setting = fold(name.text);
    while (tokens.take_if(".")) {
        Token part = tokens.take();
        if (part.kind != TokenKind::word)
            return false;
        setting += "." + fold(part.text);
    }
    if (!tokens.take_if("=") && !tokens.take_word_if("to"))
        return false;
    do {
        tokens.take_if("-");
        Token value = tokens.take();
        if (value.kind == TokenKind::string)
            check_setting(setting, sql::string_value(value), line);
        else if (value.kind == TokenKind::word || value.kind == TokenKind::number)
            check_setting(setting, std::string(value.text), line);
        else if (value.kind != TokenKind::quoted_identifier)
            return false;
    } while (tokens.take_if(","));
    return tokens.take_if(";") && tokens.peek().kind == TokenKind::end;
}

// A statement spelled exactly as `words`: ASCII case-insensitive words,
// symbols, and quoted strings written as in `words`.
bool matches(Tokens& tokens, std::initializer_list<std::string_view> words) {
    for (std::string_view word : words) {
        Token token = tokens.take();
        bool same = token.kind == TokenKind::word ? token.is_word(word) : token.text == word;
        if (!same)
            return false;
    }
    return tokens.peek().kind == TokenKind::end;
}

bool is_framing_sql(const Statement& statement, Dialect source) {
    Tokens tokens(statement, source, true);
    const Token first = tokens.peek();
    if (first.is_word("set"))
        return is_set_statement(tokens, statement.line);
    if (first.is_word("begin") || first.is_word("commit") || first.is_word("end")) {
        tokens.take();
        if (!tokens.take_word_if("transaction"))
            tokens.take_word_if("work");
        return matches(tokens, {";"});
    }
    if (first.is_word("pragma")) {
        tokens.take();
        if (!tokens.take_word_if("foreign_keys") || !tokens.take_if("="))
            return false;
        Token value = tokens.take();
        bool known = value.is_word("on") || value.is_word("off") || value.is_word("true") ||
                     value.is_word("false") || value.is_word("yes") || value.is_word("no") ||
                     value.text == "0" || value.text == "1";
        return known && matches(tokens, {";"});
    }
    return matches(tokens, {"select", "pg_catalog", ".", "set_config", "(", "'search_path'", ",",
                            "''", ",", "false", ")", ";"});
}

// psql's \restrict and \unrestrict, which pg_dump writes around a dump so
// that psql refuses meta-commands inside it.
bool is_framing_meta(std::string_view line) {
    for (std::string_view command : {"\\restrict ", "\\unrestrict "}) {
        if (line.substr(0, command.size()) == command)
            return true;
    }
    return false;
}

// The statement's first three words for a message: "CREATE TABLE t",
// "SELECT pg_catalog.setval".
std::string first_words(const Statement& statement, Dialect source) {
    std::string_view text = statement.text;
    size_t end = std::min<size_t>(text.size(), 40);
    if (statement.kind == Statement::Kind::sql) {
        try {
            Tokens tokens(statement, source, true);
            int words = 0;
            bool after_dot = false;  // schema.table counts as one word
            while (tokens.peek().kind != TokenKind::end && !tokens.peek().is(";") &&
                   !tokens.peek().is("(") && (words < 3 || after_dot || tokens.peek().is("."))) {
                Token token = tokens.take();
                words += is_name(token) && !after_dot ? 1 : 0;
                after_dot = token.is(".");
                end = static_cast<size_t>(token.text.data() + token.text.size() - text.data());
            }
        } catch (const Error&) {
            // Unreadable further on: show the raw start instead.
        }
    }
    std::string out;
    for (char c : cut_at_character(text, end)) {
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (!space)
            out += c;
        else if (!out.empty() && out.back() != ' ')
            out += ' ';
    }
    return out;
}

bool is_copy_from_stdin(const Statement& statement, Dialect source) {
    Tokens tokens(statement, source, true);
    if (!tokens.take_word_if("copy"))
        return false;
    for (Token token = tokens.take(); token.kind != TokenKind::end; token = tokens.take()) {
        if (token.is_word("stdin"))
            return true;
    }
    return false;
}

}  // namespace

bool UpsertConverter::is_framing(const Statement& statement) const {
    if (statement.kind == Statement::Kind::meta_command)
        return is_framing_meta(statement.text);
    try {
        return is_framing_sql(statement, source_);
    } catch (const Error& error) {
        if (error.kind() != ErrorKind::invalid_input)
            throw;  // a SET the dump cannot be read under
        return false;
    }
}

void UpsertConverter::other_statement(const Statement& statement) {
    if (statement.kind == Statement::Kind::sql && is_copy_from_stdin(statement, source_)) {
        // Its data follows on the next lines: skip them with it, never read
        // them as SQL.
        splitter_.skip_copy_data();
    }
    if (options_.skip_other_statements) {
        stats_.statements_skipped++;
        return;
    }
    throw Error(ErrorKind::invalid_input,
                "statement " + quoted(first_words(statement, source_)) + at_line(statement.line) +
                    " is not allowed in a dump",
                "Only INSERT ... VALUES with literal values is converted; SET, BEGIN, COMMIT, "
                "PRAGMA foreign_keys and comments are dropped.",
                "Dump the data only (pg_dump --data-only --inserts), or skip other statements.");
}

const UpsertConverter::Table& UpsertConverter::table(const TableName& name, size_t line) {
    std::string key = table_key(name);
    auto cached = tables_.find(key);
    if (cached != tables_.end())
        return cached->second;
    std::string display = display_name(name);
    std::optional<TableColumns> found = lookup_(name);
    if (!found)
        throw Error(ErrorKind::not_found,
                    "table " + quoted(display) + " does not exist" + at_line(line), {},
                    "Create the table on this peer before applying the dump, or leave its rows "
                    "out.");
    if (found->internal) {
        Table table;
        table.internal = true;
        table.display = display;
        return tables_.emplace(key, std::move(table)).first->second;
    }
    if (found->key_columns.empty())
        throw Error(ErrorKind::unsupported,
                    "table " + quoted(display) + " has no primary key" + at_line(line),
                    "Rows are matched to existing ones by their key.",
                    "Give the table a primary key.");
    Table table;
    table.display = display;
    const TableName& written = found->output_name ? *found->output_name : name;
    table.written_name =
        (written.schema ? quote_dump_identifier(*written.schema, line) + "." : "") +
        quote_dump_identifier(written.name, line);
    // A table called excluded would be ambiguous with the new row's name.
    if (fold(written.name) == "excluded") {
        table.written_name += " AS \"existing\"";
        table.qualifier = "\"existing\"";
    } else {
        table.qualifier = quote_identifier(written.name);
    }
    table.columns = found->columns;
    for (size_t i = 0; i < found->columns.size(); i++) {
        const std::string& column = found->columns[i];
        table.quoted_columns.push_back(quote_identifier(column));
        table.by_name.emplace(column, i);
        table.by_folded_name.emplace(fold(column), i);
    }
    table.by_text.assign(found->columns.size(), false);
    for (const std::string& column : found->compared_by_text) {
        auto position = table.by_name.find(column);
        if (position != table.by_name.end())
            table.by_text[position->second] = true;
    }
    table.is_key.assign(found->columns.size(), false);
    for (const std::string& key_column : found->key_columns) {
        auto position = table.by_name.find(key_column);
        if (position == table.by_name.end())
            throw Error(ErrorKind::invalid_input, "key column " + quoted(key_column) +
                                                      " is not a column of table " +
                                                      quoted(display));
        table.keys.push_back(position->second);
        table.is_key[position->second] = true;
    }
    return tables_.emplace(key, std::move(table)).first->second;
}

// The INSERT's columns as positions in the table: all of them, in order,
// without a column list. Names from a SQLite side compare case-insensitively.
std::vector<size_t> UpsertConverter::map_columns(
    const Table& table, const std::optional<std::vector<std::string>>& listed, size_t line) const {
    std::vector<size_t> positions;
    if (!listed) {
        for (size_t i = 0; i < table.columns.size(); i++)
            positions.push_back(i);
        return positions;
    }
    bool fold_names = source_ == Dialect::sqlite || target_ == Dialect::sqlite;
    std::vector<bool> seen(table.columns.size(), false);
    for (const std::string& column : *listed) {
        std::optional<size_t> found = find_position(table.by_name, column);
        if (!found && fold_names)
            found = find_position(table.by_folded_name, fold(column));
        if (!found)
            throw Error(ErrorKind::not_found,
                        "column " + quoted(column) + " of table " + quoted(table.display) +
                            " does not exist" + at_line(line),
                        {}, "Give the table on this peer the dump's columns.");
        if (seen[*found])
            throw Error(ErrorKind::invalid_input,
                        "column " + quoted(column) + " named more than once" + at_line(line));
        seen[*found] = true;
        positions.push_back(*found);
    }
    return positions;
}

namespace {

// The parts of an INSERT that decide the output's shape.
struct InsertPlan {
    std::vector<size_t> written;  // table positions of the values written
    std::vector<size_t> updated;  // those that are not key columns
};

// Which columns are written: those not DEFAULT in the first row. Every key
// column must be among them.
InsertPlan plan_insert(const std::vector<size_t>& positions, const std::vector<bool>& defaulted,
                       const std::vector<std::string>& columns, const std::vector<bool>& is_key,
                       const std::vector<size_t>& keys, const std::string& table, size_t line) {
    const char* key_detail =
        "Rows are matched to existing ones by their key, which the dump must "
        "give.";
    InsertPlan plan;
    for (size_t i = 0; i < positions.size(); i++) {
        size_t position = positions[i];
        if (defaulted[i] && is_key[position])
            throw Error(ErrorKind::invalid_input,
                        "key column " + quoted(columns[position]) + " is DEFAULT" + at_line(line),
                        key_detail, kDumpHint);
        if (defaulted[i])
            continue;
        plan.written.push_back(position);
        if (!is_key[position])
            plan.updated.push_back(position);
    }
    for (size_t key : keys) {
        if (std::find(plan.written.begin(), plan.written.end(), key) == plan.written.end())
            throw Error(ErrorKind::invalid_input,
                        "INSERT into " + quoted(table) + at_line(line) +
                            " does not set key column " + quoted(columns[key]),
                        key_detail, kDumpHint);
    }
    return plan;
}

void check_row_size(size_t values, size_t columns, bool listed, const std::string& table,
                    size_t line) {
    if (values == columns)
        return;
    throw Error(ErrorKind::invalid_input,
                "wrong number of values for table " + quoted(table) + at_line(line),
                "The row has " + count_of(values, "value") + "; " +
                    (listed ? "the INSERT names " : "the table has ") +
                    count_of(columns, "column") + ".",
                listed ? "Give one value per named column."
                       : "Without a column list, an INSERT gives every column a value, in table "
                         "order: check that the table on this peer has the dump's columns, or "
                         "dump with --column-inserts.");
}

void append_row(std::string& out, const std::vector<std::optional<std::string>>& row,
                bool first_row) {
    out += first_row ? "(" : ", (";
    bool first = true;
    for (const auto& value : row) {
        if (!value)
            continue;  // DEFAULT: the column is left out
        out += first ? "" : ", ";
        out += *value;
        first = false;
    }
    out += ")";
}

// INSERT INTO ... (columns) [OVERRIDING SYSTEM VALUE] VALUES
void append_insert_head(std::string& out, const std::string& table,
                        const std::vector<std::string>& quoted_columns, const InsertPlan& plan,
                        bool overriding, Dialect target) {
    out += "INSERT INTO " + table + " (";
    for (size_t i = 0; i < plan.written.size(); i++)
        out += (i ? ", " : "") + quoted_columns[plan.written[i]];
    out += ")";
    if (overriding && target == Dialect::postgresql)
        out += " OVERRIDING SYSTEM VALUE";
    out += " VALUES ";
}

// ON CONFLICT ... DO UPDATE SET ... WHERE the row differs, or DO NOTHING when
// the INSERT writes key columns only.
void append_conflict_clause(std::string& out, const std::vector<std::string>& quoted_columns,
                            const std::vector<bool>& by_text, const std::vector<size_t>& keys,
                            const InsertPlan& plan, const std::string& qualifier, Dialect target) {
    out += " ON CONFLICT (";
    for (size_t i = 0; i < keys.size(); i++)
        out += (i ? ", " : "") + quoted_columns[keys[i]];
    out += ")";
    if (plan.updated.empty()) {
        out += " DO NOTHING;";
        return;
    }
    const std::string excluded = target == Dialect::postgresql ? "EXCLUDED." : "excluded.";
    out += " DO UPDATE SET ";
    for (size_t i = 0; i < plan.updated.size(); i++) {
        const std::string& column = quoted_columns[plan.updated[i]];
        out += (i ? ", " : "") + column + " = " + excluded + column;
    }
    out += " WHERE ";
    if (target == Dialect::postgresql) {
        std::string existing = "(", incoming = "(";
        for (size_t i = 0; i < plan.updated.size(); i++) {
            const std::string& column = quoted_columns[plan.updated[i]];
            const char* as = by_text[plan.updated[i]] ? "::text" : "";
            existing += (i ? ", " : "") + qualifier + "." + column + as;
            incoming += (i ? ", " : "") + excluded + column + as;
        }
        out += existing + ") IS DISTINCT FROM " + incoming + ");";
        return;
    }
    // BINARY: a NOCASE column's 'ABC' and 'abc' hash apart, so they differ.
    for (size_t i = 0; i < plan.updated.size(); i++) {
        const std::string& column = quoted_columns[plan.updated[i]];
        out += (i ? " OR " : "") + qualifier + "." + column + " COLLATE BINARY IS NOT " + excluded +
               column;
    }
    out += ";";
}

// The whole statement must be UTF-8 text, so that every name and string
// taken from it is.
void check_statement_text(const Statement& statement) {
    size_t bad = invalid_text_at(statement.text);
    if (bad == std::string_view::npos)
        return;
    std::string_view before = statement.text.substr(0, bad);
    not_utf8(statement.line + static_cast<size_t>(std::count(before.begin(), before.end(), '\n')));
}

// INSERT OR REPLACE / IGNORE / ...: SQLite's own conflict handling.
void refuse_insert_or(Tokens& tokens, size_t line) {
    if (!tokens.take_word_if("or"))
        return;
    std::string action = is_name(tokens.peek()) ? " " + std::string(tokens.peek().text) : "";
    for (char& c : action)
        c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    unsupported_insert("INSERT OR" + action, line,
                       "The converter writes the conflict handling itself; the dump must use "
                       "plain INSERT.");
}

// Reads the rows into `out`, which the first row starts: its DEFAULTs
// decide which columns are written. Returns the number of rows.
uint64_t convert_rows(Tokens& tokens, const ValueReader& reader, const detail::Table& table,
                      const std::vector<size_t>& positions, bool listed, bool overriding,
                      Dialect target, size_t line, std::string& out) {
    std::vector<std::string> names;
    for (size_t position : positions)
        names.push_back(table.columns[position]);
    std::vector<bool> defaulted;
    InsertPlan plan;
    uint64_t rows = 0;
    do {
        size_t row_line = tokens.peek().line;
        std::vector<std::optional<std::string>> row = read_row(tokens, reader);
        check_row_size(row.size(), positions.size(), listed, table.display, row_line);
        check_defaults(row, defaulted, rows == 0, names, row_line);
        if (rows == 0) {
            plan = plan_insert(positions, defaulted, table.columns, table.is_key, table.keys,
                               table.display, line);
            append_insert_head(out, table.written_name, table.quoted_columns, plan, overriding,
                               target);
        }
        append_row(out, row, rows == 0);
        rows++;
    } while (tokens.take_if(","));
    append_conflict_clause(out, table.quoted_columns, table.by_text, table.keys, plan,
                           table.qualifier, target);
    return rows;
}

}  // namespace

void UpsertConverter::convert_insert(const Statement& statement) {
    size_t line = statement.line;
    check_statement_text(statement);
    Tokens tokens(statement, source_);
    tokens.take();  // INSERT
    refuse_insert_or(tokens, line);
    if (!tokens.take_word_if("into"))
        syntax_error(tokens.peek());
    TableName name = read_table_name(tokens, source_);
    if (is_internal_table(name)) {
        other_statement(statement);
        return;
    }
    std::optional<std::vector<std::string>> listed;
    if (tokens.peek().is("("))
        listed = read_column_list(tokens, source_);
    bool overriding = read_overriding(tokens, line);
    expect_values(tokens, line);

    const Table& table = this->table(name, line);
    if (table.internal) {
        other_statement(statement);
        return;
    }
    std::vector<size_t> positions = map_columns(table, listed, line);
    output_.clear();
    uint64_t rows = convert_rows(tokens, ValueReader(source_, target_), table, positions,
                                 listed.has_value(), overriding, target_, line, output_);
    expect_insert_end(tokens, line);
    stats_.inserts_converted++;
    stats_.rows += rows;
    emit_(output_);
}

std::string convert_dump(std::string_view dump, Dialect target, TableLookup lookup,
                         Options options) {
    std::string out;
    UpsertConverter converter(target, std::move(lookup), std::move(options),
                              [&](std::string_view statement) {
                                  if (!out.empty())
                                      out += '\n';
                                  out += statement;
                              });
    converter.feed(dump);
    converter.finish();
    return out;
}

}  // namespace ferry::upsert
