// One side of `ferry diff`: its tables and ferry's hashing functions, read in
// one consistent snapshot. Requests come in halves, send and receive, so that
// a PostgreSQL peer works on its query while the other peer works on its own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferry/bucket_descent.hpp"
#include "ferry/canonical.hpp"
#include "peer_tables.hpp"
#include "sqlite_connection.hpp"

namespace ferry::cli {

class DiffPeer {
  public:
    virtual ~DiffPeer() = default;

    // The peer as output may show it (passwords redacted).
    virtual const std::string& name() const = 0;
    // Fails with a hint to run ferry init unless the peer has ferry's hashing.
    virtual void require_ferry() = 0;
    // Tracked tables, written as in SQL (quoted where needed).
    virtual std::vector<std::string> tracked_tables() = 0;
    virtual PeerTable describe(const std::string& table) = 0;
    // Which table a name means, for matching --where to a compared table.
    virtual std::string identify(const std::string& table) = 0;

    virtual void begin_snapshot() = 0;
    virtual void end_snapshot() = 0;

    virtual void send_table_hash(const PeerTable& table, const Param& filter) = 0;
    virtual canonical::TableDigest receive_table_hash() = 0;
    virtual void send_bucket_hashes(const PeerTable& table, const diff::HashRequest& ask,
                                    const Param& filter) = 0;
    virtual std::vector<diff::BucketSummary> receive_bucket_hashes() = 0;
    virtual void send_bucket_rows(const PeerTable& table, const diff::RowsRequest& ask,
                                  const Param& filter) = 0;
    virtual std::vector<diff::BucketRow> receive_bucket_rows() = 0;

    // Bytes of answers received from a remote peer (0 for a local file).
    virtual uint64_t bytes_received() const = 0;
};

// A PostgreSQL or SQLite peer, by its address.
std::unique_ptr<DiffPeer> open_diff_peer(const std::string& peer);
// A peer on a connection the caller owns and keeps in a snapshot of its own
// (a full sync's source): begin_snapshot() and end_snapshot() do nothing.
std::unique_ptr<DiffPeer> borrow_diff_peer(PgConnection& db);
std::unique_ptr<DiffPeer> borrow_diff_peer(SqliteConnection& db);

// Runs the bucket descent (docs/diff.md) for one table between two peers,
// each in its snapshot; `step` hears what is being done (progress) and may
// throw to stop between rounds. The result holds the differences, with keys
// as each peer printed them.
diff::BucketDescent find_differences(DiffPeer& a, const PeerTable& table_a, DiffPeer& b,
                                     const PeerTable& table_b, const Param& filter,
                                     const diff::DescentTuning& tuning,
                                     const std::function<void(const std::string&)>& step);

}  // namespace ferry::cli
