// Peer addresses as users write them: libpq keyword/value strings, libpq URIs
// and sqlite:PATH. Only string handling lives here; connecting is the
// adapters' job. redact() is what every log line and error message must use,
// so that a password given inline never reaches output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ferry {

enum class PeerEngine { postgresql, sqlite };

struct PeerAddress {
    PeerEngine engine;
    std::string target;  // libpq conninfo/URI, or the SQLite file path
};

// Classifies a peer string: "sqlite:PATH" is SQLite, everything else is a libpq
// connection string or URI. Throws Error(invalid_input) for an empty string.
PeerAddress parse_peer(std::string_view peer);

// Returns the peer string with any password replaced by "********", for both
// keyword/value strings (password=..., quoted or not) and URIs
// (postgresql://user:secret@host/db, ?password=secret), also inside a dbname
// that is itself a connection string or URI. A password written so that
// libpq cannot read it (password=open sesame) is masked with the words that
// follow it, up to the next known keyword.
std::string redact(std::string_view peer);

// The secrets a peer string holds, as written and as libpq reads them,
// with the words libpq would quote in an error about a badly written one.
// Holds passwords: only for mask_secrets().
std::vector<std::string> peer_secrets(std::string_view peer);

// Returns text with every occurrence of each secret replaced by "********".
// For text that ferry did not write and cannot redact() by its structure:
// libpq's, the server's and pg_dump's messages about a peer, which may
// quote any part of the peer string (a database "does not exist").
std::string mask_secrets(std::string_view text, std::vector<std::string> secrets);

}  // namespace ferry
