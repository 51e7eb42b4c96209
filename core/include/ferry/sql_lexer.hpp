// Reading SQL text written by someone else: splitting a stream into
// statements and a statement into tokens, in PostgreSQL's or SQLite's
// lexical rules.
//
// This is for checking untrusted SQL (a peer's dump, see upsert.hpp), never
// for running it: the tokens tell the caller what the text says, and the
// caller rebuilds whatever it accepts from the tokens' values. Both readers
// follow the same quoting rules, so a ';' inside a string, a quoted name, a
// comment or a dollar-quoted body never ends a statement.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace ferry::sql {

enum class Dialect { postgresql, sqlite };

enum class TokenKind {
    word,               // unquoted identifier or keyword
    quoted_identifier,  // "name"; in SQLite also [name] and `name`
    string,             // 'text' ('' is a quote)
    escape_string,      // E'text' with backslash escapes (PostgreSQL)
    hex_string,         // X'00ff': a blob in SQLite, a bit string in PostgreSQL
    bit_string,         // B'0101' (PostgreSQL)
    dollar_string,      // $tag$text$tag$ (PostgreSQL)
    number,             // 12, 1.5, .5, 1e-3; never signed: a sign is an operator
    parameter,          // $1; in SQLite also ?1, :name, @name, $name
    punctuation,        // ( ) , ; . [ ] :: :
    op,                 // a run of + - * / < > = ~ ! @ # % ^ & | ? (and ` in PostgreSQL)
    comment,            // -- to the end of the line, or /* */
    end,
};

struct Token {
    TokenKind kind = TokenKind::end;
    std::string_view text;  // as written, prefix and quotes included
    size_t line = 0;

    // A punctuation or operator token spelled exactly `symbol`.
    bool is(std::string_view symbol) const;
    // A word equal to `keyword`, compared ASCII case-insensitively.
    bool is_word(std::string_view keyword) const;
};

// Splits the whole text of one statement into tokens, comments included.
// Throws Error(invalid_input) naming the line for text that is not a token
// (a quote never closed, a stray character, "12abc"). The text is borrowed:
// tokens point into it.
class Lexer {
  public:
    Lexer(std::string_view text, Dialect dialect, size_t first_line = 1);

    // The next token; TokenKind::end, again and again, after the last.
    Token next();

  private:
    char at(size_t offset) const { return pos_ + offset < text_.size() ? text_[pos_ + offset] : 0; }
    Token make(TokenKind kind, size_t start, size_t start_line) const;
    void skip_space();
    Token line_comment();
    Token block_comment();
    Token quoted(TokenKind kind, size_t prefix, char close, bool backslash_escapes);
    Token dollar_quoted();
    Token number();
    Token word();
    Token parameter();
    Token symbol();
    void advance_to(size_t end);

    std::string_view text_;
    Dialect dialect_;
    size_t pos_ = 0;
    size_t line_;
};

// The name an identifier token stands for: a word folded to lower case in
// PostgreSQL (ASCII letters only, as with a UTF-8 database) and kept as
// written in SQLite; a quoted identifier without its quotes, doubled quotes
// undoubled. Throws Error(invalid_input) for "" (an empty name).
std::string identifier_value(const Token& token, Dialect dialect);

// The text of a string, escape_string, hex_string or bit_string token:
// quotes and prefix removed, '' undoubled, and in an escape string the
// backslash escapes decoded (\n, \t, \b, \f, \r, octal \ooo, \xhh, \uXXXX,
// \UXXXXXXXX, \ followed by any other character stands for that character).
// Throws Error(invalid_input) for an escape that yields no character (\u0000,
// a lone surrogate, a code point above U+10FFFF).
std::string string_value(const Token& token);

// One statement as the splitter found it: the text from its first token up
// to and including its terminating ';', or, for a psql meta-command such as
// \restrict, the line without its end-of-line.
struct Statement {
    enum class Kind { sql, meta_command };
    Kind kind = Kind::sql;
    std::string_view text;
    size_t line = 0;  // of the first character
};

// Cuts a stream of SQL text, fed in pieces of any size, into statements,
// without ever holding more than the statement being read. A statement ends
// at a ';' outside quotes, comments, dollar-quoted bodies and parentheses,
// and outside the BEGIN ... END body of a CREATE TRIGGER, FUNCTION or
// PROCEDURE; comments and blank space between statements are dropped. A line
// starting with a backslash between statements is a psql meta-command.
class StatementSplitter {
  public:
    using Handler = std::function<void(const Statement&)>;

    // Throws Error(invalid_input) from feed() when a statement grows beyond
    // max_statement_bytes, so that a dump never closing a quote cannot take
    // all memory.
    StatementSplitter(Dialect dialect, Handler on_statement, size_t max_statement_bytes);

    // Passes every statement completed by `chunk` to the handler, in order.
    void feed(std::string_view chunk);
    // Called by the handler for a COPY ... FROM STDIN: the lines that follow,
    // up to a line "\.", are its data, not SQL, and are skipped.
    void skip_copy_data();
    // Throws Error(invalid_input) if the input ended inside a statement,
    // a quote or a comment.
    void finish();

  private:
    enum class State {
        normal,
        dash,   // a '-' that may start a -- comment
        slash,  // a '/' that may start a /* comment
        line_comment,
        block_comment,
        block_star,    // a '*' inside a comment that may end it
        block_slash,   // a '/' inside a comment that may open a nested one
        quote,         // inside '...', "...", `...` or [...]
        quote_end,     // after a closing quote that may be doubled
        escape_quote,  // inside E'...'
        escape_next,   // after a backslash inside E'...'
        dollar_tag,    // reading the $tag$ that opens a dollar quote
        dollar_quote,  // inside $tag$...$tag$
        meta_command,  // a psql backslash command, to the end of the line
        copy_data,     // the data lines of a COPY ... FROM STDIN
    };

    void step(char c);
    void step_normal(char c);
    void step_pending(char c);
    void step_copy_data(char c);
    void step_quote_end(char c);
    void step_dollar_tag(char c);
    void step_dollar_quote(char c);
    void step_block_comment(char c);
    void begin_statement();
    void append(char c);
    void end_word();
    void emit(Statement::Kind kind);

    Dialect dialect_;
    Handler on_statement_;
    size_t max_statement_bytes_;
    State state_ = State::normal;
    std::string statement_;
    size_t line_ = 1;
    size_t statement_line_ = 0;
    size_t quote_line_ = 0;  // where the open quote or comment started
    bool in_statement_ = false;
    char close_quote_ = 0;
    bool escape_string_ = false;  // the open quote is an E'' string
    int comment_depth_ = 0;
    int paren_depth_ = 0;
    // Words at parenthesis depth 0, to find CREATE ... TRIGGER ... BEGIN.
    std::string word_;  // the current word, lower case, cut at 16 bytes
    size_t word_length_ = 0;
    int words_ = 0;
    bool create_ = false;
    bool routine_ = false;
    int block_depth_ = 0;
    std::string copy_line_;   // the start of the current COPY data line
    std::string dollar_tag_;  // "$tag$" while reading or inside a dollar quote
    size_t dollar_match_ = 0;
};

}  // namespace ferry::sql
