// Bucket descent against in-memory tables that answer requests the way
// ferry.bucket_hashes and ferry.bucket_rows do (same bucket and digest
// rules); the SQL side of the same contract is tested in tests/pg and
// tests/integration.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "ferry/bucket_descent.hpp"
#include "ferry/canonical.hpp"
#include "ferry/error.hpp"

using namespace ferry::diff;
using ferry::canonical::RowEncoder;
using ferry::canonical::TableDigest;

namespace {

// A table with an integer key `id` and a text column `v`.
class ModelTable {
  public:
    std::map<int64_t, std::string> rows;

    std::vector<BucketSummary> answer(const HashRequest& request) {
        std::map<uint64_t, TableDigest> digests;
        for (const auto& [id, value] : rows) {
            uint64_t key_hash = key_encoding(id).hash();
            if (!wanted(key_hash, request))
                continue;
            digests[key_hash % request.buckets].add_row(row_encoding(id, value).hash128());
        }
        std::vector<BucketSummary> out;
        for (const auto& [bucket, digest] : digests)
            out.push_back({bucket, digest.rows(), digest.hex().substr(0, request.digest_digits)});
        return out;
    }

    std::vector<BucketRow> answer(const RowsRequest& request) {
        std::vector<BucketRow> out;
        for (const auto& [id, value] : rows) {
            uint64_t bucket = key_encoding(id).hash() % request.buckets;
            for (uint64_t listed : request.bucket_list)
                if (listed == bucket)
                    out.push_back({bucket, static_cast<int64_t>(row_encoding(id, value).hash()),
                                   "{\"id\": " + std::to_string(id) + "}"});
        }
        rows_read += out.size();
        return out;
    }

    TableDigest digest() const {
        TableDigest all;
        for (const auto& [id, value] : rows)
            all.add_row(row_encoding(id, value).hash128());
        return all;
    }

    uint64_t rows_read = 0;

  private:
    static bool wanted(uint64_t key_hash, const HashRequest& request) {
        if (request.within_buckets == 0)
            return true;
        for (uint64_t coarse : request.within)
            if (key_hash % request.within_buckets == coarse)
                return true;
        return false;
    }
    static RowEncoder key_encoding(int64_t id) {
        RowEncoder encoder;
        encoder.add_number("id", ferry::canonical::number_from_int(id));
        return encoder;
    }
    static RowEncoder row_encoding(int64_t id, const std::string& value) {
        RowEncoder encoder = key_encoding(id);
        encoder.add_text("v", value);
        return encoder;
    }
};

ModelTable numbered(int64_t count) {
    ModelTable table;
    for (int64_t id = 1; id <= count; id++)
        table.rows[id] = "row " + std::to_string(id);
    return table;
}

BucketDescent run(ModelTable& a, ModelTable& b, uint64_t estimate, DescentTuning tuning = {}) {
    BucketDescent descent(estimate, tuning);
    while (descent.next() != BucketDescent::Next::done) {
        if (descent.next() == BucketDescent::Next::hashes)
            descent.take_hashes(a.answer(descent.hash_request()), b.answer(descent.hash_request()));
        else
            descent.take_rows(a.answer(descent.rows_request()), b.answer(descent.rows_request()));
    }
    return descent;
}

std::string key(int64_t id) {
    return "{\"id\": " + std::to_string(id) + "}";
}

}  // namespace

TEST_CASE("equal tables need one level and no rows", "[diff]") {
    ModelTable a = numbered(5000), b = numbered(5000);
    BucketDescent descent = run(a, b, 5000);
    CHECK(descent.tables_equal());
    CHECK(descent.levels() == 1);
    CHECK(descent.differences().empty());
    CHECK(a.rows_read == 0);
    CHECK(descent.first_level_buckets() == 20);  // 5000 / 256, rounded up
}

TEST_CASE("the first level's buckets add up to the table digest", "[diff]") {
    ModelTable a = numbered(3000), b = numbered(2999);
    BucketDescent descent = run(a, b, 3000);
    CHECK(descent.table_a() == a.digest());
    CHECK(descent.table_b() == b.digest());
    CHECK(descent.table_a().rows() == 3000);
    CHECK_FALSE(descent.tables_equal());
}

TEST_CASE("a few differences are found exactly, reading only their buckets", "[diff]") {
    ModelTable a = numbered(20000), b = numbered(20000);
    b.rows[17] = "changed";
    b.rows[9001] = "changed too";
    b.rows.erase(42);
    b.rows[20001] = "only in b";
    a.rows[-5] = "only in a";
    BucketDescent descent = run(a, b, 20000);
    const Differences& found = descent.differences();
    CHECK(found.changed == std::vector<std::string>{key(17), key(9001)});
    CHECK(found.only_in_a == std::vector<std::string>{key(-5), key(42)});
    CHECK(found.only_in_b == std::vector<std::string>{key(20001)});
    CHECK(descent.levels() == 1);
    CHECK(descent.differing_buckets() <= 5);
    CHECK(a.rows_read < 5 * 256);
}

TEST_CASE("many differences make it split buckets before reading rows", "[diff]") {
    ModelTable a = numbered(40000), b = numbered(40000);
    std::vector<std::string> expected;
    for (int64_t id = 7; id <= 40000; id += 97) {
        b.rows[id] += "!";
        expected.push_back(key(id));
    }
    std::sort(expected.begin(), expected.end(), [](const std::string& x, const std::string& y) {
        return ferry::canonical::normalize_json(x) < ferry::canonical::normalize_json(y);
    });
    DescentTuning small_reads;
    small_reads.read_rows_below_bytes = 4096;
    BucketDescent descent = run(a, b, 40000, small_reads);
    CHECK(descent.levels() >= 2);
    CHECK(descent.differences().changed == expected);
    CHECK(descent.differences().only_in_a.empty());
    CHECK(a.rows_read < 40000 / 4);
}

TEST_CASE("a stale estimate costs levels, not correctness", "[diff]") {
    ModelTable a = numbered(10000), b = numbered(10000);
    b.rows[5000] = "x";
    DescentTuning small_reads;
    small_reads.read_rows_below_bytes = 4096;
    BucketDescent descent = run(a, b, 1, small_reads);
    CHECK(descent.first_level_buckets() == 1);
    CHECK(descent.levels() >= 2);
    CHECK(descent.differences().changed == std::vector<std::string>{key(5000)});
    CHECK(a.rows_read < 1000);
}

TEST_CASE("an empty side lists every key of the other", "[diff]") {
    ModelTable a = numbered(300), b;
    BucketDescent descent = run(a, b, 300);
    CHECK(descent.differences().only_in_a.size() == 300);
    CHECK(descent.differences().only_in_b.empty());
    CHECK(descent.table_b().rows() == 0);
}

TEST_CASE("keys pair up by canonical JSON, however each peer printed them", "[diff]") {
    BucketDescent descent(10);
    descent.take_hashes({{0, 2, std::string(32, 'a')}}, {{0, 2, std::string(32, 'b')}});
    REQUIRE(descent.next() == BucketDescent::Next::rows);
    descent.take_rows(
        {{0, 1, R"({"price": 10.50, "sku": "A"})"}, {0, 2, R"({"sku": "B", "price": 1})"}},
        {{0, 1, R"({"price":10.5,"sku":"A"})"}, {0, 3, R"({"price": 1.0, "sku": "B"})"}});
    CHECK(descent.differences().only_in_a.empty());
    CHECK(descent.differences().only_in_b.empty());
    CHECK(descent.differences().changed == std::vector<std::string>{R"({"sku": "B", "price": 1})"});
}

TEST_CASE("equal rows pair by row hash; the others by canonical key", "[diff]") {
    BucketDescent descent(10);
    descent.take_hashes({{0, 3, std::string(32, 'a')}, {1, 1, std::string(32, 'c')}},
                        {{0, 3, std::string(32, 'b')}, {1, 1, std::string(32, 'd')}});
    REQUIRE(descent.next() == BucketDescent::Next::rows);
    // Row hash 7 is in both buckets' answers, but a row of bucket 0 pairs
    // only with a row of bucket 0: in bucket 1 it is a different row.
    descent.take_rows(
        {{0, 7, "not json, and never read"}, {0, 8, key(2)}, {0, 9, key(3)}, {1, 5, key(4)}},
        {{0, 7, "not json either"}, {0, 18, key(2)}, {0, 10, key(5)}, {1, 7, key(6)}});
    const auto& found = descent.differences();
    CHECK(found.changed == std::vector<std::string>{key(2)});
    CHECK(found.only_in_a == std::vector<std::string>{key(3), key(4)});
    CHECK(found.only_in_b == std::vector<std::string>{key(5), key(6)});
}

TEST_CASE("a malformed key of a row that differs is refused", "[diff]") {
    BucketDescent descent(10);
    descent.take_hashes({{0, 1, std::string(32, 'a')}}, {{0, 1, std::string(32, 'b')}});
    REQUIRE(descent.next() == BucketDescent::Next::rows);
    CHECK_THROWS_AS(descent.take_rows({{0, 1, "{\"id\": "}}, {{0, 2, key(1)}}), ferry::Error);
}

TEST_CASE("a malformed digest is refused", "[diff]") {
    BucketDescent descent(10);
    CHECK_THROWS_AS(descent.take_hashes({{0, 1, "xyz"}}, {}), ferry::Error);
    CHECK_THROWS_AS(TableDigest::from_hex(1, std::string(31, '0') + "g"), ferry::Error);
    CHECK(TableDigest::from_hex(3, "0123456789abcdef0123456789ABCDEF").hex() ==
          "0123456789abcdef0123456789abcdef");
}
