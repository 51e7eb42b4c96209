// Canonical values of SQLite data (see canonical_value.hpp).
#include "canonical_value.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

#include "ferry/error.hpp"
#include "ferry/temporal.hpp"

namespace ferry::sqlite {
namespace {

using canonical::ValueClass;

std::string lower(std::string text) {
    for (char& c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

const char kHex[] = "0123456789abcdef";

std::string hex(std::string_view bytes) {
    std::string out;
    for (unsigned char b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

std::string uuid_from_hex(const std::string& digits) {
    return digits.substr(0, 8) + "-" + digits.substr(8, 4) + "-" + digits.substr(12, 4) + "-" +
           digits.substr(16, 4) + "-" + digits.substr(20);
}

// PostgreSQL's uuid input accepts braces, upper case and missing dashes;
// its output is lower case with dashes.
std::optional<std::string> canonical_uuid(std::string_view text) {
    std::string digits;
    for (char c : text) {
        if (std::isxdigit(static_cast<unsigned char>(c)))
            digits += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (c != '-' && c != '{' && c != '}')
            return std::nullopt;
    }
    if (digits.size() != 32)
        return std::nullopt;
    return uuid_from_hex(digits);
}

std::optional<int> boolean_value(std::string_view text) {
    std::string t = lower(std::string(text));
    if (t == "t" || t == "true" || t == "yes" || t == "on" || t == "1")
        return 1;
    if (t == "f" || t == "false" || t == "no" || t == "off" || t == "0")
        return 0;
    return std::nullopt;
}

std::optional<std::string> as_number(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    try {
        return canonical::normalize_number(text);
    } catch (const ferry::Error&) {
        return std::nullopt;
    }
}

canonical::TemporalKind temporal_kind(ValueKind kind) {
    switch (kind) {
        case ValueKind::date:
            return canonical::TemporalKind::date;
        case ValueKind::time:
            return canonical::TemporalKind::time;
        case ValueKind::timestamptz:
            return canonical::TemporalKind::timestamptz;
        default:
            return canonical::TemporalKind::timestamp;
    }
}

}  // namespace

CanonicalValue canonical_text(ValueKind kind, std::string_view text) {
    switch (kind) {
        case ValueKind::numeric:
            if (auto number = as_number(text))
                return {ValueClass::number, *number};
            break;
        case ValueKind::boolean:
            if (auto flag = boolean_value(text))
                return {ValueClass::number, canonical::number_from_int(*flag)};
            break;
        case ValueKind::json:
            try {
                return {ValueClass::text, canonical::normalize_json(text)};
            } catch (const ferry::Error&) {
                // not JSON: hashed as the text it is
            }
            break;
        case ValueKind::uuid:
            if (auto uuid = canonical_uuid(text))
                return {ValueClass::text, *uuid};
            break;
        case ValueKind::date:
        case ValueKind::time:
        case ValueKind::timestamp:
        case ValueKind::timestamptz:
            if (auto temporal = canonical::normalize_temporal(text, temporal_kind(kind)))
                return {ValueClass::text, *temporal};
            break;
        case ValueKind::bpchar:
            text = canonical::without_trailing_blanks(text);
            break;
        case ValueKind::plain:
        case ValueKind::bytes:
            break;
    }
    return {ValueClass::text, text};
}

CanonicalValue canonical_value(const Column& column, sqlite3_value* value) {
    int type = sqlite3_value_type(value);
    // A column declared JSON has NUMERIC affinity: a bare JSON number such
    // as 42 is stored as a number, and is still the JSON value 42. A real
    // is read as its shortest round-trip text (SQLite's own text of it has
    // 15 digits), as the change log and a full sync write it.
    if (column.kind == ValueKind::json && type == SQLITE_FLOAT) {
        CanonicalValue json =
            canonical_text(column.kind, nlohmann::json(sqlite3_value_double(value)).dump());
        return {json.value_class, std::string(json.view())};
    }
    if (column.kind == ValueKind::json && type == SQLITE_INTEGER)
        type = SQLITE_TEXT;
    switch (type) {
        case SQLITE_NULL:
            return {};
        case SQLITE_INTEGER:
            return {ValueClass::number, canonical::number_from_int(sqlite3_value_int64(value))};
        case SQLITE_FLOAT:
            return {ValueClass::number, canonical::number_from_double(sqlite3_value_double(value))};
        case SQLITE_BLOB: {
            const void* data = sqlite3_value_blob(value);
            std::string_view bytes(static_cast<const char*>(data),
                                   data ? static_cast<size_t>(sqlite3_value_bytes(value)) : 0);
            if (column.kind == ValueKind::uuid && bytes.size() == 16)
                return {ValueClass::text, uuid_from_hex(hex(bytes))};
            return {ValueClass::bytes, bytes};
        }
        default: {
            const unsigned char* text = sqlite3_value_text(value);
            return canonical_text(
                column.kind, std::string_view(reinterpret_cast<const char*>(text),
                                              static_cast<size_t>(sqlite3_value_bytes(value))));
        }
    }
}

void add_to_row(canonical::RowEncoder& encoder, const std::string& column,
                const CanonicalValue& value) {
    switch (value.value_class) {
        case ValueClass::null:
            encoder.add_null(column);
            break;
        case ValueClass::number:
            encoder.add_number(column, value.view());
            break;
        case ValueClass::bytes:
            encoder.add_bytes(column, value.view());
            break;
        case ValueClass::text:
            encoder.add_text(column, value.view());
            break;
    }
}

std::string canonical_json(const CanonicalValue& value) {
    switch (value.value_class) {
        case ValueClass::null:
            return "null";
        case ValueClass::number:
            if (value.view() == "NaN" || value.view() == "Infinity" || value.view() == "-Infinity")
                return nlohmann::json(value.view()).dump();
            return std::string(value.view());
        case ValueClass::bytes:
            return nlohmann::json("\\x" + hex(value.view())).dump();
        case ValueClass::text:
            break;
    }
    return nlohmann::json(value.view())
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ferry::sqlite
