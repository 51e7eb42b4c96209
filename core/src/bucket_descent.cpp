// Bucket descent (see bucket_descent.hpp and docs/diff.md).
#include "ferry/bucket_descent.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "ferry/error.hpp"

namespace ferry::diff {
namespace {

using SummaryIndex = std::unordered_map<uint64_t, const BucketSummary*>;

SummaryIndex index_buckets(const std::vector<BucketSummary>& summaries) {
    SummaryIndex index;
    index.reserve(summaries.size());
    for (const auto& summary : summaries)
        if (summary.rows > 0)
            index.emplace(summary.bucket, &summary);
    return index;
}

canonical::TableDigest sum_of_buckets(const std::vector<BucketSummary>& summaries) {
    canonical::TableDigest table;
    for (const auto& summary : summaries)
        table.add(canonical::TableDigest::from_hex(summary.rows, summary.digest));
    return table;
}

struct KeyedHash {
    std::string shown;  // the key as the peer printed it
    int64_t row_hash;
};

// A key as both peers spell it: JSON normalized (10.50 and 10.5), and a
// boolean as the number the canonical encoding makes it (PostgreSQL prints
// true, SQLite 1). Keys without a boolean are not parsed.
std::string pairing_key(const std::string& key) {
    if (key.find("true") != std::string::npos || key.find("false") != std::string::npos) {
        nlohmann::json parsed = nlohmann::json::parse(key, nullptr, false);
        if (parsed.is_object()) {
            for (auto& member : parsed)
                if (member.is_boolean())
                    member = member.get<bool>() ? 1 : 0;
            return canonical::normalize_json(parsed.dump());
        }
    }
    return canonical::normalize_json(key);
}

// Rows by canonical key, so that keys printed differently by two peers
// still pair up. A hash map: a diff of a million rows that differ
// everywhere pairs some 100,000 keys a side.
std::unordered_map<std::string, KeyedHash> rows_by_key(const std::vector<const BucketRow*>& rows) {
    std::unordered_map<std::string, KeyedHash> by_key;
    by_key.reserve(rows.size());
    for (const BucketRow* row : rows)
        by_key.insert_or_assign(pairing_key(row->key), KeyedHash{row->key, row->row_hash});
    return by_key;
}

// The rows of each side that have no row with the same row hash in the same
// bucket on the other side. A row hash covers the key columns too, so such a
// pair is the same row on both peers (to the same 64 bits that tell a
// changed row from an equal one) and needs no key parsing: in a bucket that
// differs most rows are equal, and canonical keys cost far more than this.
std::pair<std::vector<const BucketRow*>, std::vector<const BucketRow*>> unmatched_rows(
    const std::vector<BucketRow>& a, const std::vector<BucketRow>& b) {
    auto bucket_and_hash = [](const BucketRow& row) {
        return std::pair<uint64_t, int64_t>(row.bucket, row.row_hash);
    };
    struct PairHash {
        size_t operator()(const std::pair<uint64_t, int64_t>& p) const {
            return std::hash<uint64_t>()(p.first * 0x9e3779b97f4a7c15ULL ^
                                         static_cast<uint64_t>(p.second));
        }
    };
    std::unordered_multimap<std::pair<uint64_t, int64_t>, const BucketRow*, PairHash> in_b;
    in_b.reserve(b.size());
    for (const auto& row : b)
        in_b.emplace(bucket_and_hash(row), &row);
    std::vector<const BucketRow*> rest_a;
    for (const auto& row : a) {
        auto match = in_b.find(bucket_and_hash(row));
        if (match == in_b.end())
            rest_a.push_back(&row);
        else
            in_b.erase(match);
    }
    std::vector<const BucketRow*> rest_b;
    rest_b.reserve(in_b.size());
    for (const auto& [bucket_hash, row] : in_b)
        rest_b.push_back(row);
    return {std::move(rest_a), std::move(rest_b)};
}

// (canonical key, key as shown) pairs, shown in canonical key order.
void append_sorted(std::vector<std::pair<std::string, std::string>> keys,
                   std::vector<std::string>& out) {
    std::sort(keys.begin(), keys.end());
    for (auto& key : keys)
        out.push_back(std::move(key.second));
}

}  // namespace

BucketDescent::BucketDescent(uint64_t estimated_rows, DescentTuning tuning) : tuning_(tuning) {
    uint64_t per_bucket = std::max<uint64_t>(tuning_.rows_per_bucket, 1);
    hash_request_.buckets = std::clamp<uint64_t>((estimated_rows + per_bucket - 1) / per_bucket, 1,
                                                 tuning_.max_buckets);
    first_level_buckets_ = hash_request_.buckets;
}

void BucketDescent::take_hashes(const std::vector<BucketSummary>& a,
                                const std::vector<BucketSummary>& b) {
    if (next_ != Next::hashes)
        throw Error(ErrorKind::internal, "bucket digests given when none were asked for");
    if (levels_ == 0) {
        table_a_ = sum_of_buckets(a);
        table_b_ = sum_of_buckets(b);
    }
    levels_++;
    considered_buckets_ =
        hash_request_.within_buckets == 0
            ? hash_request_.buckets
            : hash_request_.within.size() * (hash_request_.buckets / hash_request_.within_buckets);

    SummaryIndex in_a = index_buckets(a);
    SummaryIndex in_b = index_buckets(b);
    differing_.clear();
    rows_in_differing_ = 0;
    auto note_difference = [&](uint64_t bucket, uint64_t rows_a, uint64_t rows_b) {
        differing_.push_back(bucket);
        rows_in_differing_ += std::max(rows_a, rows_b);
    };
    for (const auto& [bucket, summary] : in_a) {
        auto other = in_b.find(bucket);
        if (other == in_b.end())
            note_difference(bucket, summary->rows, 0);
        else if (other->second->rows != summary->rows || other->second->digest != summary->digest)
            note_difference(bucket, summary->rows, other->second->rows);
    }
    for (const auto& [bucket, summary] : in_b)
        if (!in_a.count(bucket))
            note_difference(bucket, 0, summary->rows);
    std::sort(differing_.begin(), differing_.end());

    if (differing_.empty()) {
        next_ = Next::done;
        return;
    }
    unsigned split = choose_split();
    if (split > 1) {
        hash_request_.within_buckets = hash_request_.buckets;
        hash_request_.within = differing_;
        hash_request_.buckets *= split;
        hash_request_.digest_digits = 16;
        return;
    }
    rows_request_.buckets = hash_request_.buckets;
    rows_request_.bucket_list = differing_;
    next_ = Next::rows;
}

// Splitting each differing bucket k ways costs one more scan and k digests
// per bucket, and pays off when most of the rows in differing buckets are
// equal: then most of the k parts come back equal and their rows need not be
// read. How many rows differ is estimated from the share of buckets that
// differ (rows landing in buckets at random: a share f of differing buckets
// means about -C ln(1 - f) differing rows among C buckets).
unsigned BucketDescent::choose_split() const {
    double differing = static_cast<double>(differing_.size());
    double rows = static_cast<double>(rows_in_differing_);
    double read_now = rows * tuning_.row_entry_bytes;
    if (read_now <= static_cast<double>(tuning_.read_rows_below_bytes) || rows < 2 * differing)
        return 1;
    double considered = std::max(static_cast<double>(considered_buckets_), differing);
    double share = std::min(differing / considered, (considered - 0.5) / considered);
    double differing_rows = std::max(-considered * std::log1p(-share), differing);

    unsigned best_split = 1;
    double best_cost = read_now;
    for (unsigned split = 2;
         split <= tuning_.max_split && hash_request_.buckets <= tuning_.max_buckets / split;
         split *= 2) {
        double parts = differing * split;
        double part_differs = -std::expm1(-differing_rows / parts);
        double cost =
            parts * tuning_.bucket_entry_bytes + rows * part_differs * tuning_.row_entry_bytes;
        if (cost < best_cost) {
            best_cost = cost;
            best_split = split;
        }
    }
    // Another scan of both tables is worth it only for a real saving.
    return best_cost < read_now / 2 ? best_split : 1;
}

void BucketDescent::take_rows(const std::vector<BucketRow>& a, const std::vector<BucketRow>& b) {
    if (next_ != Next::rows)
        throw Error(ErrorKind::internal, "bucket rows given when none were asked for");
    auto [rest_a, rest_b] = unmatched_rows(a, b);
    auto in_a = rows_by_key(rest_a);
    auto in_b = rows_by_key(rest_b);
    std::vector<std::pair<std::string, std::string>> only_in_a, only_in_b, changed;
    for (const auto& [key, row] : in_a) {
        auto other = in_b.find(key);
        if (other == in_b.end())
            only_in_a.emplace_back(key, row.shown);
        else if (other->second.row_hash != row.row_hash)
            changed.emplace_back(key, row.shown);
    }
    for (const auto& [key, row] : in_b)
        if (!in_a.count(key))
            only_in_b.emplace_back(key, row.shown);
    append_sorted(std::move(only_in_a), differences_.only_in_a);
    append_sorted(std::move(only_in_b), differences_.only_in_b);
    append_sorted(std::move(changed), differences_.changed);
    next_ = Next::done;
}

}  // namespace ferry::diff
