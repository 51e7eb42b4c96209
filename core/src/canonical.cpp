// Canonical encoding of values and rows (see canonical.hpp, docs/hashing.md).
#include "ferry/canonical.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>
#include <xxhash.h>

#include "ferry/error.hpp"

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

std::string number_from_int(int64_t value) {
    // The hot path of row hashing: format directly instead of re-parsing.
    if (value == 0)
        return "0";
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    const char* first = digits[0] == '-' ? digits + 1 : digits;
    const char* last = end;
    while (last[-1] == '0')
        last--;
    std::string out;
    if (digits[0] == '-')
        out += '-';
    out += *first;
    if (last - first > 1) {
        out += '.';
        out.append(first + 1, last);
    }
    out += 'e';
    char exponent[8];
    auto [exp_end, exp_ec] = std::to_chars(exponent, exponent + sizeof exponent, end - first - 1);
    out.append(exponent, exp_end);
    return out;
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

// A JSON value kept with its number text intact, so that normalization does
// not round decimals through a double.
struct JsonNode {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    std::string text;  // number text, string value, or "true"/"false"
    std::vector<std::unique_ptr<JsonNode>> items;
    std::map<std::string, std::unique_ptr<JsonNode>> members;  // sorted by bytes
};

class JsonTreeBuilder : public nlohmann::json_sax<nlohmann::json> {
  public:
    std::unique_ptr<JsonNode> root;

    bool null() override { return push(JsonNode::Kind::null, {}); }
    bool boolean(bool v) override { return push(JsonNode::Kind::boolean, v ? "true" : "false"); }
    bool number_integer(number_integer_t v) override {
        return push(JsonNode::Kind::number, std::to_string(v));
    }
    bool number_unsigned(number_unsigned_t v) override {
        return push(JsonNode::Kind::number, std::to_string(v));
    }
    bool number_float(number_float_t, const string_t& s) override {
        return push(JsonNode::Kind::number, s);
    }
    bool string(string_t& v) override { return push(JsonNode::Kind::string, v); }
    bool binary(binary_t&) override { return false; }
    bool start_object(std::size_t) override { return open(JsonNode::Kind::object); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(JsonNode::Kind::array); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override {
        pending_key_ = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&,
                     const nlohmann::detail::exception& e) override {
        error = e.what();
        return false;
    }
    std::string error;

  private:
    bool attach(std::unique_ptr<JsonNode> node, JsonNode** placed) {
        *placed = node.get();
        if (stack_.empty()) {
            root = std::move(node);
        } else if (stack_.back()->kind == JsonNode::Kind::array) {
            stack_.back()->items.push_back(std::move(node));
        } else {
            stack_.back()->members[pending_key_] = std::move(node);  // last duplicate wins
        }
        return true;
    }
    bool push(JsonNode::Kind kind, std::string text) {
        auto node = std::make_unique<JsonNode>();
        node->kind = kind;
        node->text = std::move(text);
        JsonNode* placed;
        return attach(std::move(node), &placed);
    }
    bool open(JsonNode::Kind kind) {
        auto node = std::make_unique<JsonNode>();
        node->kind = kind;
        JsonNode* placed;
        attach(std::move(node), &placed);
        stack_.push_back(placed);
        return true;
    }
    bool close() {
        stack_.pop_back();
        return true;
    }
    std::vector<JsonNode*> stack_;
    std::string pending_key_;
};

void write_json_string(const std::string& s, std::string& out) {
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

void write_json(const JsonNode& node, std::string& out) {
    switch (node.kind) {
        case JsonNode::Kind::null:
            out += "null";
            break;
        case JsonNode::Kind::boolean:
            out += node.text;
            break;
        case JsonNode::Kind::number:
            out += normalize_number(node.text);
            break;
        case JsonNode::Kind::string:
            write_json_string(node.text, out);
            break;
        case JsonNode::Kind::array: {
            out += '[';
            for (size_t i = 0; i < node.items.size(); i++) {
                if (i)
                    out += ',';
                write_json(*node.items[i], out);
            }
            out += ']';
            break;
        }
        case JsonNode::Kind::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : node.members) {
                if (!first)
                    out += ',';
                first = false;
                write_json_string(key, out);
                out += ':';
                write_json(*value, out);
            }
            out += '}';
            break;
        }
    }
}

}  // namespace

std::string normalize_json(std::string_view text) {
    JsonTreeBuilder builder;
    bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
    if (!ok || !builder.root)
        throw Error(ErrorKind::invalid_input, "invalid JSON value", builder.error);
    std::string out;
    write_json(*builder.root, out);
    return out;
}

void RowEncoder::add_length(size_t length) {
    auto n = static_cast<uint32_t>(length);
    char le[4] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 24)};
    buffer_.append(le, 4);
}

void RowEncoder::add(std::string_view column, ValueClass cls, const std::string_view* value) {
    add_length(column.size());
    buffer_.append(column);
    buffer_ += static_cast<char>(cls);
    if (value) {
        add_length(value->size());
        buffer_.append(*value);
    }
}

void RowEncoder::add_null(std::string_view column) {
    add(column, ValueClass::null, nullptr);
}
void RowEncoder::add_number(std::string_view column, std::string_view v) {
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
    return hash_bytes(buffer_);
}

Hash128 RowEncoder::hash128() const {
    XXH128_hash_t h = XXH3_128bits(buffer_.data(), buffer_.size());
    return {h.low64, h.high64};
}

namespace {
// a += b modulo 2^128.
void add_128(Hash128& a, Hash128 b) {
    uint64_t low = a.low + b.low;
    a.high += b.high + (low < a.low ? 1 : 0);
    a.low = low;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
    if (hex.size() != 32)
        throw Error(ErrorKind::invalid_input, "invalid table digest", digest_detail(hex));
    TableDigest digest;
    digest.rows_ = rows;
    for (size_t i = 0; i < 32; i++) {
        int value = hex_value(hex[i]);
        if (value < 0)
            throw Error(ErrorKind::invalid_input, "invalid table digest", digest_detail(hex));
        uint64_t& half = i < 16 ? digest.sum_.high : digest.sum_.low;
        half = (half << 4) | static_cast<uint64_t>(value);
    }
    return digest;
}

}  // namespace ferry::canonical
