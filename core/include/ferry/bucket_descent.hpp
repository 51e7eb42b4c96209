// Finding the rows that differ between two copies of a table by comparing
// bucket digests (docs/diff.md). This is the algorithm only: it says what to
// ask both peers next and digests their answers, so that the adapter can run
// the two peers' queries concurrently and the logic is testable without a
// database.
//
//   BucketDescent descent(estimated_rows);
//   while (descent.next() != BucketDescent::Next::done)
//       if (descent.next() == BucketDescent::Next::hashes)
//           descent.take_hashes(ask(a, descent.hash_request()), ask(b, ...));
//       else
//           descent.take_rows(ask(a, descent.rows_request()), ask(b, ...));
//   descent.differences();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/canonical.hpp"

namespace ferry::diff {

// One bucket's row count and digest on one peer (ferry.bucket_hashes).
struct BucketSummary {
    uint64_t bucket = 0;
    uint64_t rows = 0;
    std::string digest;  // hex; at the first level the full 32 digits
};

// One row of a bucket on one peer (ferry.bucket_rows): its primary key as
// JSON, as the peer printed it, and its row hash.
struct BucketRow {
    uint64_t bucket = 0;
    int64_t row_hash = 0;
    std::string key;
};

// Ask both peers for the digests of `buckets` buckets of the table, limited
// to the rows in the coarser buckets `within` of `within_buckets` when
// within_buckets > 0, with digests cut to their first digest_digits digits.
struct HashRequest {
    uint64_t buckets = 1;
    uint64_t within_buckets = 0;
    std::vector<uint64_t> within;
    int digest_digits = 32;
};

// Ask both peers for the rows of these buckets (out of `buckets`).
struct RowsRequest {
    uint64_t buckets = 1;
    std::vector<uint64_t> bucket_list;
};

// Keys are shown as the first peer printed them (the second peer's form for
// keys only it has), sorted by their canonical JSON.
struct Differences {
    std::vector<std::string> only_in_a;
    std::vector<std::string> only_in_b;
    std::vector<std::string> changed;
    bool empty() const { return only_in_a.empty() && only_in_b.empty() && changed.empty(); }
};

// The cost model that decides between reading a differing bucket's rows and
// splitting it further (one more scan on each peer). Sizes are bytes on the
// wire per entry in ferry's compact result form.
struct DescentTuning {
    uint64_t rows_per_bucket = 256;            // first level: estimated rows / this
    uint64_t read_rows_below_bytes = 1 << 20;  // never split when reading is cheaper
    double bucket_entry_bytes = 28;            // "bucket:rows:digest16,"
    double row_entry_bytes = 48;               // "bucket hash {key}\n", small key
    uint64_t max_buckets = uint64_t{1} << 40;
    unsigned max_split = 4096;
};

class BucketDescent {
  public:
    enum class Next { hashes, rows, done };

    // estimated_rows: the larger of both peers' estimates; it only sets the
    // first level's bucket count, so a stale estimate costs time, not
    // correctness.
    explicit BucketDescent(uint64_t estimated_rows, DescentTuning tuning = {});

    Next next() const { return next_; }
    const HashRequest& hash_request() const { return hash_request_; }
    const RowsRequest& rows_request() const { return rows_request_; }

    // Answers to hash_request(), in any order; buckets without rows may be
    // left out. Throws Error(invalid_input) for a malformed digest.
    void take_hashes(const std::vector<BucketSummary>& a, const std::vector<BucketSummary>& b);
    // Answers to rows_request(). Rows with the same row hash in the same
    // bucket on both sides are equal and are paired without reading their
    // keys; throws Error(invalid_input) for a key of another row that is not
    // JSON.
    void take_rows(const std::vector<BucketRow>& a, const std::vector<BucketRow>& b);

    // Known once the first level's digests are in: the whole tables.
    const canonical::TableDigest& table_a() const { return table_a_; }
    const canonical::TableDigest& table_b() const { return table_b_; }
    bool tables_equal() const { return table_a_ == table_b_; }

    // Known when next() is done.
    const Differences& differences() const { return differences_; }

    // For progress reports and the summary.
    int levels() const { return levels_; }
    uint64_t first_level_buckets() const { return first_level_buckets_; }
    uint64_t differing_buckets() const { return differing_.size(); }
    uint64_t rows_in_differing_buckets() const { return rows_in_differing_; }

  private:
    unsigned choose_split() const;

    DescentTuning tuning_;
    Next next_ = Next::hashes;
    HashRequest hash_request_;
    RowsRequest rows_request_;
    canonical::TableDigest table_a_;
    canonical::TableDigest table_b_;
    Differences differences_;
    std::vector<uint64_t> differing_;
    uint64_t considered_buckets_ = 0;
    uint64_t rows_in_differing_ = 0;
    uint64_t first_level_buckets_ = 0;
    int levels_ = 0;
};

}  // namespace ferry::diff
