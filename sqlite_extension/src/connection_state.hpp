// What ferry remembers per SQLite connection. SQLite functions are per
// connection, which is what lets the applying connection be told apart from
// every other writer (docs/sqlite.md, "Origin").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::sqlite {

// The key hash and rowid of every row of the last bucket scan, so that
// reading the rows of a few buckets next (ferry diff's second round) looks
// them up by rowid instead of scanning and hashing the table again. Valid
// only while nothing has changed: same table and filter, same snapshot.
struct KeyHashCache {
    std::string table;
    std::optional<std::string> filter;
    std::string snapshot;                            // data_version, schema_version, total_changes
    std::vector<std::pair<uint64_t, int64_t>> rows;  // key hash, rowid
};

struct ConnectionState {
    // Set between ferry_set_origin(peer) and ferry_set_origin(NULL): changes
    // logged after position origin_after are the peer's. The commit hook
    // refuses to commit while it is set.
    bool origin_active = false;
    // Closed in the current transaction: origin and origin_after are kept so
    // that a second ferry_set_origin(NULL) can tag again.
    bool origin_closed = false;
    std::string origin;
    int64_t origin_after = 0;
    std::optional<KeyHashCache> key_hashes;
};

}  // namespace ferry::sqlite
