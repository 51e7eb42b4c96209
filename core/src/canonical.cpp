// Canonical encoding of values and rows (see canonical.hpp, docs/hashing.md).
#include "ferry/canonical.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <vector>
#include <xxhash.h>

#include "ferry/error.hpp"
#include "ferry/text.hpp"

namespace ferry::canonical {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

[[noreturn]] void not_a_number(std::string_view text) {
    throw Error(ErrorKind::invalid_input, "invalid number \"" + std::string(text) + "\"",
                "Expected decimal digits with an optional sign, point and exponent.");
}

// Parses an optionally signed decimal exponent ("+10", "-3").
long parse_exponent(std::string_view text, std::string_view whole) {
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        not_a_number(whole);
    return negative ? -value : value;
}

}  // namespace

std::string normalize_number(std::string_view text) {
    std::string_view s = text;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    bool negative = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (iequals(s, "nan"))
        return "NaN";
    if (iequals(s, "infinity") || iequals(s, "inf"))
        return negative ? "-Infinity" : "Infinity";

    // Collect the significant digits and the position of the decimal point.
    std::string digits;
    long point = -1;  // number of digits before the point
    size_t i = 0;
    for (; i < s.size(); i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            digits += c;
        } else if (c == '.' && point < 0) {
            point = static_cast<long>(digits.size());
        } else {
            break;
        }
    }
    if (digits.empty())
        not_a_number(text);
    if (point < 0)
        point = static_cast<long>(digits.size());
    long exponent = 0;
    if (i < s.size()) {
        if (s[i] != 'e' && s[i] != 'E')
            not_a_number(text);
        exponent = parse_exponent(s.substr(i + 1), text);
    }
    size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos)
        return "0";  // any zero, including -0 and 0e5
    size_t last = digits.find_last_not_of('0');
    // value = 0.d1d2d3... * 10^(point - first) with d1 the first non-zero digit
    long sci_exponent = point - static_cast<long>(first) - 1 + exponent;
    std::string out;
    if (negative)
        out += '-';
    out += digits[first];
    if (last > first) {
        out += '.';
        out.append(digits, first + 1, last - first);
    }
    out += 'e';
    out += std::to_string(sci_exponent);
    return out;
}

size_t format_number_from_int(int64_t value, char* out) {
    // The hot path of row hashing: format directly instead of re-parsing.
    if (value == 0) {
        out[0] = '0';
        return 1;
    }
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    const char* first = digits[0] == '-' ? digits + 1 : digits;
    const char* last = end;
    while (last[-1] == '0')
        last--;
    char* put = out;
    if (digits[0] == '-')
        *put++ = '-';
    *put++ = *first;
    if (last - first > 1) {
        *put++ = '.';
        std::memcpy(put, first + 1, static_cast<size_t>(last - first - 1));
        put += last - first - 1;
    }
    *put++ = 'e';
    auto [exp_end, exp_ec] = std::to_chars(put, out + kMaxIntNumberLength, end - first - 1);
    return static_cast<size_t>(exp_end - out);
}

std::string_view without_trailing_blanks(std::string_view text) {
    constexpr uint64_t kEightBlanks = 0x2020202020202020;
    size_t end = text.size();
    while (end >= sizeof kEightBlanks) {
        uint64_t word;
        std::memcpy(&word, text.data() + end - sizeof word, sizeof word);
        if (word != kEightBlanks)
            break;
        end -= sizeof word;
    }
    while (end > 0 && text[end - 1] == ' ')
        end--;
    return text.substr(0, end);
}

std::string number_from_int(int64_t value) {
    char text[kMaxIntNumberLength];
    return std::string(text, format_number_from_int(value, text));
}

std::string number_from_double(double value) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round trip
    return normalize_number(std::string_view(buf, end - buf));
}

std::string number_from_float(float value) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest for float
    return normalize_number(std::string_view(buf, end - buf));
}

namespace {

void write_json_string(std::string_view s, std::string& out) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    static const char hex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

// A single pass over JSON text that writes its canonical form. Objects are
// buffered per level to sort their members; nesting is kept on an explicit
// stack, so depth is bounded by memory, not by the C stack (this runs inside
// database servers, on values PostgreSQL accepted at any depth). Each level's
// text is copied into its parent's, which is quadratic in the depth: fine for
// documents tens of levels deep, slow (not unsafe) for thousands.
class JsonNormalizer {
  public:
    explicit JsonNormalizer(std::string_view text) : in_(text) {}

    std::string run() {
        std::string value;
        for (;;) {
            skip_space();
            if (!parse_value_or_open(value))
                continue;  // a container was opened: parse its first element
            // A value is complete; hand it to its container, closing
            // containers as long as they end here.
            for (;;) {
                if (open_.empty()) {
                    skip_space();
                    if (pos_ != in_.size())
                        fail("unexpected text after the value");
                    return value;
                }
                Container& top = open_.back();
                if (top.object) {
                    top.members.push_back({std::move(top.key), std::move(value)});
                } else {
                    if (top.text.size() > 1)
                        top.text += ',';
                    top.text += value;
                }
                skip_space();
                char c = next("',' or the end of an array or object");
                if (c == ',') {
                    if (top.object)
                        read_key(top);
                    break;
                }
                if (c != (top.object ? '}' : ']'))
                    fail(top.object ? "expected ',' or '}'" : "expected ',' or ']'");
                value = close(top);
                open_.pop_back();
            }
        }
    }

  private:
    struct Member {
        std::string key;
        std::string value;
        size_t order = 0;
    };
    struct Container {
        bool object = false;
        std::string text;  // arrays: "[" and the elements so far
        std::string key;   // objects: the key whose value is being parsed
        std::vector<Member> members;
    };

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorKind::invalid_input, "invalid JSON value",
                    what + " at byte " + std::to_string(pos_));
    }
    void skip_space() {
        while (pos_ < in_.size() &&
               (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
            pos_++;
    }
    char next(const char* expected) {
        if (pos_ >= in_.size())
            fail(std::string("expected ") + expected + ", found the end");
        return in_[pos_++];
    }

    // Parses a scalar into value and returns true, or opens a container and
    // returns false (an empty container is complete at once: true).
    bool parse_value_or_open(std::string& value) {
        char c = next("a value");
        if (c == '{' || c == '[') {
            skip_space();
            if (pos_ < in_.size() && in_[pos_] == (c == '{' ? '}' : ']')) {
                pos_++;
                value = c == '{' ? "{}" : "[]";
                return true;
            }
            open_.push_back(Container{c == '{', c == '{' ? "" : "[", {}, {}});
            if (c == '{')
                read_key(open_.back());
            return false;
        }
        value.clear();
        if (c == '"') {
            std::string text = read_string();
            write_json_string(text, value);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            pos_--;
            value = normalize_number(read_number());
        } else if (!read_literal(c, value)) {
            pos_--;
            fail("expected a value");
        }
        return true;
    }

    void read_key(Container& object) {
        skip_space();
        if (next("a key") != '"')
            fail("expected a key");
        object.key = read_string();
        skip_space();
        if (next("':'") != ':')
            fail("expected ':'");
    }

    bool read_literal(char first, std::string& value) {
        for (const char* word : {"true", "false", "null"}) {
            std::string_view w(word);
            if (first == w[0] && in_.substr(pos_ - 1, w.size()) == w) {
                pos_ += w.size() - 1;
                value = w;
                return true;
            }
        }
        return false;
    }

    std::string_view read_number() {
        size_t start = pos_;
        auto digits = [&] {
            size_t from = pos_;
            while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9')
                pos_++;
            return pos_ > from;
        };
        if (in_[pos_] == '-')
            pos_++;
        if (pos_ < in_.size() && in_[pos_] == '0')
            pos_++;
        else if (!digits())
            fail("invalid number");
        if (pos_ < in_.size() && in_[pos_] == '.') {
            pos_++;
            if (!digits())
                fail("invalid number");
        }
        if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
            pos_++;
            if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-'))
                pos_++;
            if (!digits())
                fail("invalid number");
        }
        return in_.substr(start, pos_ - start);
    }

    uint32_t read_hex4() {
        if (pos_ + 4 > in_.size())
            fail("invalid \\u escape");
        uint32_t code = 0;
        for (int i = 0; i < 4; i++) {
            char h = in_[pos_++];
            int digit = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
            if (digit < 0)
                fail("invalid \\u escape");
            code = code * 16 + static_cast<uint32_t>(digit);
        }
        return code;
    }

    // The decoded string after an opening quote.
    std::string read_string() {
        std::string text;
        for (;;) {
            if (pos_ >= in_.size())
                fail("unterminated string");
            unsigned char c = static_cast<unsigned char>(in_[pos_]);
            if (c == '"') {
                pos_++;
                return text;
            }
            if (c < 0x20)
                fail("control character in a string");
            if (c != '\\') {
                size_t length = text::utf8_sequence_length(in_, pos_);
                if (length == 0)
                    fail("invalid UTF-8");
                text.append(in_.substr(pos_, length));
                pos_ += length;
                continue;
            }
            pos_++;
            char escape = next("an escape");
            switch (escape) {
                case '"':
                case '\\':
                case '/':
                    text += escape;
                    break;
                case 'b':
                    text += '\b';
                    break;
                case 'f':
                    text += '\f';
                    break;
                case 'n':
                    text += '\n';
                    break;
                case 'r':
                    text += '\r';
                    break;
                case 't':
                    text += '\t';
                    break;
                case 'u': {
                    uint32_t code = read_hex4();
                    if (code >= 0xD800 && code <= 0xDBFF) {
                        if (in_.substr(pos_, 2) != "\\u")
                            fail("unpaired surrogate");
                        pos_ += 2;
                        uint32_t low = read_hex4();
                        if (low < 0xDC00 || low > 0xDFFF)
                            fail("unpaired surrogate");
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    } else if (code >= 0xDC00 && code <= 0xDFFF) {
                        fail("unpaired surrogate");
                    }
                    text::append_utf8(text, code);
                    break;
                }
                default:
                    fail("invalid escape");
            }
        }
    }

    // The canonical text of a finished container: members sorted by the
    // UTF-8 bytes of their keys, the last of duplicate keys kept.
    static std::string close(Container& c) {
        if (!c.object)
            return std::move(c.text) + "]";
        // Input order breaks ties, so the last duplicate comes last; a
        // plain sort with that tie-break needs no merge buffer.
        for (size_t i = 0; i < c.members.size(); i++)
            c.members[i].order = i;
        std::sort(c.members.begin(), c.members.end(), [](const Member& a, const Member& b) {
            int order = a.key.compare(b.key);
            return order != 0 ? order < 0 : a.order < b.order;
        });
        std::string out = "{";
        for (size_t i = 0; i < c.members.size(); i++) {
            if (i + 1 < c.members.size() && c.members[i + 1].key == c.members[i].key)
                continue;  // a later duplicate follows
            if (out.size() > 1)
                out += ',';
            write_json_string(c.members[i].key, out);
            out += ':';
            out += c.members[i].value;
        }
        return out + "}";
    }

    std::string_view in_;
    size_t pos_ = 0;
    std::vector<Container> open_;
};

}  // namespace

std::string normalize_json(std::string_view text) {
    return JsonNormalizer(text).run();
}

namespace {
char* put_length(char* out, size_t length) {
    auto n = static_cast<uint32_t>(length);
    out[0] = static_cast<char>(n);
    out[1] = static_cast<char>(n >> 8);
    out[2] = static_cast<char>(n >> 16);
    out[3] = static_cast<char>(n >> 24);
    return out + 4;
}
}  // namespace

// Plain copies into a buffer that only grows: this runs for every column of
// every row hashed.
void RowEncoder::add(std::string_view column, ValueClass cls, const std::string_view* value) {
    size_t start = size_;
    size_ += 4 + column.size() + 1 + (value ? 4 + value->size() : 0);
    if (buffer_.size() < size_)
        buffer_.resize(std::max(size_, 2 * buffer_.size()));
    char* out = put_length(&buffer_[start], column.size());
    std::memcpy(out, column.data(), column.size());
    out += column.size();
    *out++ = static_cast<char>(cls);
    if (value) {
        out = put_length(out, value->size());
        if (!value->empty())
            std::memcpy(out, value->data(), value->size());
    }
}

void RowEncoder::add_null(std::string_view column) {
    add(column, ValueClass::null, nullptr);
}
void RowEncoder::add_number(std::string_view column, std::string_view v) {
    add(column, ValueClass::number, &v);
}
void RowEncoder::add_int(std::string_view column, int64_t value) {
    char text[kMaxIntNumberLength];
    std::string_view v(text, format_number_from_int(value, text));
    add(column, ValueClass::number, &v);
}
void RowEncoder::add_text(std::string_view column, std::string_view v) {
    add(column, ValueClass::text, &v);
}
void RowEncoder::add_bytes(std::string_view column, std::string_view v) {
    add(column, ValueClass::bytes, &v);
}

uint64_t hash_bytes(std::string_view bytes) {
    return XXH3_64bits(bytes.data(), bytes.size());
}

uint64_t RowEncoder::hash() const {
    return hash_bytes(bytes());
}

Hash128 RowEncoder::hash128() const {
    XXH128_hash_t h = XXH3_128bits(buffer_.data(), size_);
    return {h.low64, h.high64};
}

namespace {
// a += b modulo 2^128.
void add_128(Hash128& a, Hash128 b) {
    uint64_t low = a.low + b.low;
    a.high += b.high + (low < a.low ? 1 : 0);
    a.low = low;
}

std::string digest_detail(std::string_view hex) {
    return "Expected 32 hex digits, got \"" + std::string(hex.substr(0, 40)) + "\".";
}
}  // namespace

void TableDigest::add_row(Hash128 row_hash) {
    rows_++;
    add_128(sum_, row_hash);
}

void TableDigest::add(const TableDigest& part) {
    rows_ += part.rows_;
    add_128(sum_, part.sum_);
}

std::string TableDigest::hex() const {
    static const char digits[] = "0123456789abcdef";
    std::string out(32, '0');
    for (int i = 0; i < 16; i++) {
        out[15 - i] = digits[(sum_.high >> (4 * i)) & 15];
        out[31 - i] = digits[(sum_.low >> (4 * i)) & 15];
    }
    return out;
}

TableDigest TableDigest::from_hex(uint64_t rows, std::string_view hex) {
    // A diff's first level reads some 250,000 of these per million rows.
    static const std::array<int8_t, 256> value_of = [] {
        std::array<int8_t, 256> table{};
        for (int c = 0; c < 256; c++)
            table[c] = static_cast<int8_t>(text::hex_digit_value(static_cast<char>(c)));
        return table;
    }();
    if (hex.size() != 32)
        throw Error(ErrorKind::invalid_input, "invalid table digest", digest_detail(hex));
    TableDigest digest;
    digest.rows_ = rows;
    for (size_t i = 0; i < 32; i++) {
        int value = value_of[static_cast<unsigned char>(hex[i])];
        if (value < 0)
            throw Error(ErrorKind::invalid_input, "invalid table digest", digest_detail(hex));
        uint64_t& half = i < 16 ? digest.sum_.high : digest.sum_.low;
        half = (half << 4) | static_cast<uint64_t>(value);
    }
    return digest;
}

}  // namespace ferry::canonical
