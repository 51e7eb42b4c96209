// PostgreSQL and SQLite sides of a diff (see diff_peer.hpp).
#include "diff_peer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <future>
#include <optional>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_peer.hpp"
#include "table_shape.hpp"

namespace ferry::cli {
namespace {

uint64_t to_unsigned(const std::string& text) {
    return std::stoull(text);
}

std::string bigint_array(const std::vector<uint64_t>& values) {
    return fmt::format("{{{}}}", fmt::join(values, ","));
}

Error malformed_answer(const std::string& peer) {
    return Error(ErrorKind::internal,
                 fmt::format("unexpected answer from ferry's bucket functions in {}", peer));
}

// Reads the packed answers of the queries below field by field, without a
// copy: a first level brings some 125,000 buckets a side per million rows.
class PackedReader {
  public:
    PackedReader(std::string_view text, const std::string& peer) : rest_(text), peer_(peer) {}
    bool done() const { return rest_.empty(); }

    // The text up to the next `separator`, or to the end when `last`.
    std::string_view field(char separator, bool last = false) {
        size_t end = rest_.find(separator);
        if (end == std::string_view::npos) {
            if (!last)
                throw malformed_answer(peer_);
            end = rest_.size();
        }
        std::string_view found = rest_.substr(0, end);
        rest_.remove_prefix(std::min(end + 1, rest_.size()));
        return found;
    }

    template <class Number>
    Number number(char separator, bool last = false) {
        std::string_view text = field(separator, last);
        Number value{};
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || text.empty())
            throw malformed_answer(peer_);
        return value;
    }

  private:
    std::string_view rest_;
    const std::string& peer_;
};

// ---- PostgreSQL ------------------------------------------------------------

const char* const kTableHashQuery =
    "SELECT rows, digest FROM ferry.table_hash($1::oid::regclass, $2)";

// Results are packed into a few text values per query: a row per bucket
// would cost the protocol's framing of three values (19 bytes) for 40 bytes
// of content.
const char* const kBucketHashesQuery = R"(
SELECT string_agg(bucket || ':' || rows || ':' || left(digest, $6), ',')
FROM ferry.bucket_hashes($1::oid::regclass, $2, $3, $4, $5::bigint[])
GROUP BY bucket / 1024)";

// jsonb's text form has no raw newline, so keys end at the line's end.
const char* const kBucketRowsQuery = R"(
SELECT bucket, string_agg(row_hash || ' ' || key::text, E'\n')
FROM ferry.bucket_rows($1::oid::regclass, $2, $3::bigint[], $4)
GROUP BY bucket)";

class PostgresDiffPeer : public DiffPeer {
  public:
    explicit PostgresDiffPeer(const std::string& peer)
        : owned_(connect_postgres_peer(peer)), db_(*owned_) {}
    // On a connection the caller keeps in its own snapshot.
    explicit PostgresDiffPeer(PgConnection& borrowed) : db_(borrowed) {}

    const std::string& name() const override { return db_.peer(); }
    void require_ferry() override { cli::require_ferry(db_, "0.2"); }
    std::vector<std::string> tracked_tables() override { return cli::tracked_tables(db_); }
    PeerTable describe(const std::string& table) override { return describe_table(db_, table); }
    std::string identify(const std::string& table) override {
        return resolve_table(db_, table).oid;
    }
    void begin_snapshot() override {
        if (owned_)
            db_.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    }
    void end_snapshot() override {
        if (owned_)
            db_.execute("COMMIT");
    }

    void send_table_hash(const PeerTable& table, const Param& filter) override {
        db_.send(kTableHashQuery, {table.oid, filter});
    }
    canonical::TableDigest receive_table_hash() override {
        PgResult result = db_.receive();
        return canonical::TableDigest::from_hex(to_unsigned(result.text(0, 0)), result.text(0, 1));
    }

    void send_bucket_hashes(const PeerTable& table, const diff::HashRequest& ask,
                            const Param& filter) override {
        Param within_buckets, within;
        if (ask.within_buckets > 0) {
            within_buckets = std::to_string(ask.within_buckets);
            within = bigint_array(ask.within);
        }
        db_.send(kBucketHashesQuery, {table.oid, std::to_string(ask.buckets), filter,
                                      within_buckets, within, std::to_string(ask.digest_digits)});
    }
    std::vector<diff::BucketSummary> receive_bucket_hashes() override {
        PgResult result = db_.receive();
        std::vector<diff::BucketSummary> buckets;
        for (int r = 0; r < result.rows(); r++) {
            PackedReader entries(result.view(r, 0), name());
            while (!entries.done()) {
                diff::BucketSummary& bucket = buckets.emplace_back();
                bucket.bucket = entries.number<uint64_t>(':');
                bucket.rows = entries.number<uint64_t>(':');
                bucket.digest = entries.field(',', true);
            }
        }
        return buckets;
    }

    void send_bucket_rows(const PeerTable& table, const diff::RowsRequest& ask,
                          const Param& filter) override {
        db_.send(kBucketRowsQuery,
                 {table.oid, std::to_string(ask.buckets), bigint_array(ask.bucket_list), filter});
    }
    std::vector<diff::BucketRow> receive_bucket_rows() override {
        PgResult result = db_.receive();
        std::vector<diff::BucketRow> rows;
        for (int r = 0; r < result.rows(); r++) {
            uint64_t bucket = PackedReader(result.view(r, 0), name()).number<uint64_t>(',', true);
            PackedReader lines(result.view(r, 1), name());
            while (!lines.done()) {
                diff::BucketRow& row = rows.emplace_back();
                row.bucket = bucket;
                row.row_hash = lines.number<int64_t>(' ');
                row.key = lines.field('\n', true);
            }
        }
        return rows;
    }

    uint64_t bytes_received() const override { return db_.bytes_received(); }

  private:
    std::optional<PgConnection> owned_;
    PgConnection& db_;
};

// ---- SQLite ----------------------------------------------------------------

// A local file: each request runs on a thread of its own from send to
// receive, so that two SQLite peers (or one and a PostgreSQL peer's wait)
// use two cores.
class SqliteDiffPeer : public DiffPeer {
  public:
    explicit SqliteDiffPeer(const std::string& path)
        : owned_(std::in_place, path, false), db_(*owned_) {}
    // On a connection the caller keeps in its own read transaction.
    explicit SqliteDiffPeer(SqliteConnection& borrowed) : db_(borrowed) {}

    const std::string& name() const override { return db_.peer(); }
    void require_ferry() override { require_sqlite_ferry(db_); }
    std::vector<std::string> tracked_tables() override { return sqlite_tracked_tables(db_); }
    PeerTable describe(const std::string& table) override {
        return describe_sqlite_table(db_, table);
    }
    std::string identify(const std::string& table) override {
        return sqlite::describe_table(db_.handle(), sqlite_table_name(db_, table)).name;
    }
    // A read transaction holds one snapshot of a WAL database for all scans.
    void begin_snapshot() override {
        if (!owned_)
            return;
        db_.execute("BEGIN");
        db_.query("SELECT count(*) FROM sqlite_schema");
    }
    void end_snapshot() override {
        if (owned_)
            db_.execute("COMMIT");
    }

    void send_table_hash(const PeerTable& table, const Param& filter) override {
        send("SELECT rows, digest FROM ferry_table_hash(?1, ?2)", {table.name, filter});
    }
    canonical::TableDigest receive_table_hash() override {
        std::vector<SqliteRow> answer = receive();
        const SqliteRow& row = answer.at(0);
        return canonical::TableDigest::from_hex(to_unsigned(*row[0]), *row[1]);
    }

    void send_bucket_hashes(const PeerTable& table, const diff::HashRequest& ask,
                            const Param& filter) override {
        Param within_buckets, within;
        if (ask.within_buckets > 0) {
            within_buckets = std::to_string(ask.within_buckets);
            within = fmt::format("[{}]", fmt::join(ask.within, ","));
        }
        send(
            "SELECT bucket, rows, substr(digest, 1, ?6) FROM ferry_bucket_hashes(?1, ?2, ?3, ?4, "
            "?5)",
            {table.name, std::to_string(ask.buckets), filter, within_buckets, within,
             std::to_string(ask.digest_digits)});
    }
    std::vector<diff::BucketSummary> receive_bucket_hashes() override {
        std::vector<diff::BucketSummary> buckets;
        for (const SqliteRow& row : receive())
            buckets.push_back({to_unsigned(*row[0]), to_unsigned(*row[1]), *row[2]});
        return buckets;
    }

    void send_bucket_rows(const PeerTable& table, const diff::RowsRequest& ask,
                          const Param& filter) override {
        send("SELECT bucket, row_hash, key FROM ferry_bucket_rows(?1, ?2, ?3, ?4)",
             {table.name, std::to_string(ask.buckets),
              fmt::format("[{}]", fmt::join(ask.bucket_list, ",")), filter});
    }
    std::vector<diff::BucketRow> receive_bucket_rows() override {
        std::vector<diff::BucketRow> rows;
        for (const SqliteRow& row : receive())
            rows.push_back({to_unsigned(*row[0]), std::stoll(*row[1]), *row[2]});
        return rows;
    }

    uint64_t bytes_received() const override { return 0; }

  private:
    void send(std::string sql, std::vector<Param> params) {
        pending_ = std::async(std::launch::async,
                              [this, sql = std::move(sql), params = std::move(params)] {
                                  return db_.query(sql, params);
                              });
    }
    // The answer, or the error the query threw.
    std::vector<SqliteRow> receive() { return pending_.get(); }

    std::optional<SqliteConnection> owned_;
    SqliteConnection& db_;
    std::future<std::vector<SqliteRow>> pending_;
};

}  // namespace

std::unique_ptr<DiffPeer> open_diff_peer(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteDiffPeer>(address.target);
    return std::make_unique<PostgresDiffPeer>(peer);
}

std::unique_ptr<DiffPeer> borrow_diff_peer(PgConnection& db) {
    return std::make_unique<PostgresDiffPeer>(db);
}

std::unique_ptr<DiffPeer> borrow_diff_peer(SqliteConnection& db) {
    return std::make_unique<SqliteDiffPeer>(db);
}

diff::BucketDescent find_differences(DiffPeer& a, const PeerTable& table_a, DiffPeer& b,
                                     const PeerTable& table_b, const Param& filter,
                                     const diff::DescentTuning& tuning,
                                     const std::function<void(const std::string&)>& step) {
    diff::BucketDescent descent(std::max(table_a.estimated_rows, table_b.estimated_rows), tuning);
    // Both peers get their request before either answer is read: a remote
    // peer computes while the other one does.
    while (descent.next() != diff::BucketDescent::Next::done) {
        if (descent.next() == diff::BucketDescent::Next::hashes) {
            const auto& ask = descent.hash_request();
            step(fmt::format("hashing {} buckets", ask.buckets));
            a.send_bucket_hashes(table_a, ask, filter);
            b.send_bucket_hashes(table_b, ask, filter);
            auto in_a = a.receive_bucket_hashes();
            descent.take_hashes(in_a, b.receive_bucket_hashes());
            if (descent.differing_buckets() > 0)
                step(fmt::format("{} buckets differ, holding up to {} rows",
                                 descent.differing_buckets(), descent.rows_in_differing_buckets()));
        } else {
            const auto& ask = descent.rows_request();
            step(fmt::format("reading the keys of {} buckets", ask.bucket_list.size()));
            a.send_bucket_rows(table_a, ask, filter);
            b.send_bucket_rows(table_b, ask, filter);
            auto in_a = a.receive_bucket_rows();
            descent.take_rows(in_a, b.receive_bucket_rows());
        }
    }
    const auto& found = descent.differences();
    step(fmt::format("{} only in A, {} only in B, {} changed", found.only_in_a.size(),
                     found.only_in_b.size(), found.changed.size()));
    return descent;
}

}  // namespace ferry::cli
