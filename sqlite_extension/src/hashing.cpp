// Table scans and hashing (see hashing.hpp, docs/hashing.md, docs/sqlite.md).
#include "hashing.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "canonical_value.hpp"
#include "ferry/canonical.hpp"
#include "ferry/text.hpp"

namespace ferry::sqlite {
namespace {

using canonical::RowEncoder;
using canonical::TableDigest;

[[noreturn]] void invalid_filter(const std::string& why) {
    throw ferry::Error(ErrorKind::invalid_input, "invalid where condition: " + why,
                       "A where condition is one boolean expression over the table's columns.");
}

// Parentheses of the condition must balance on their own, outside quotes and
// comments, so that it cannot close ferry's WHERE (…) and go on with a
// GROUP BY, a UNION or a second statement.
void check_balanced(const std::string& filter) {
    int depth = 0;
    for (size_t i = 0; i < filter.size(); i++) {
        char c = filter[i];
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            size_t end = filter.find(close, i + 1);
            if (end == std::string::npos)
                invalid_filter("it ends inside a quoted string or name");
            i = end;
        } else if (c == '-' && i + 1 < filter.size() && filter[i + 1] == '-') {
            invalid_filter("it contains a comment");
        } else if (c == '/' && i + 1 < filter.size() && filter[i + 1] == '*') {
            invalid_filter("it contains a comment");
        } else if (c == ';') {
            invalid_filter("it holds more than one statement");
        } else if (c == '?' || c == ':' || c == '@' || c == '$') {
            invalid_filter("it contains a parameter");
        } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            // SQLite does not always show a subquery to the authorizer (one
            // on the rowid can be planned away), so the words are refused.
            size_t end = i;
            while (end < filter.size() &&
                   (std::isalnum(static_cast<unsigned char>(filter[end])) || filter[end] == '_'))
                end++;
            std::string word = filter.substr(i, end - i);
            for (const char* keyword : {"select", "values", "with"})
                if (sqlite3_stricmp(word.c_str(), keyword) == 0)
                    invalid_filter("it contains a subquery");
            i = end - 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && --depth < 0) {
            invalid_filter("a parenthesis closes that it did not open");
        }
    }
    if (depth != 0)
        invalid_filter("a parenthesis is not closed");
}

// While the scan is prepared, the authorizer lets the condition read only
// the table and call only functions that cannot write or vary per call.
struct FilterCheck {
    std::string table;
    int selects = 0;
    std::string refused;
};

int authorize_filter(void* data, int action, const char* a, const char* b, const char*,
                     const char*) {
    auto* check = static_cast<FilterCheck*>(data);
    switch (action) {
        case SQLITE_SELECT:
            if (++check->selects > 1)
                check->refused = "it contains a subquery";
            break;
        case SQLITE_READ:
            if (!a || sqlite3_stricmp(a, check->table.c_str()) != 0)
                check->refused = "it reads another table";
            break;
        case SQLITE_FUNCTION: {
            static const char* const volatile_functions[] = {
                "random",        "randomblob",        "changes",
                "total_changes", "last_insert_rowid", "load_extension"};
            for (const char* name : volatile_functions)
                if (b && sqlite3_stricmp(b, name) == 0)
                    check->refused = "it calls a volatile function";
            if (b && sqlite3_strnicmp(b, "ferry_", 6) == 0)
                check->refused = "it calls a ferry function";
            break;
        }
        default:
            check->refused = "it is not a plain expression";
    }
    return check->refused.empty() ? SQLITE_OK : SQLITE_DENY;
}

// The table's columns in name order, then its rowid if it has one.
std::string select_list(const TableShape& shape) {
    std::string sql = "SELECT ";
    for (size_t n = 0; n < shape.name_order.size(); n++)
        sql += (n ? ", " : "") + quote_identifier(shape.columns[shape.name_order[n]].name);
    if (!shape.rowid_alias.empty())
        sql += ", " + shape.rowid_alias;
    return sql + " FROM main." + quote_identifier(shape.name);
}

// SELECT of the table's rows, optionally filtered.
Statement prepare_scan(sqlite3* db, const TableShape& shape,
                       const std::optional<std::string>& filter) {
    std::string sql = select_list(shape);
    if (!filter)
        return Statement(db, sql);
    if (filter->find_first_not_of(" \t\r\n") == std::string::npos)
        invalid_filter("it is empty");
    check_balanced(*filter);
    sql += " WHERE (" + *filter + ")";
    FilterCheck check{shape.name, 0, {}};
    sqlite3_set_authorizer(db, authorize_filter, &check);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    sqlite3_set_authorizer(db, nullptr, nullptr);
    sqlite3_finalize(raw);
    if (!check.refused.empty())
        invalid_filter(check.refused);
    if (rc != SQLITE_OK)
        invalid_filter(sqlite3_errmsg(db));
    return Statement(db, sql);
}

// Position of each key column in the scan (name order), in name order: the
// key's canonical encoding also sorts columns by name.
std::vector<int> key_scan_columns(const TableShape& shape) {
    std::vector<int> out;
    for (size_t n = 0; n < shape.name_order.size(); n++)
        if (shape.columns[shape.name_order[n]].key_position > 0)
            out.push_back(static_cast<int>(n));
    return out;
}

// The current row of a scan. Values are made canonical when first asked
// for: a bucket scan needs only the key of the rows outside its buckets.
class ScannedRow {
  public:
    ScannedRow(const TableShape& shape, const Statement& scan)
        : shape(shape), scan(scan), values_(shape.name_order.size()), ready_(values_.size()) {}

    void next() { std::fill(ready_.begin(), ready_.end(), false); }
    size_t size() const { return values_.size(); }
    const Column& column(int n) const { return shape.columns[shape.name_order[n]]; }
    const CanonicalValue& value(int n) {
        if (!ready_[n]) {
            values_[n] = canonical_value(column(n), scan.value(n));
            ready_[n] = true;
        }
        return values_[n];
    }

    // Adds column n to a row's encoding. An integer is written straight
    // into the encoder: making it a CanonicalValue first would cost a
    // string per value, and integers are most of most keys and rows.
    void add_to(RowEncoder& encoder, int n) {
        if (!ready_[n]) {
            sqlite3_value* stored = scan.value(n);
            if (sqlite3_value_type(stored) == SQLITE_INTEGER && column(n).kind != ValueKind::json) {
                encoder.add_int(column(n).name, sqlite3_value_int64(stored));
                return;
            }
        }
        add_to_row(encoder, column(n).name, value(n));
    }

    int64_t rowid() const { return scan.integer(static_cast<int>(values_.size())); }

    const TableShape& shape;
    const Statement& scan;

  private:
    std::vector<CanonicalValue> values_;  // in name order
    std::vector<bool> ready_;
};

// Calls visit for each row of the table.
template <typename Visit>
void scan_table(sqlite3* db, const TableShape& shape, const std::optional<std::string>& filter,
                Visit visit) {
    Statement scan = prepare_scan(db, shape, filter);
    ScannedRow row(shape, scan);
    while (scan.step()) {
        row.next();
        visit(row);
    }
}

void encode(RowEncoder& encoder, ScannedRow& row, const std::vector<int>* only) {
    encoder.clear();
    if (only) {
        for (int n : *only)
            row.add_to(encoder, n);
        return;
    }
    for (int n = 0; n < static_cast<int>(row.size()); n++)
        row.add_to(encoder, n);
}

// Spaced as PostgreSQL prints jsonb ({"id": 42, "line": 1}), so that keys
// look the same whichever engine found them.
std::string key_json(ScannedRow& row, const std::vector<int>& key) {
    std::string out = "{";
    for (int n : key) {
        if (out.size() > 1)
            out += ", ";
        out += nlohmann::json(row.column(n).name).dump() + ": ";
        // Integers as people write them ({"id":42}); other values canonical.
        sqlite3_value* value = row.scan.value(n);
        out += sqlite3_value_type(value) == SQLITE_INTEGER
                   ? std::to_string(sqlite3_value_int64(value))
                   : canonical_json(row.value(n));
    }
    return out + "}";
}

constexpr uint64_t kDenseBuckets = uint64_t{1} << 20;

uint64_t positive_buckets(const Args& args, int i, const char* name) {
    int64_t value = args.integer(i, name);
    if (value <= 0)
        throw ferry::Error(ErrorKind::invalid_input, std::string(name) + " must be positive");
    return static_cast<uint64_t>(value);
}

// A JSON array of bucket numbers ('[3, 17]'); SQLite has no arrays.
std::unordered_set<uint64_t> bucket_list(const Args& args, int i, const char* name) {
    std::unordered_set<uint64_t> out;
    if (!args.has(i))
        return out;
    nlohmann::json list = nlohmann::json::parse(args.text(i, name), nullptr, false);
    if (list.is_discarded() || !list.is_array())
        throw ferry::Error(ErrorKind::invalid_input,
                           std::string(name) + " must be a JSON array of bucket numbers");
    for (const auto& item : list) {
        if (!item.is_number_integer() || item.get<int64_t>() < 0)
            throw ferry::Error(ErrorKind::invalid_input,
                               std::string(name) + " must be a JSON array of bucket numbers");
        out.insert(item.get<uint64_t>());
    }
    return out;
}

// Tables up to this many rows get a key hash cache (16 bytes a row).
constexpr size_t kCacheRows = size_t{4} << 20;

// What identifies the data a scan saw: another connection's commit changes
// data_version, this connection's writes total_changes, DDL schema_version.
std::string snapshot_identity(sqlite3* db) {
    Statement versions(db,
                       "SELECT (SELECT data_version FROM pragma_data_version) || '/' || "
                       "(SELECT schema_version FROM pragma_schema_version)");
    versions.step();
    return versions.text(0) + "/" + std::to_string(sqlite3_total_changes64(db));
}

// A cache is only worth keeping inside a transaction (ferry diff reads each
// peer in one), for a table with a rowid.
std::optional<KeyHashCache> start_cache(sqlite3* db, const TableShape& shape,
                                        const std::optional<std::string>& filter) {
    if (shape.rowid_alias.empty() || sqlite3_get_autocommit(db))
        return std::nullopt;
    return KeyHashCache{shape.name, filter, snapshot_identity(db), {}};
}

const KeyHashCache* usable_cache(const Call& call, const TableShape& shape,
                                 const std::optional<std::string>& filter) {
    const auto& cache = call.state.key_hashes;
    if (!cache || cache->table != shape.name || cache->filter != filter ||
        sqlite3_get_autocommit(call.db) || cache->snapshot != snapshot_identity(call.db))
        return nullptr;
    return &*cache;
}

// SELECT * FROM ferry_table_hash(table [, filter]) → (rows, digest).
Rows table_hash(const Call& call, const Args& args) {
    TableDigest digest;
    RowEncoder encoder;
    TableShape shape = describe_table(call.db, args.text(0, "table"));
    scan_table(call.db, shape, args.optional_text(1), [&](ScannedRow& row) {
        encode(encoder, row, nullptr);
        digest.add_row(encoder.hash128());
    });
    return {{static_cast<int64_t>(digest.rows()), digest.hex()}};
}

// SELECT * FROM ferry_bucket_hashes(table, buckets [, filter, within_buckets,
// within]) → (bucket, rows, digest) for every non-empty bucket, by bucket.
Rows bucket_hashes(const Call& call, const Args& args) {
    TableShape shape = describe_keyed_table(call.db, args.text(0, "table"));
    uint64_t buckets = positive_buckets(args, 1, "buckets");
    std::optional<std::string> filter = args.optional_text(2);
    uint64_t parent_buckets = args.has(3) ? positive_buckets(args, 3, "within_buckets") : 0;
    std::unordered_set<uint64_t> within = bucket_list(args, 4, "within");
    if (parent_buckets != 0 && buckets % parent_buckets != 0)
        throw ferry::Error(ErrorKind::invalid_input, "buckets must be a multiple of within_buckets",
                           "A bucket b lies within bucket b % within_buckets only then.");
    // Dense when it fits: a hash map lookup per row costs more than the hash.
    std::vector<TableDigest> dense(buckets <= kDenseBuckets ? buckets : 0);
    std::unordered_map<uint64_t, TableDigest> sparse;
    auto digest_of = [&](uint64_t bucket) -> TableDigest& {
        return dense.empty() ? sparse[bucket] : dense[bucket];
    };
    RowEncoder encoder;
    std::vector<int> key = key_scan_columns(shape);
    std::optional<KeyHashCache> cache = start_cache(call.db, shape, filter);
    call.state.key_hashes.reset();
    scan_table(call.db, shape, filter, [&](ScannedRow& row) {
        encode(encoder, row, &key);
        uint64_t key_hash = encoder.hash();
        if (cache && cache->rows.size() < kCacheRows)
            cache->rows.emplace_back(key_hash, row.rowid());
        else
            cache.reset();
        if (parent_buckets != 0 && !within.count(canonical::bucket_of(key_hash, parent_buckets)))
            return;
        encode(encoder, row, nullptr);
        digest_of(canonical::bucket_of(key_hash, buckets)).add_row(encoder.hash128());
    });
    std::vector<std::pair<uint64_t, TableDigest>> sorted(sparse.begin(), sparse.end());
    for (uint64_t bucket = 0; bucket < dense.size(); bucket++)
        if (dense[bucket].rows() > 0)
            sorted.emplace_back(bucket, dense[bucket]);
    call.state.key_hashes = std::move(cache);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    Rows out;
    for (const auto& [bucket, digest] : sorted)
        out.push_back(
            {static_cast<int64_t>(bucket), static_cast<int64_t>(digest.rows()), digest.hex()});
    return out;
}

// SELECT * FROM ferry_bucket_rows(table, buckets, bucket_list [, filter])
// → (bucket, key, row_hash) for every row in the listed buckets.
Rows bucket_rows(const Call& call, const Args& args) {
    TableShape shape = describe_keyed_table(call.db, args.text(0, "table"));
    uint64_t buckets = positive_buckets(args, 1, "buckets");
    std::unordered_set<uint64_t> listed = bucket_list(args, 2, "bucket_list");
    std::optional<std::string> filter = args.optional_text(3);
    // A flag per bucket when that fits: this test runs for every row.
    std::vector<char> dense(buckets <= kDenseBuckets ? buckets : 0);
    for (uint64_t bucket : listed)
        if (bucket < dense.size())
            dense[bucket] = 1;
    auto wanted = [&](uint64_t bucket) {
        return dense.empty() ? listed.count(bucket) > 0 : dense[bucket] != 0;
    };
    std::vector<int> key = key_scan_columns(shape);
    Rows out;
    RowEncoder encoder;
    auto add_row = [&](ScannedRow& row, uint64_t bucket) {
        encode(encoder, row, nullptr);
        out.push_back({static_cast<int64_t>(bucket), key_json(row, key),
                       static_cast<int64_t>(encoder.hash())});
    };
    if (const KeyHashCache* cache = usable_cache(call, shape, filter)) {
        // Only the rows of the wanted buckets are read, by rowid.
        Statement fetch(call.db, select_list(shape) + " WHERE " + shape.rowid_alias + " = ?1");
        for (const auto& [key_hash, rowid] : cache->rows) {
            uint64_t bucket = canonical::bucket_of(key_hash, buckets);
            if (!wanted(bucket))
                continue;
            fetch.reset();
            fetch.bind(1, rowid);
            if (!fetch.step())
                throw ferry::Error(ErrorKind::internal, "a cached row is gone");
            ScannedRow row(shape, fetch);
            add_row(row, bucket);
        }
        return out;
    }
    scan_table(call.db, shape, filter, [&](ScannedRow& row) {
        encode(encoder, row, &key);
        uint64_t bucket = canonical::bucket_of(encoder.hash(), buckets);
        if (wanted(bucket))
            add_row(row, bucket);
    });
    return out;
}

// A value of a change log row (JSON, as the capture triggers wrote it).
CanonicalValue canonical_json_value(const Column& column, const nlohmann::json& value) {
    using canonical::ValueClass;
    if (value.is_null())
        return {};
    if (column.kind == ValueKind::json && value.is_number()) {  // as canonical_value
        CanonicalValue canonical = canonical_text(column.kind, value.dump());
        return {canonical.value_class, std::string(canonical.view())};
    }
    if (value.is_boolean())
        return {ValueClass::number, canonical::number_from_int(value.get<bool>() ? 1 : 0)};
    if (value.is_number_integer())
        return {ValueClass::number, value.is_number_unsigned()
                                        ? canonical::normalize_number(value.dump())
                                        : canonical::number_from_int(value.get<int64_t>())};
    if (value.is_number_float())
        return {ValueClass::number, canonical::number_from_double(value.get<double>())};
    if (value.is_string()) {
        const std::string& text = value.get_ref<const std::string&>();
        if (column.kind == ValueKind::bytes)
            if (auto bytes = text::bytes_from_hex(text))
                return {ValueClass::bytes, std::move(*bytes)};
        if (text == "Infinity" || text == "-Infinity") {
            if (column.kind == ValueKind::numeric)
                return {ValueClass::number, text};
        }
        return canonical_text(column.kind, text);  // may borrow from the JSON document
    }
    // A nested JSON value: canonical_text parses it and owns the result.
    std::string dumped = value.dump();
    CanonicalValue canonical = canonical_text(column.kind, dumped);
    return {canonical.value_class, std::string(canonical.view())};
}

// ferry_row_hash(table, row_json): the row hash of a row given as a JSON
// object of column values (new_row or old_row of ferry_changes), over the
// columns it has.
void row_hash(const Call& call, const Args& args, Result& result) {
    TableShape shape = describe_table(call.db, args.text(0, "table"));
    if (!args.has(1)) {
        result.null();
        return;
    }
    nlohmann::json row = nlohmann::json::parse(args.text(1, "row"), nullptr, false);
    if (row.is_discarded() || !row.is_object())
        throw ferry::Error(ErrorKind::invalid_input, "ferry_row_hash(): row must be a JSON object");
    for (const auto& item : row.items()) {
        bool known = std::any_of(shape.columns.begin(), shape.columns.end(),
                                 [&](const Column& c) { return c.name == item.key(); });
        if (!known)
            throw ferry::Error(
                ErrorKind::invalid_input,
                "row has column \"" + item.key() + "\" that table " + quote_identifier(shape.name) +
                    " does not have",
                "", "If the table changed after ferry_track(), run ferry_track() again.");
    }
    RowEncoder encoder;
    for (size_t i : shape.name_order) {
        const Column& column = shape.columns[i];
        // A row logged before a column was added lacks it: its hash is
        // that of the columns it has, as it was taken then.
        auto found = row.find(column.name);
        if (found != row.end())
            add_to_row(encoder, column.name, canonical_json_value(column, *found));
    }
    result.integer(static_cast<int64_t>(encoder.hash()));
}

}  // namespace

void add_hashing_functions(std::vector<FunctionSpec>& specs) {
    specs.push_back({"ferry_row_hash", 2, 2, row_hash, 0});
}

void add_hashing_table_functions(std::vector<TableFunctionSpec>& specs) {
    specs.push_back({"ferry_table_hash",
                     "CREATE TABLE x(rows INTEGER, digest TEXT, table_name HIDDEN, filter HIDDEN)",
                     2, 1, 2, table_hash});
    specs.push_back({"ferry_bucket_hashes",
                     "CREATE TABLE x(bucket INTEGER, rows INTEGER, digest TEXT, table_name HIDDEN, "
                     "buckets HIDDEN, filter HIDDEN, within_buckets HIDDEN, within HIDDEN)",
                     3, 2, 5, bucket_hashes});
    specs.push_back(
        {"ferry_bucket_rows",
         "CREATE TABLE x(bucket INTEGER, key TEXT, row_hash INTEGER, table_name HIDDEN, "
         "buckets HIDDEN, bucket_list HIDDEN, filter HIDDEN)",
         3, 3, 4, bucket_rows});
}

}  // namespace ferry::sqlite
