// Identifier and literal quoting (see sql_identifier.hpp).
#include "ferry/sql_identifier.hpp"

#include "ferry/error.hpp"

namespace ferry {
namespace {

std::string quote_with(std::string_view text, char quote) {
    std::string out;
    out.reserve(text.size() + 2);
    out += quote;
    for (char c : text) {
        if (c == quote)
            out += quote;
        out += c;
    }
    out += quote;
    return out;
}

}  // namespace

std::string quote_identifier(std::string_view name) {
    if (name.empty())
        throw Error(ErrorKind::invalid_input, "empty identifier");
    if (name.find('\0') != std::string_view::npos)
        throw Error(ErrorKind::invalid_input, "identifier contains a NUL byte");
    return quote_with(name, '"');
}

std::string quote_literal(std::string_view text) {
    if (text.find('\0') != std::string_view::npos)
        throw Error(ErrorKind::invalid_input, "string literal contains a NUL byte");
    return quote_with(text, '\'');
}

std::vector<std::string> split_name_list(std::string_view list) {
    std::vector<std::string> names(1);
    bool quoted = false;
    for (char c : list) {
        if (c == ',' && !quoted) {
            names.emplace_back();
            continue;
        }
        if (c == '"')
            quoted = !quoted;  // "" inside a quoted name toggles twice
        names.back() += c;
    }
    return names;
}

}  // namespace ferry
