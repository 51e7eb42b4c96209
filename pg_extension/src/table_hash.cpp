// Quick table hashing (docs/hashing.md): ferry.row_hash, ferry.table_hash,
// ferry.bucket_hashes and ferry.bucket_rows. The table functions read tuples
// straight from the table access method in one sequential scan and hash each
// row's canonical encoding; no text round trip for the common types, no sort.
#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "boundary.hpp"
#include "canonical_row.hpp"
#include "row_filter.hpp"
#include "row_json.hpp"
#include "table_info.hpp"

namespace ferry::pg {
namespace {

using canonical::TableDigest;

// What a scan hands to its caller for each row that passes the filter.
struct ScannedRow {
    const TableInfo& table;
    DeformedRow row;
    ItemPointerData tid;  // in the leaf scanned
};

void check_can_read(Relation rel) {
    Oid relid = RelationGetRelid(rel);
    std::string name = RelationGetRelationName(rel);
    char kind = rel->rd_rel->relkind;
    if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_MATVIEW)
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE, "\"" + name + "\" is not a table",
                       "ferry hashes tables, partitioned tables and materialized views.");
    AclResult acl =
        pg::value([&]() noexcept { return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT); });
    if (acl != ACLCHECK_OK)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "permission denied for table \"" + name + "\"", "",
                       "Hashing a table reads all of it: grant SELECT on it.");
    int rls = pg::value([&]() noexcept { return check_enable_rls(relid, InvalidOid, true); });
    if (rls == RLS_ENABLED)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "table \"" + name + "\" has row-level security enabled for this role",
                       "ferry reads tuples directly, which would bypass the policies.",
                       "Hash it as a role that bypasses row-level security (the table owner or "
                       "a BYPASSRLS role), or disable the policies.");
}

// The relations that hold the rows of rel: itself, or its leaf partitions.
std::vector<Oid> storage_relations(Relation rel) {
    std::vector<Oid> leaves;
    if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE) {
        leaves.push_back(RelationGetRelid(rel));
        return leaves;
    }
    pg::call([&]() noexcept {
        List* all = find_all_inheritors(RelationGetRelid(rel), AccessShareLock, nullptr);
        ListCell* cell;
        foreach (cell, all) {
            Oid child = lfirst_oid(cell);
            if (get_rel_relkind(child) == RELKIND_RELATION)
                leaves.push_back(child);
        }
    });
    return leaves;
}

// Calls visit(ScannedRow) for every row of the table (every leaf partition)
// that passes filter_text, in a memory context reset after each row.
template <class Visit>
void scan_table(Oid relid, const char* filter_text, bool need_key, Visit&& visit) {
    Relation rel = pg::value([&]() noexcept { return table_open(relid, AccessShareLock); });
    check_can_read(rel);
    std::vector<Oid> leaves = storage_relations(rel);
    MemoryContext row_context = pg::value([&]() noexcept {
        return AllocSetContextCreate(CurrentMemoryContext, "ferry hash row",
                                     ALLOCSET_DEFAULT_SIZES);
    });
    for (Oid leaf_oid : leaves) {
        Relation leaf = pg::value([&]() noexcept { return table_open(leaf_oid, AccessShareLock); });
        const TableInfo& table = table_info(leaf);
        if (need_key && table.key_count == 0)
            throw SqlError(
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                std::string("table \"") + RelationGetRelationName(rel) + "\" has no primary key",
                "Buckets are chosen from the primary key.",
                "Add one with ALTER TABLE ... ADD PRIMARY KEY.");
        RowFilter filter(leaf, filter_text);
        TableScanDesc scan = nullptr;
        TupleTableSlot* slot = nullptr;
        pg::call([&]() noexcept {
            slot = table_slot_create(leaf, nullptr);
            scan = table_beginscan(leaf, GetActiveSnapshot(), 0, nullptr);
        });
        while (true) {
            bool found = pg::value([&]() noexcept {
                CHECK_FOR_INTERRUPTS();
                MemoryContextReset(row_context);
                return table_scan_getnextslot(scan, ForwardScanDirection, slot);
            });
            if (!found)
                break;
            if (!filter.matches(slot))
                continue;
            pg::call([&]() noexcept { slot_getallattrs(slot); });
            in_context(row_context, [&] {
                visit(ScannedRow{table, {slot->tts_values, slot->tts_isnull}, slot->tts_tid});
            });
        }
        filter.finish();
        pg::call([&]() noexcept {
            table_endscan(scan);
            ExecDropSingleTupleTableSlot(slot);
            table_close(leaf, NoLock);
        });
    }
    pg::call([&]() noexcept {
        MemoryContextDelete(row_context);
        table_close(rel, NoLock);
    });
}

const char* optional_text(FunctionCallInfo fcinfo, int arg) {
    if (PG_NARGS() <= arg || PG_ARGISNULL(arg))
        return nullptr;
    return pg::value([&]() noexcept { return text_to_cstring(PG_GETARG_TEXT_PP(arg)); });
}

int64 positive_buckets(FunctionCallInfo fcinfo, int arg, const char* name) {
    if (PG_ARGISNULL(arg) || PG_GETARG_INT64(arg) < 1)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, std::string(name) + " must be at least 1");
    return PG_GETARG_INT64(arg);
}

// The table argument: NULL would read as OID 0 and fail far from here.
Oid table_argument(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "table must not be NULL", {},
                       "Name a table, e.g. 'public.orders'.");
    return PG_GETARG_OID(0);
}

// A list of bucket numbers, each in [0, buckets): a number outside would
// match no row and hide a caller's mistake.
std::vector<int64> bucket_list(FunctionCallInfo fcinfo, int arg, uint64_t buckets,
                               const char* name) {
    std::vector<int64> out;
    if (PG_ARGISNULL(arg))
        return out;
    bool has_null = false;
    int dimensions = 0;
    pg::call([&]() noexcept {
        ArrayType* array = PG_GETARG_ARRAYTYPE_P(arg);
        dimensions = ARR_NDIM(array);
        Datum* elements;
        bool* nulls;
        int count;
        deconstruct_array(array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elements, &nulls,
                          &count);
        for (int i = 0; i < count; i++) {
            has_null = has_null || nulls[i];
            if (!nulls[i])
                out.push_back(DatumGetInt64(elements[i]));
        }
    });
    if (dimensions > 1)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       std::string(name) + " must be a one-dimensional array");
    if (has_null)
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not hold NULL");
    for (int64 bucket : out)
        if (bucket < 0 || static_cast<uint64_t>(bucket) >= buckets)
            throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "bucket " + std::to_string(bucket) + " is not one of the " +
                               std::to_string(buckets) + " buckets",
                           {}, "Buckets are numbered from 0.");
    return out;
}

Datum text_datum(const std::string& text) {
    return pg::value([&]() noexcept {
        return PointerGetDatum(cstring_to_text_with_len(text.data(), text.size()));
    });
}

void put_bucket_digest(FunctionCallInfo fcinfo, uint64_t bucket, const TableDigest& digest) {
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    Datum values[3] = {Int64GetDatum(static_cast<int64>(bucket)),
                       Int64GetDatum(static_cast<int64>(digest.rows())), text_datum(digest.hex())};
    bool nulls[3] = {};
    pg::call([&]() noexcept {
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
}

// Up to this many buckets, digests are kept in an array indexed by bucket
// (32 MiB at most) rather than a hash map: a million-row table split into
// buckets of a few rows would otherwise spend most of its scan on the map.
constexpr uint64_t kDenseBuckets = uint64_t{1} << 20;

// Per-bucket digests, in bucket order for a deterministic result.
class BucketDigests {
  public:
    explicit BucketDigests(uint64_t buckets) : dense_(buckets <= kDenseBuckets ? buckets : 0) {}

    TableDigest& operator[](uint64_t bucket) {
        return dense_.empty() ? sparse_[bucket] : dense_[bucket];
    }

    // Asks the CPU for a bucket's digest ahead of operator[]: rows land in
    // buckets at random, and a large array is mostly out of cache, so the
    // load would otherwise stall the scan once a row.
    void prefetch(uint64_t bucket) const {
        if (!dense_.empty())
            __builtin_prefetch(&dense_[bucket], 1);
    }

    void put(FunctionCallInfo fcinfo) const {
        for (uint64_t bucket = 0; bucket < dense_.size(); bucket++)
            if (dense_[bucket].rows() > 0)
                put_bucket_digest(fcinfo, bucket, dense_[bucket]);
        std::vector<std::pair<uint64_t, TableDigest>> sorted(sparse_.begin(), sparse_.end());
        std::sort(sorted.begin(), sorted.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [bucket, digest] : sorted)
            put_bucket_digest(fcinfo, bucket, digest);
    }

  private:
    std::vector<TableDigest> dense_;
    std::unordered_map<uint64_t, TableDigest> sparse_;
};

// The rows a first-level bucket_hashes() scan saw, by key hash and tuple id,
// so that the bucket_rows() call that follows in the same snapshot fetches
// the rows of the differing buckets by tid instead of scanning and hashing
// the whole table again (docs/diff.md). Kept only where that is exactly the
// same set of rows: one REPEATABLE READ (or SERIALIZABLE) transaction that
// wrote nothing in between, the same plain table and filter. The array lives
// in a context under TopTransactionContext, gone at the transaction's end;
// `transaction` (never reused by a backend) tells whether it is still there.
// At most maintenance_work_mem of it: a larger table is scanned again.
struct RememberedRow {
    uint64_t key_hash;
    ItemPointerData tid;
};

class FirstLevelMemory {
  public:
    void start(Oid relid, const char* filter) {
        forget();
        char kind = pg::value([&]() noexcept { return get_rel_relkind(relid); });
        if (!IsolationUsesXactSnapshot() || kind != RELKIND_RELATION)
            return;
        pg::call([&]() noexcept {
            context_ = AllocSetContextCreate(TopTransactionContext, "ferry bucket rows memory",
                                             ALLOCSET_DEFAULT_SIZES);
            capacity_ = 1024;
            rows_ = static_cast<RememberedRow*>(
                MemoryContextAlloc(context_, capacity_ * sizeof(RememberedRow)));
        });
        limit_ = static_cast<size_t>(maintenance_work_mem) * 1024 / sizeof(RememberedRow);
        relid_ = relid;
        filter_ = filter ? std::optional<std::string>(filter) : std::nullopt;
        transaction_ = MyProc->lxid;
        recording_ = true;
    }

    void add(uint64_t key_hash, const ItemPointerData& tid) {
        if (!recording_)
            return;
        if (count_ == capacity_) {
            if (capacity_ * 2 > limit_) {
                forget();
                return;
            }
            pg::call([&]() noexcept {
                capacity_ *= 2;
                rows_ =
                    static_cast<RememberedRow*>(repalloc(rows_, capacity_ * sizeof(RememberedRow)));
            });
        }
        rows_[count_++] = {key_hash, tid};
    }

    // The scan finished: valid from the next command on (which sees exactly
    // this command's rows only if nothing is written meanwhile).
    void finish() {
        if (recording_)
            command_ = GetCurrentCommandId(false);
        recording_ = false;
    }

    // Whether the remembered rows are exactly what a scan of this table
    // with this filter would see now.
    bool holds(Oid relid, const char* filter) const {
        return transaction_ == MyProc->lxid && command_ != InvalidCommandId &&
               command_ == GetCurrentCommandId(false) && IsolationUsesXactSnapshot() &&
               relid == relid_ &&
               filter_ == (filter ? std::optional<std::string>(filter) : std::nullopt);
    }
    const RememberedRow* begin() const { return rows_; }
    const RememberedRow* end() const { return rows_ + count_; }

  private:
    void forget() {
        // A context from an earlier transaction went with it.
        if (context_ && transaction_ == MyProc->lxid)
            pg::call([&]() noexcept { MemoryContextDelete(context_); });
        context_ = nullptr;
        rows_ = nullptr;
        count_ = capacity_ = 0;
        transaction_ = InvalidLocalTransactionId;
        command_ = InvalidCommandId;
        recording_ = false;
    }

    MemoryContext context_ = nullptr;
    RememberedRow* rows_ = nullptr;
    size_t count_ = 0, capacity_ = 0, limit_ = 0;
    LocalTransactionId transaction_ = InvalidLocalTransactionId;
    CommandId command_ = InvalidCommandId;
    Oid relid_ = InvalidOid;
    std::optional<std::string> filter_;
    bool recording_ = false;
};

FirstLevelMemory first_level_memory;

// Calls visit(ScannedRow, bucket) for each remembered row of relid that
// bucket_of(key hash) places in a wanted bucket, fetched by its tuple id in
// the transaction's snapshot; a row context is reset after each.
template <class BucketOf, class Visit>
void fetch_remembered_rows(Oid relid, BucketOf&& bucket_of, Visit&& visit) {
    Relation rel = pg::value([&]() noexcept { return table_open(relid, AccessShareLock); });
    check_can_read(rel);
    const TableInfo& table = table_info(rel);
    TupleTableSlot* slot = nullptr;
    MemoryContext row_context = nullptr;
    pg::call([&]() noexcept {
        slot = table_slot_create(rel, nullptr);
        row_context =
            AllocSetContextCreate(CurrentMemoryContext, "ferry bucket row", ALLOCSET_DEFAULT_SIZES);
    });
    Snapshot snapshot = GetActiveSnapshot();
    for (const RememberedRow& remembered : first_level_memory) {
        std::optional<uint64_t> bucket = bucket_of(remembered.key_hash);
        if (!bucket)
            continue;
        ItemPointerData tid = remembered.tid;
        bool found = pg::value([&]() noexcept {
            CHECK_FOR_INTERRUPTS();
            MemoryContextReset(row_context);
            if (!table_tuple_fetch_row_version(rel, &tid, snapshot, slot))
                return false;
            slot_getallattrs(slot);
            return true;
        });
        if (!found)
            throw SqlError(ERRCODE_INTERNAL_ERROR,
                           "a row seen by ferry.bucket_hashes() is gone in the same snapshot");
        in_context(row_context, [&] {
            visit(ScannedRow{table, {slot->tts_values, slot->tts_isnull}, tid}, *bucket);
        });
    }
    pg::call([&]() noexcept {
        ExecDropSingleTupleTableSlot(slot);
        MemoryContextDelete(row_context);
        table_close(rel, NoLock);
    });
}

// A row type's description for row_hash(), cached in fn_extra per type.
struct RowTypeCache {
    Oid type;
    int32 typmod;
    TableInfo info;
};

}  // namespace
}  // namespace ferry::pg

using namespace ferry::pg;

// ferry.row_hash(record) → bigint: the canonical row hash (docs/hashing.md).
FERRY_FUNCTION(row_hash) {
    HeapTupleHeader header =
        ferry::pg::value([&]() noexcept { return PG_GETARG_HEAPTUPLEHEADER(0); });
    Oid type = HeapTupleHeaderGetTypeId(header);
    int32 typmod = HeapTupleHeaderGetTypMod(header);
    auto* cache = static_cast<RowTypeCache*>(fcinfo->flinfo->fn_extra);
    if (!cache || cache->type != type || cache->typmod != typmod) {
        ferry::pg::call([&]() noexcept {
            MemoryContext context = fcinfo->flinfo->fn_mcxt;
            cache =
                static_cast<RowTypeCache*>(MemoryContextAllocZero(context, sizeof(RowTypeCache)));
            TupleDesc desc = lookup_rowtype_tupdesc(type, typmod);
            describe_columns(cache->info, desc, context);
            ReleaseTupleDesc(desc);
            cache->type = type;
            cache->typmod = typmod;
        });
        order_columns(cache->info);
        fcinfo->flinfo->fn_extra = cache;
    }
    DeformedRow row{};
    ferry::pg::call([&]() noexcept {
        TupleDesc desc = lookup_rowtype_tupdesc(type, typmod);
        HeapTupleData tuple;
        tuple.t_len = HeapTupleHeaderGetDatumLength(header);
        ItemPointerSetInvalid(&tuple.t_self);
        tuple.t_tableOid = InvalidOid;
        tuple.t_data = header;
        row = deform(&tuple, desc);
        ReleaseTupleDesc(desc);
    });
    return Int64GetDatum(canonical_row_hash(cache->info, row));
}

// ferry.table_hash(table, filter) → (rows, digest).
FERRY_FUNCTION(table_hash) {
    Oid relid = table_argument(fcinfo);
    const char* filter = optional_text(fcinfo, 1);
    TableDigest digest;
    scan_table(relid, filter, false, [&](const ScannedRow& scanned) {
        digest.add_row(canonical_row_hash128(scanned.table, scanned.row));
    });
    TupleDesc desc = nullptr;
    ferry::pg::call([&]() noexcept {
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "table_hash must return a composite type");
        BlessTupleDesc(desc);
    });
    Datum values[2] = {Int64GetDatum(static_cast<int64>(digest.rows())), text_datum(digest.hex())};
    bool nulls[2] = {};
    return ferry::pg::value(
        [&]() noexcept { return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)); });
}

// ferry.bucket_hashes(table, buckets, filter, within_buckets, within)
// → (bucket, rows, digest) for every non-empty bucket.
FERRY_FUNCTION(bucket_hashes) {
    Oid relid = table_argument(fcinfo);
    uint64_t buckets = positive_buckets(fcinfo, 1, "buckets");
    const char* filter = optional_text(fcinfo, 2);
    uint64_t parent_buckets = PG_ARGISNULL(3) ? 0 : positive_buckets(fcinfo, 3, "within_buckets");
    std::vector<int64> parents =
        bucket_list(fcinfo, 4, parent_buckets ? parent_buckets : buckets, "within");
    if (parent_buckets != 0 && buckets % parent_buckets != 0)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "buckets must be a multiple of within_buckets",
                       "A bucket b lies within bucket b % within_buckets only then.");
    std::unordered_set<uint64_t> within(parents.begin(), parents.end());
    ferry::pg::call([&]() noexcept { InitMaterializedSRF(fcinfo, 0); });
    BucketDigests digests(buckets);
    bool first_level = parent_buckets == 0;
    if (first_level)
        first_level_memory.start(relid, filter);
    scan_table(relid, filter, true, [&](const ScannedRow& scanned) {
        uint64_t key_hash = canonical_key_hash(scanned.table, scanned.row);
        if (first_level)
            first_level_memory.add(key_hash, scanned.tid);
        else if (!within.count(ferry::canonical::bucket_of(key_hash, parent_buckets)))
            return;
        uint64_t bucket = ferry::canonical::bucket_of(key_hash, buckets);
        digests.prefetch(bucket);  // while the row is hashed
        digests[bucket].add_row(canonical_row_hash128(scanned.table, scanned.row));
    });
    if (first_level)
        first_level_memory.finish();
    digests.put(fcinfo);
    return static_cast<Datum>(0);
}

// ferry.bucket_rows(table, buckets, bucket_list, filter)
// → (bucket, key, row_hash) for every row in the listed buckets.
FERRY_FUNCTION(bucket_rows) {
    Oid relid = table_argument(fcinfo);
    uint64_t buckets = positive_buckets(fcinfo, 1, "buckets");
    std::vector<int64> listed = bucket_list(fcinfo, 2, buckets, "bucket_list");
    std::unordered_set<uint64_t> wanted(listed.begin(), listed.end());
    const char* filter = optional_text(fcinfo, 3);
    ferry::pg::call([&]() noexcept { InitMaterializedSRF(fcinfo, 0); });
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    auto put = [&](const ScannedRow& scanned, uint64_t bucket) {
        Datum values[3] = {Int64GetDatum(static_cast<int64>(bucket)),
                           key_to_jsonb(scanned.table, scanned.row),
                           Int64GetDatum(canonical_row_hash(scanned.table, scanned.row))};
        bool nulls[3] = {};
        ferry::pg::call([&]() noexcept {
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        });
    };
    if (first_level_memory.holds(relid, filter)) {
        fetch_remembered_rows(
            relid,
            [&](uint64_t key_hash) {
                uint64_t bucket = ferry::canonical::bucket_of(key_hash, buckets);
                return wanted.count(bucket) ? std::optional<uint64_t>(bucket) : std::nullopt;
            },
            put);
        return static_cast<Datum>(0);
    }
    scan_table(relid, filter, true, [&](const ScannedRow& scanned) {
        uint64_t bucket =
            ferry::canonical::bucket_of(canonical_key_hash(scanned.table, scanned.row), buckets);
        if (wanted.count(bucket))
            put(scanned, bucket);
    });
    return static_cast<Datum>(0);
}
