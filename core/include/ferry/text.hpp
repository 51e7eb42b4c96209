// Small text helpers shared by the canonical encoder, the SQL lexer and the
// upsert converter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::text {

// Appends a Unicode code point (at most 0x10FFFF) as UTF-8.
void append_utf8(std::string& out, uint32_t code_point);

// Length of the well-formed UTF-8 character at text[pos] (NUL included), or
// 0 for a stray continuation byte, an overlong form, a surrogate, a code
// point beyond U+10FFFF or a sequence cut short.
size_t utf8_sequence_length(std::string_view text, size_t pos);

// The offset of the first byte that is not part of a well-formed UTF-8
// character, or npos.
size_t invalid_utf8_at(std::string_view text);

// The value of a hex digit, or -1 for any other character.
int hex_digit_value(char c);

// The bytes of "\x" followed by pairs of hex digits (bytea's hex form, and
// how ferry prints a blob); nullopt for any other text.
std::optional<std::string> bytes_from_hex(std::string_view text);

// Non-empty, and only ASCII letters, digits and the characters of `also`:
// names that go into addresses and keys unquoted (peer and job names, a
// fleet's parameter and member values).
bool is_plain_name(std::string_view text, std::string_view also);

}  // namespace ferry::text
