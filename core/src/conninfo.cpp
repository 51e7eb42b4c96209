// Peer string classification and password redaction (see conninfo.hpp).
#include "ferry/conninfo.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

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

// Keywords whose values are secrets: the password, the passphrase of the
// client's SSL key, and libpq 18's SCRAM keys and OAuth client secret
// (masked already, for a ferry built against a newer libpq).
bool is_secret_keyword(std::string_view key) {
    return key == "password" || key == "sslpassword" || key == "scram_client_key" ||
           key == "scram_server_key" || key == "oauth_client_secret";
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

// A stretch of a peer string, [begin, end).
struct Span {
    size_t begin;
    size_t end;
};

// Where a URI's user info ends (at its '@'), or where it would begin.
// libpq's user info is what precedes the first '@' before any '/'; a
// password may hold '?', '#' or ':' unencoded. Taking the last '@' before
// the first '/' covers that and a password with a stray '@'.
size_t user_info_end(std::string_view uri) {
    size_t authority = uri.find("://") + 3;
    size_t authority_end = std::min(uri.find('/', authority), uri.size());
    size_t at = uri.rfind('@', authority_end - 1);
    return at != std::string_view::npos && at >= authority ? at : authority;
}

// One parameter of a URI's query: its keyword as libpq reads it (decoded)
// and where its value is written.
struct QueryParameter {
    std::string key;
    Span value;
};

// The parameters of the query that follows the user info: a '?' in a
// password starts no query.
std::vector<QueryParameter> query_parameters(std::string_view uri) {
    std::vector<QueryParameter> parameters;
    size_t pos = uri.find('?', user_info_end(uri));
    while (pos < uri.size()) {
        pos++;
        size_t end = std::min(uri.find('&', pos), uri.size());
        size_t eq = uri.find('=', pos);
        if (eq < end)
            parameters.push_back({percent_decoded(uri.substr(pos, eq - pos)), {eq + 1, end}});
        pos = end;
    }
    return parameters;
}

// Where a URI holds secrets: the password of its user info, then the values
// of secret query parameters, in the order they appear.
std::vector<Span> uri_secret_spans(std::string_view uri) {
    std::vector<Span> spans;
    size_t info_end = user_info_end(uri);
    size_t colon = uri.find(':', uri.find("://") + 3);
    if (colon < info_end)
        spans.push_back({colon + 1, info_end});
    for (const QueryParameter& parameter : query_parameters(uri))
        if (is_secret_keyword(parameter.key))
            spans.push_back(parameter.value);
    return spans;
}

std::string redact_uri(std::string_view peer) {
    std::string uri(peer);
    std::vector<Span> spans = uri_secret_spans(peer);
    for (auto span = spans.rbegin(); span != spans.rend(); ++span)  // back to front: offsets hold
        uri.replace(span->begin, span->end - span->begin, kMask);
    return uri;
}

// The database a URI names, in its path or its query, as libpq decodes it.
std::vector<std::string> uri_dbnames(std::string_view uri) {
    std::vector<std::string> names;
    size_t path = uri.find('/', user_info_end(uri));
    size_t query = uri.find('?', user_info_end(uri));
    if (path < query)
        names.push_back(percent_decoded(uri.substr(path + 1, query - path - 1)));
    for (const QueryParameter& parameter : query_parameters(uri))
        if (parameter.key == "dbname")
            names.push_back(percent_decoded(
                uri.substr(parameter.value.begin, parameter.value.end - parameter.value.begin)));
    return names;
}

bool is_blank(char c) {
    return std::isspace(static_cast<unsigned char>(c));
}

size_t skip_blanks(std::string_view s, size_t i) {
    while (i < s.size() && is_blank(s[i]))
        i++;
    return i;
}

// One keyword = value pair of a keyword/value string, as libpq's
// conninfo_parse reads it.
struct KeywordPair {
    std::string_view key;  // as written: libpq applies no escapes to keywords
    bool has_value;        // false: a word without '=', which libpq refuses
    Span written;          // the value as written, quotes included; for a
                           // word without '=', the empty span at its end
    std::string value;     // the value as libpq reads it
};

// Reads a value at s[i] as libpq does: in single quotes, or else up to the
// next unescaped blank; a backslash escapes the next character in both.
// Advances i past the value (and past its closing quote).
std::string read_value(std::string_view s, size_t& i) {
    std::string value;
    bool quoted = i < s.size() && s[i] == '\'';
    if (quoted)
        i++;
    while (i < s.size() && (quoted ? s[i] != '\'' : !is_blank(s[i]))) {
        if (s[i] == '\\' && ++i == s.size())
            break;  // a trailing backslash escapes nothing
        value += s[i++];
    }
    if (quoted && i < s.size())
        i++;  // without the closing quote libpq refuses the string
    return value;
}

// Reads the pair at s[i] (not a blank) and advances i past it.
KeywordPair read_pair(std::string_view s, size_t& i) {
    KeywordPair pair{};
    size_t key_start = i;
    while (i < s.size() && s[i] != '=' && !is_blank(s[i]))
        i++;
    pair.key = s.substr(key_start, i - key_start);
    size_t after_key = skip_blanks(s, i);
    pair.has_value = after_key < s.size() && s[after_key] == '=';
    if (!pair.has_value) {
        pair.written = {i, i};
        return pair;
    }
    i = skip_blanks(s, after_key + 1);
    pair.written.begin = i;
    pair.value = read_value(s, i);
    pair.written.end = i;
    return pair;
}

std::vector<KeywordPair> keyword_pairs(std::string_view s) {
    std::vector<KeywordPair> pairs;
    for (size_t i = skip_blanks(s, 0); i < s.size(); i = skip_blanks(s, i))
        pairs.push_back(read_pair(s, i));
    return pairs;
}

// libpq's keywords up to PostgreSQL 18. One missing here (a newer libpq's)
// only widens the mask after a password, see continues_secret().
bool is_libpq_keyword(std::string_view key) {
    constexpr std::string_view kKeywords =
        " service user password passfile channel_binding connect_timeout dbname host hostaddr"
        " port client_encoding options application_name fallback_application_name keepalives"
        " keepalives_idle keepalives_interval keepalives_count tcp_user_timeout sslmode"
        " sslnegotiation sslcompression sslcert sslkey sslcertmode sslpassword sslrootcert sslcrl"
        " sslcrldir sslsni requirepeer require_auth ssl_min_protocol_version"
        " ssl_max_protocol_version min_protocol_version max_protocol_version gssencmode"
        " krbsrvname gsslib gssdelegation replication target_session_attrs load_balance_hosts"
        " sslkeylogfile scram_client_key scram_server_key oauth_issuer oauth_client_id"
        " oauth_client_secret oauth_scope ";
    // A keyword holds no blank (a blank ends it), so " key " matches only whole names.
    return !key.empty() && kKeywords.find(" " + std::string(key) + " ") != std::string_view::npos;
}

// libpq refuses a string in which a word without '=' or an unknown keyword
// follows a password, and names that word in its error. It is most likely
// the rest of a password that needed quoting or escaping (password=open
// sesame, password="a b"), so it counts as part of the secret.
bool continues_secret(const KeywordPair& pair) {
    return !pair.has_value || !is_libpq_keyword(pair.key);
}

// The pairs from `first` that make up one secret: `first` and the pairs
// that continue it. Returns the end of that run.
std::vector<KeywordPair>::const_iterator secret_run_end(
    std::vector<KeywordPair>::const_iterator first, std::vector<KeywordPair>::const_iterator end) {
    auto next = first + 1;
    while (next != end && continues_secret(*next))
        next++;
    return next;
}

// A dbname that is itself a connection string or URI: libpq expands it in
// PQconnectdbParams, and passes it to the server whole otherwise, where it
// may come back in an error.
bool is_nested_peer(const std::string& dbname) {
    return dbname.find('=') != std::string::npos || is_uri(dbname);
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

// Keyword/value form: masks each secret with what continues it, and
// redacts a nested dbname; everything else is kept as written.
std::string redact_keywords(std::string_view s) {
    std::vector<KeywordPair> pairs = keyword_pairs(s);
    std::string out;
    size_t copied = 0;
    for (auto pair = pairs.cbegin(); pair != pairs.cend(); ++pair) {
        if (!pair->has_value)
            continue;
        if (is_secret_keyword(pair->key)) {
            auto run_end = secret_run_end(pair, pairs.cend());
            out.append(s.substr(copied, pair->written.begin - copied)).append(kMask);
            pair = run_end - 1;
            copied = pair->written.end;
        } else if (pair->key == "dbname" && is_nested_peer(pair->value)) {
            out.append(s.substr(copied, pair->written.begin - copied));
            out += quote_conninfo_value(redact(pair->value));
            copied = pair->written.end;
        }
    }
    return out.append(s.substr(copied));
}

void add_secret(std::vector<std::string>& secrets, std::string secret) {
    if (!secret.empty())
        secrets.push_back(std::move(secret));
}

void add_nested_secrets(std::vector<std::string>& secrets, const std::string& dbname) {
    if (!is_nested_peer(dbname))
        return;
    std::vector<std::string> nested = peer_secrets(dbname);
    secrets.insert(secrets.end(), nested.begin(), nested.end());
}

// The secrets of peers nested in a URI's dbname, which libpq passes on to
// the server unexpanded.
std::vector<std::string> uri_nested_secrets(std::string_view uri) {
    std::vector<std::string> secrets;
    for (const std::string& dbname : uri_dbnames(uri))
        add_nested_secrets(secrets, dbname);
    return secrets;
}

// A secret run's values as libpq reads them, each word libpq may quote in
// an error, and the whole run as written.
void add_secret_run(std::string_view s, std::vector<KeywordPair>::const_iterator first,
                    std::vector<KeywordPair>::const_iterator end,
                    std::vector<std::string>& secrets) {
    add_secret(secrets, first->value);
    for (auto pair = first + 1; pair != end; ++pair) {
        add_secret(secrets, std::string(pair->key));
        add_secret(secrets, pair->value);
    }
    size_t begin = first->written.begin;
    add_secret(secrets, std::string(s.substr(begin, (end - 1)->written.end - begin)));
}

std::vector<std::string> keyword_secrets(std::string_view s) {
    std::vector<KeywordPair> pairs = keyword_pairs(s);
    std::vector<std::string> secrets;
    for (auto pair = pairs.cbegin(); pair != pairs.cend(); ++pair) {
        if (pair->has_value && is_secret_keyword(pair->key)) {
            auto run_end = secret_run_end(pair, pairs.cend());
            add_secret_run(s, pair, run_end, secrets);
            pair = run_end - 1;
        } else if (pair->key == "dbname") {
            add_nested_secrets(secrets, pair->value);
        }
    }
    return secrets;
}

std::vector<std::string> uri_secrets(std::string_view uri) {
    std::vector<std::string> secrets = uri_nested_secrets(uri);
    for (Span span : uri_secret_spans(uri)) {
        std::string_view written = uri.substr(span.begin, span.end - span.begin);
        add_secret(secrets, std::string(written));
        add_secret(secrets, percent_decoded(written));
    }
    return secrets;
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
    if (!is_uri(peer))
        return redact_keywords(peer);
    // A peer nested in the URI's dbname is percent-encoded there: its
    // secrets are masked where they appear as written.
    return mask_secrets(redact_uri(peer), uri_nested_secrets(peer));
}

std::vector<std::string> peer_secrets(std::string_view peer) {
    if (starts_with(peer, "sqlite:"))
        return {};
    return is_uri(peer) ? uri_secrets(peer) : keyword_secrets(peer);
}

std::string mask_secrets(std::string_view text, std::vector<std::string> secrets) {
    // Longest first, so that a secret holding a shorter one is masked whole.
    std::sort(secrets.begin(), secrets.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    std::string out(text);
    for (const std::string& secret : secrets) {
        if (secret.empty())
            continue;
        for (size_t at = out.find(secret); at != std::string::npos;
             at = out.find(secret, at + kMask.size()))
            out.replace(at, secret.size(), kMask);
    }
    return out;
}

}  // namespace ferry
