// Statement splitting and tokenizing of untrusted SQL (see sql_lexer.hpp).
#include "ferry/sql_lexer.hpp"

#include <cstdint>

#include "ferry/error.hpp"
#include "ferry/text.hpp"

namespace ferry::sql {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_hex_digit(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Letters, '_' and every byte of a multi-byte UTF-8 character, as both
// engines allow in unquoted names.
bool is_identifier_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}

bool is_identifier_char(char c) {
    return is_identifier_start(c) || is_digit(c) || c == '$';
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// In SQLite a backtick quotes a name instead.
bool is_operator_char(char c, Dialect dialect) {
    switch (c) {
        case '+':
        case '-':
        case '*':
        case '/':
        case '<':
        case '>':
        case '=':
        case '~':
        case '!':
        case '@':
        case '#':
        case '%':
        case '^':
        case '&':
        case '|':
        case '?':
            return true;
        case '`':
            return dialect == Dialect::postgresql;
        default:
            return false;
    }
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string at_line(size_t line) {
    return " at line " + std::to_string(line);
}

// A character for an error message: itself if printable, else its byte value.
std::string describe_char(char c) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f)
        return "\"" + std::string(1, c) + "\"";
    static const char digits[] = "0123456789abcdef";
    return std::string("byte 0x") + digits[byte >> 4] + digits[byte & 15];
}

// Reads `digits` hex digits at text[pos], or returns false.
bool read_hex(std::string_view text, size_t pos, size_t digits, uint32_t& value) {
    if (pos + digits > text.size())
        return false;
    value = 0;
    for (size_t i = 0; i < digits; i++) {
        if (!is_hex_digit(text[pos + i]))
            return false;
        value = value * 16 + static_cast<uint32_t>(text::hex_digit_value(text[pos + i]));
    }
    return true;
}

[[noreturn]] void invalid_unicode_escape(const Token& token) {
    throw Error(ErrorKind::invalid_input, "invalid Unicode escape in string" + at_line(token.line),
                "Unicode escapes must be \\uXXXX or \\UXXXXXXXX naming a character other "
                "than U+0000, with surrogates only in pairs.");
}

// Decodes the \u or \U escape at body[pos] (pointing at the 'u' or 'U'),
// combining a UTF-16 surrogate pair written as two escapes. Returns the
// position after the escape.
size_t decode_unicode_escape(const Token& token, std::string_view body, size_t pos,
                             std::string& out) {
    size_t digits = body[pos] == 'u' ? 4 : 8;
    uint32_t code = 0;
    if (!read_hex(body, pos + 1, digits, code))
        invalid_unicode_escape(token);
    pos += 1 + digits;
    if (code >= 0xd800 && code <= 0xdbff) {
        uint32_t low = 0;
        if (pos + 1 >= body.size() || body[pos] != '\\' || body[pos + 1] != 'u' ||
            !read_hex(body, pos + 2, 4, low) || low < 0xdc00 || low > 0xdfff)
            invalid_unicode_escape(token);
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        pos += 6;
    } else if (code == 0 || (code >= 0xdc00 && code <= 0xdfff) || code > 0x10ffff) {
        invalid_unicode_escape(token);
    }
    text::append_utf8(out, code);
    return pos;
}

// Decodes the escape at body[pos] (the character after a backslash) into
// out; returns the position after it.
size_t decode_escape(const Token& token, std::string_view body, size_t pos, std::string& out) {
    char c = body[pos];
    switch (c) {
        case 'b':
            out += '\b';
            return pos + 1;
        case 'f':
            out += '\f';
            return pos + 1;
        case 'n':
            out += '\n';
            return pos + 1;
        case 'r':
            out += '\r';
            return pos + 1;
        case 't':
            out += '\t';
            return pos + 1;
        case 'u':
        case 'U':
            return decode_unicode_escape(token, body, pos, out);
        default:
            break;
    }
    if (c >= '0' && c <= '7') {
        unsigned value = 0;
        size_t end = pos;
        while (end < body.size() && end < pos + 3 && body[end] >= '0' && body[end] <= '7')
            value = value * 8 + static_cast<unsigned>(body[end++] - '0');
        out += static_cast<char>(value & 0xff);
        return end;
    }
    if (c == 'x' && pos + 1 < body.size() && is_hex_digit(body[pos + 1])) {
        unsigned value = static_cast<unsigned>(text::hex_digit_value(body[pos + 1]));
        size_t end = pos + 2;
        if (end < body.size() && is_hex_digit(body[end]))
            value = value * 16 + static_cast<unsigned>(text::hex_digit_value(body[end++]));
        out += static_cast<char>(value);
        return end;
    }
    out += c;  // \\, \', and any other character stands for itself
    return pos + 1;
}

std::string decode_escape_string(const Token& token) {
    std::string_view body = token.text.substr(2, token.text.size() - 3);
    std::string out;
    out.reserve(body.size());
    size_t pos = 0;
    while (pos < body.size()) {
        char c = body[pos];
        if (c == '\\' && pos + 1 < body.size()) {
            pos = decode_escape(token, body, pos + 1, out);
        } else {
            out += c;
            pos += (c == '\'') ? 2 : 1;  // '' is one quote
        }
    }
    return out;
}

// The text between a token's quotes, with the closing quote undoubled.
std::string unquote(std::string_view text, size_t prefix, char close, bool doubled) {
    std::string_view body = text.substr(prefix + 1, text.size() - prefix - 2);
    std::string out;
    out.reserve(body.size());
    for (size_t i = 0; i < body.size(); i++) {
        out += body[i];
        if (doubled && body[i] == close)
            i++;
    }
    return out;
}

}  // namespace

bool Token::is(std::string_view symbol) const {
    return (kind == TokenKind::punctuation || kind == TokenKind::op) && text == symbol;
}

bool Token::is_word(std::string_view keyword) const {
    if (kind != TokenKind::word || text.size() != keyword.size())
        return false;
    for (size_t i = 0; i < text.size(); i++) {
        if (ascii_lower(text[i]) != ascii_lower(keyword[i]))
            return false;
    }
    return true;
}

Lexer::Lexer(std::string_view text, Dialect dialect, size_t first_line)
    : text_(text), dialect_(dialect), line_(first_line) {}

Token Lexer::make(TokenKind kind, size_t start, size_t start_line) const {
    return Token{kind, text_.substr(start, pos_ - start), start_line};
}

void Lexer::advance_to(size_t end) {
    for (; pos_ < end; pos_++) {
        if (text_[pos_] == '\n')
            line_++;
    }
}

void Lexer::skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
        advance_to(pos_ + 1);
}

Token Lexer::next() {
    skip_space();
    if (pos_ >= text_.size())
        return Token{TokenKind::end, text_.substr(text_.size()), line_};
    char c = at(0);
    char c1 = ascii_lower(c);
    bool postgres = dialect_ == Dialect::postgresql;
    if (c == '-' && at(1) == '-')
        return line_comment();
    if (c == '/' && at(1) == '*')
        return block_comment();
    if (c == '\'')
        return quoted(TokenKind::string, 0, '\'', false);
    if (at(1) == '\'') {
        if (c1 == 'e' && postgres)
            return quoted(TokenKind::escape_string, 1, '\'', true);
        if (c1 == 'x')
            return quoted(TokenKind::hex_string, 1, '\'', false);
        if (c1 == 'b' && postgres)
            return quoted(TokenKind::bit_string, 1, '\'', false);
    }
    if (c == '"')
        return quoted(TokenKind::quoted_identifier, 0, '"', false);
    if (!postgres && (c == '`' || c == '['))
        return quoted(TokenKind::quoted_identifier, 0, c == '`' ? '`' : ']', false);
    if (c == '$' && postgres && !is_digit(at(1)))
        return dollar_quoted();
    if (is_digit(c) || (c == '.' && is_digit(at(1))))
        return number();
    if (is_identifier_start(c))
        return word();
    if (c == '$' ||
        (!postgres && (c == '?' || ((c == ':' || c == '@') && is_identifier_char(at(1))))))
        return parameter();
    return symbol();
}

Token Lexer::line_comment() {
    size_t start = pos_;
    size_t end = text_.find('\n', pos_);
    pos_ = end == std::string_view::npos ? text_.size() : end;
    return make(TokenKind::comment, start, line_);
}

// PostgreSQL nests block comments, SQLite does not.
Token Lexer::block_comment() {
    size_t start = pos_;
    size_t start_line = line_;
    int depth = 0;
    while (pos_ < text_.size()) {
        if (at(0) == '/' && at(1) == '*' && (depth == 0 || dialect_ == Dialect::postgresql)) {
            depth++;
            advance_to(pos_ + 2);
        } else if (at(0) == '*' && at(1) == '/') {
            advance_to(pos_ + 2);
            if (--depth == 0)
                return make(TokenKind::comment, start, start_line);
        } else {
            advance_to(pos_ + 1);
        }
    }
    throw Error(ErrorKind::invalid_input, "unterminated /* comment" + at_line(start_line));
}

Token Lexer::quoted(TokenKind kind, size_t prefix, char close, bool backslash_escapes) {
    size_t start = pos_;
    size_t start_line = line_;
    bool doubled = close != ']';
    advance_to(pos_ + prefix + 1);
    while (pos_ < text_.size()) {
        char c = at(0);
        if (backslash_escapes && c == '\\') {
            advance_to(std::min(pos_ + 2, text_.size()));
        } else if (c == close && doubled && at(1) == close) {
            advance_to(pos_ + 2);
        } else {
            advance_to(pos_ + 1);
            if (c == close)
                return make(kind, start, start_line);
        }
    }
    bool name = kind == TokenKind::quoted_identifier;
    throw Error(ErrorKind::invalid_input, std::string(name ? "unterminated quoted identifier"
                                                           : "unterminated quoted string") +
                                              at_line(start_line));
}

Token Lexer::dollar_quoted() {
    size_t start = pos_;
    size_t start_line = line_;
    size_t tag_end = pos_ + 1;
    if (tag_end < text_.size() && is_identifier_start(text_[tag_end])) {
        while (tag_end < text_.size() && is_identifier_char(text_[tag_end]) &&
               text_[tag_end] != '$')
            tag_end++;
    }
    if (tag_end >= text_.size() || text_[tag_end] != '$')
        return symbol();  // a lone '$': not a token
    std::string_view tag = text_.substr(pos_, tag_end + 1 - pos_);
    size_t close = text_.find(tag, tag_end + 1);
    if (close == std::string_view::npos)
        throw Error(ErrorKind::invalid_input,
                    "unterminated dollar-quoted string" + at_line(start_line));
    advance_to(close + tag.size());
    return make(TokenKind::dollar_string, start, start_line);
}

Token Lexer::number() {
    size_t start = pos_;
    while (is_digit(at(0)))
        pos_++;
    if (at(0) == '.') {
        pos_++;
        while (is_digit(at(0)))
            pos_++;
    }
    if (ascii_lower(at(0)) == 'e') {
        size_t digits = (at(1) == '+' || at(1) == '-') ? 2 : 1;
        if (is_digit(at(digits))) {
            pos_ += digits;
            while (is_digit(at(0)))
                pos_++;
        }
    }
    if (is_identifier_char(at(0)) || at(0) == '.') {
        size_t end = pos_ + 1;
        throw Error(ErrorKind::invalid_input,
                    "trailing junk after numeric literal \"" +
                        std::string(text_.substr(start, end - start)) + "\"" + at_line(line_),
                    "Numbers are decimal digits with an optional point and exponent.");
    }
    return make(TokenKind::number, start, line_);
}

Token Lexer::word() {
    size_t start = pos_;
    while (is_identifier_char(at(0)))
        pos_++;
    return make(TokenKind::word, start, line_);
}

Token Lexer::parameter() {
    size_t start = pos_++;
    while (is_identifier_char(at(0)))
        pos_++;
    return make(TokenKind::parameter, start, line_);
}

Token Lexer::symbol() {
    size_t start = pos_;
    char c = at(0);
    if (c == ':' && at(1) == ':') {
        pos_ += 2;
        return make(TokenKind::punctuation, start, line_);
    }
    if (c == '(' || c == ')' || c == ',' || c == ';' || c == '.' || c == '[' || c == ']' ||
        c == ':') {
        pos_++;
        return make(TokenKind::punctuation, start, line_);
    }
    if (!is_operator_char(c, dialect_))
        throw Error(ErrorKind::invalid_input,
                    "unexpected character " + describe_char(c) + at_line(line_));
    // An operator runs until a character that cannot be in one, or a comment.
    pos_++;
    while (is_operator_char(at(0), dialect_) && !(at(0) == '-' && at(1) == '-') &&
           !(at(0) == '/' && at(1) == '*'))
        pos_++;
    return make(TokenKind::op, start, line_);
}

std::string identifier_value(const Token& token, Dialect dialect) {
    if (token.kind == TokenKind::word) {
        std::string name(token.text);
        if (dialect == Dialect::postgresql) {
            for (char& c : name)
                c = ascii_lower(c);
        }
        return name;
    }
    char close = token.text.front() == '[' ? ']' : token.text.front();
    std::string name = unquote(token.text, 0, close, close != ']');
    if (name.empty())
        throw Error(ErrorKind::invalid_input,
                    "zero-length delimited identifier" + at_line(token.line));
    return name;
}

std::string string_value(const Token& token) {
    if (token.kind == TokenKind::escape_string)
        return decode_escape_string(token);
    return unquote(token.text, token.kind == TokenKind::string ? 0 : 1, '\'', true);
}

// ---------------------------------------------------------------------------
// StatementSplitter

StatementSplitter::StatementSplitter(Dialect dialect, Handler on_statement,
                                     size_t max_statement_bytes)
    : dialect_(dialect),
      on_statement_(std::move(on_statement)),
      max_statement_bytes_(max_statement_bytes) {}

void StatementSplitter::feed(std::string_view chunk) {
    for (char c : chunk)
        step(c);
}

void StatementSplitter::append(char c) {
    if (!in_statement_)
        return;
    if (statement_.size() >= max_statement_bytes_)
        throw Error(ErrorKind::invalid_input,
                    "statement" + at_line(statement_line_) + " is longer than " +
                        std::to_string(max_statement_bytes_) + " bytes",
                    "A quote or parenthesis that is never closed makes the rest of the input "
                    "one statement.",
                    "Check that the dump is complete and not corrupt, or raise the limit.");
    statement_ += c;
}

void StatementSplitter::begin_statement() {
    if (in_statement_)
        return;
    in_statement_ = true;
    statement_line_ = line_;
    statement_.clear();
}

void StatementSplitter::emit(Statement::Kind kind) {
    Statement statement{kind, statement_, statement_line_};
    in_statement_ = false;
    paren_depth_ = 0;
    words_ = 0;
    create_ = false;
    routine_ = false;
    block_depth_ = 0;
    on_statement_(statement);
    statement_.clear();
}

// Keeps count of BEGIN ... END blocks in the body of a CREATE TRIGGER (SQLite)
// or of a CREATE FUNCTION or PROCEDURE ... BEGIN ATOMIC (PostgreSQL), whose
// statements end in ';' without ending the CREATE. CASE ... END nests inside.
void StatementSplitter::end_word() {
    if (word_length_ == 0)
        return;
    bool whole = word_length_ == word_.size();
    if (paren_depth_ == 0 && whole) {
        words_++;
        if (words_ == 1) {
            create_ = word_ == "create";
        } else if (create_ && words_ <= 6 &&
                   (word_ == "trigger" || word_ == "function" || word_ == "procedure")) {
            routine_ = true;
        } else if (routine_ && word_ == "begin") {
            block_depth_++;
        } else if (routine_ && block_depth_ > 0 && word_ == "case") {
            block_depth_++;
        } else if (routine_ && block_depth_ > 0 && word_ == "end") {
            block_depth_--;
        }
    } else if (paren_depth_ == 0) {
        words_++;
    }
    word_.clear();
    word_length_ = 0;
}

void StatementSplitter::step(char c) {
    switch (state_) {
        case State::normal:
            step_normal(c);
            break;
        case State::dash:
        case State::slash:
            step_pending(c);
            break;
        case State::line_comment:
            if (c == '\n')
                state_ = State::normal;
            append(c);
            break;
        case State::block_comment:
        case State::block_star:
        case State::block_slash:
            step_block_comment(c);
            break;
        case State::quote:
            append(c);
            if (c == close_quote_)
                state_ = close_quote_ == ']' ? State::normal : State::quote_end;
            break;
        case State::quote_end:
            step_quote_end(c);
            break;
        case State::escape_quote:
            append(c);
            if (c == '\\') {
                state_ = State::escape_next;
            } else if (c == '\'') {
                state_ = State::quote_end;
            }
            break;
        case State::escape_next:
            append(c);
            state_ = State::escape_quote;
            break;
        case State::dollar_tag:
            step_dollar_tag(c);
            break;
        case State::dollar_quote:
            step_dollar_quote(c);
            break;
        case State::meta_command:
            if (c == '\n') {
                if (!statement_.empty() && statement_.back() == '\r')
                    statement_.pop_back();
                state_ = State::normal;
                emit(Statement::Kind::meta_command);
            } else {
                append(c);
            }
            break;
        case State::copy_data:
            step_copy_data(c);
            break;
    }
    if (c == '\n')
        line_++;
}

void StatementSplitter::skip_copy_data() {
    state_ = State::copy_data;
    copy_line_.clear();
    quote_line_ = line_;
}

void StatementSplitter::step_copy_data(char c) {
    if (c != '\n') {
        // Four characters tell "\." and "\.\r" from any longer line.
        if (copy_line_.size() < 4)
            copy_line_ += c;
        return;
    }
    if (copy_line_ == "\\." || copy_line_ == "\\.\r")
        state_ = State::normal;
    copy_line_.clear();
}

void StatementSplitter::step_normal(char c) {
    if (is_identifier_char(c) && (c != '$' || word_length_ > 0)) {
        begin_statement();
        append(c);
        if (word_.size() < 16)
            word_ += ascii_lower(c);
        word_length_++;
        return;
    }
    bool escape_prefix = dialect_ == Dialect::postgresql && word_length_ == 1 && word_ == "e";
    end_word();
    if (is_space(c)) {
        append(c);
        return;
    }
    if (c == '-' || c == '/') {
        // Decided by the next character; appended now only inside a statement.
        append(c);
        state_ = c == '-' ? State::dash : State::slash;
        quote_line_ = line_;
        return;
    }
    if (c == '\\' && !in_statement_) {
        begin_statement();
        append(c);
        state_ = State::meta_command;
        return;
    }
    begin_statement();
    append(c);
    quote_line_ = line_;
    switch (c) {
        case '\'':
            close_quote_ = '\'';
            escape_string_ = escape_prefix;
            state_ = escape_prefix ? State::escape_quote : State::quote;
            break;
        case '"':
            close_quote_ = '"';
            escape_string_ = false;
            state_ = State::quote;
            break;
        case '`':
        case '[':
            if (dialect_ == Dialect::sqlite) {
                close_quote_ = c == '[' ? ']' : '`';
                escape_string_ = false;
                state_ = State::quote;
            }
            break;
        case '$':
            if (dialect_ == Dialect::postgresql) {
                dollar_tag_ = "$";
                state_ = State::dollar_tag;
            }
            break;
        case '(':
            paren_depth_++;
            break;
        case ')':
            if (paren_depth_ > 0)
                paren_depth_--;
            break;
        case ';':
            if (paren_depth_ == 0 && block_depth_ == 0)
                emit(Statement::Kind::sql);
            break;
        default:
            break;
    }
}

void StatementSplitter::step_quote_end(char c) {
    if (c == close_quote_) {
        append(c);  // a doubled quote: still inside
        state_ = escape_string_ ? State::escape_quote : State::quote;
        return;
    }
    state_ = State::normal;
    step_normal(c);
}

// The character after a '-' or '/' decides whether a comment starts.
void StatementSplitter::step_pending(char c) {
    char pending = state_ == State::dash ? '-' : '/';
    if (pending == '-' && c == '-') {
        state_ = State::line_comment;
        append(c);
    } else if (pending == '/' && c == '*') {
        state_ = State::block_comment;
        comment_depth_ = 1;
        append(c);
    } else {
        if (!in_statement_) {
            begin_statement();
            append(pending);
        }
        state_ = State::normal;
        step_normal(c);
    }
}

void StatementSplitter::step_dollar_tag(char c) {
    bool tag_char = is_identifier_char(c) && c != '$' && !(dollar_tag_.size() == 1 && is_digit(c));
    if (tag_char) {
        append(c);
        dollar_tag_ += c;
    } else if (c == '$') {
        append(c);
        dollar_tag_ += c;
        dollar_match_ = 0;
        state_ = State::dollar_quote;
    } else {
        state_ = State::normal;  // $1 or a stray '$': not a quote
        step_normal(c);
    }
}

void StatementSplitter::step_dollar_quote(char c) {
    append(c);
    if (c == dollar_tag_[dollar_match_]) {
        if (++dollar_match_ == dollar_tag_.size())
            state_ = State::normal;
    } else {
        // '$' occurs in a tag only at its ends, so a mismatch restarts there.
        dollar_match_ = c == '$' ? 1 : 0;
    }
}

void StatementSplitter::step_block_comment(char c) {
    append(c);
    bool nests = dialect_ == Dialect::postgresql;
    if (state_ == State::block_star && c == '/') {
        state_ = --comment_depth_ == 0 ? State::normal : State::block_comment;
    } else if (state_ == State::block_slash && c == '*' && nests) {
        comment_depth_++;
        state_ = State::block_comment;
    } else {
        state_ = c == '*'   ? State::block_star
                 : c == '/' ? State::block_slash
                            : State::block_comment;
    }
}

namespace {

[[noreturn]] void input_ends_early(std::string message, std::string hint) {
    throw Error(ErrorKind::invalid_input, std::move(message),
                "The input ends before the statement does.", std::move(hint));
}

}  // namespace

void StatementSplitter::finish() {
    const char* truncated = "Check that the dump is complete.";
    switch (state_) {
        case State::block_comment:
        case State::block_star:
        case State::block_slash:
            input_ends_early("unterminated /* comment" + at_line(quote_line_), truncated);
        case State::quote:
        case State::escape_quote:
        case State::escape_next:
            input_ends_early(std::string(close_quote_ == '\'' ? "unterminated quoted string"
                                                              : "unterminated quoted identifier") +
                                 at_line(quote_line_),
                             truncated);
        case State::dollar_quote:
            input_ends_early("unterminated dollar-quoted string" + at_line(quote_line_), truncated);
        case State::copy_data:
            input_ends_early("input ends inside the data of the COPY" + at_line(quote_line_),
                             "COPY data ends with a line \\.; check that the dump is complete.");
        case State::meta_command:
            state_ = State::normal;
            emit(Statement::Kind::meta_command);
            return;
        case State::dash:
        case State::slash:
            if (!in_statement_)
                input_ends_early("input ends inside a statement" + at_line(quote_line_), truncated);
            break;
        default:
            break;
    }
    if (in_statement_)
        input_ends_early("input ends inside the statement that starts" + at_line(statement_line_),
                         "Check that the dump is complete and that its last statement ends with a "
                         "semicolon.");
}

}  // namespace ferry::sql
