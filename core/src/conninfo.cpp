// Peer string classification and password redaction (see conninfo.hpp).
#include "ferry/conninfo.hpp"

#include <cctype>

#include "ferry/error.hpp"

namespace ferry {
namespace {

constexpr std::string_view kMask = "********";

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool is_uri(std::string_view s) {
    return starts_with(s, "postgresql://") || starts_with(s, "postgres://");
}

// Keywords whose values are secrets: the password, and the passphrase of
// the client's SSL key.
bool is_secret_keyword(std::string_view key) {
    return key == "password" || key == "sslpassword";
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// libpq percent-decodes a URI's query keywords too (?pass%77ord= is the
// password), so they are compared decoded.
std::string percent_decoded(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
            hex_digit(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// Masks the value of every secret query parameter in a URI's query part.
void redact_uri_query(std::string& uri) {
    auto query = uri.find('?');
    if (query == std::string::npos)
        return;
    size_t pos = query + 1;
    while (pos < uri.size()) {
        size_t end = uri.find('&', pos);
        if (end == std::string::npos)
            end = uri.size();
        size_t eq = uri.find('=', pos);
        if (eq != std::string::npos && eq < end &&
            is_secret_keyword(percent_decoded(std::string_view(uri).substr(pos, eq - pos)))) {
            uri.replace(eq + 1, end - eq - 1, kMask);
            end = eq + 1 + kMask.size();
        }
        pos = end + 1;
    }
}

std::string redact_uri(std::string_view peer) {
    std::string uri(peer);
    size_t authority = uri.find("://") + 3;
    // libpq's user info is what precedes the first '@' before any '/'; a
    // password may hold '?', '#' or ':' unencoded. Masking to the last '@'
    // before the first '/' covers that and a password with a stray '@'.
    size_t authority_end = uri.find('/', authority);
    if (authority_end == std::string::npos)
        authority_end = uri.size();
    size_t at = uri.rfind('@', authority_end - 1);
    if (at != std::string::npos && at >= authority) {
        size_t colon = uri.find(':', authority);
        if (colon != std::string::npos && colon < at)
            uri.replace(colon + 1, at - colon - 1, kMask);
    }
    redact_uri_query(uri);  // after the user info: a '?' in a password is masked
    return uri;
}

// A value in keyword/value form: quoted, with quotes and backslashes escaped.
std::string quote_conninfo_value(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "'";
}

// Keyword/value form: key = value pairs separated by blanks, values optionally
// single-quoted with backslash escapes, exactly as libpq parses them.
std::string redact_keywords(std::string_view s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        if (std::isspace(static_cast<unsigned char>(s[i]))) {
            out += s[i++];
            continue;
        }
        size_t key_start = i;
        while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i])))
            i++;
        std::string_view key = s.substr(key_start, i - key_start);
        out.append(key);
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
            out += s[i++];
        if (i >= s.size() || s[i] != '=')
            continue;
        out += s[i++];
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
            out += s[i++];
        size_t value_start = i;
        std::string value;  // unescaped
        if (i < s.size() && s[i] == '\'') {
            i++;
            while (i < s.size() && s[i] != '\'') {
                if (s[i] == '\\' && i + 1 < s.size())
                    i++;
                value += s[i++];
            }
            if (i < s.size())
                i++;
        } else {
            while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])))
                value += s[i++];
        }
        if (is_secret_keyword(key)) {
            out.append(kMask);
        } else if (key == "dbname" && (value.find('=') != std::string::npos || is_uri(value))) {
            // libpq expands a dbname that is itself a connection string or URI.
            out += quote_conninfo_value(redact(value));
        } else {
            out.append(s.substr(value_start, i - value_start));
        }
    }
    return out;
}

}  // namespace

PeerAddress parse_peer(std::string_view peer) {
    if (peer.empty())
        throw Error(ErrorKind::invalid_input, "empty peer",
                    "A peer is a libpq connection string or URI, or sqlite:PATH.",
                    "Give e.g. \"host=db1 dbname=app\" or \"sqlite:/data/app.db\".");
    if (starts_with(peer, "sqlite:")) {
        std::string path(peer.substr(7));
        if (path.empty())
            throw Error(ErrorKind::invalid_input, "sqlite peer without a path", {},
                        "Write sqlite:PATH, e.g. sqlite:/data/app.db.");
        return {PeerEngine::sqlite, std::move(path)};
    }
    return {PeerEngine::postgresql, std::string(peer)};
}

std::string redact(std::string_view peer) {
    if (starts_with(peer, "sqlite:"))
        return std::string(peer);
    return is_uri(peer) ? redact_uri(peer) : redact_keywords(peer);
}

}  // namespace ferry
