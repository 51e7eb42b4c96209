// Peer addresses as users write them: libpq keyword/value strings, libpq URIs
// and sqlite:PATH. Only string handling lives here; connecting is the
// adapters' job. redact() is what every log line and error message must use,
// so that a password given inline never reaches output.
#pragma once

#include <string>
#include <string_view>

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
// (postgresql://user:secret@host/db, ?password=secret).
std::string redact(std::string_view peer);

}  // namespace ferry
