// `ferry diff A B [--tables t1,t2] [--rows] [--where TABLE:CONDITION]`:
// which tables differ between two peers, and with --rows which keys, moving
// bucket digests and the keys of differing buckets only (docs/diff.md).
// Each peer is read in one REPEATABLE READ transaction, so every scan of a
// peer sees the same snapshot; the two peers work concurrently.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ferry/bucket_descent.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_tables.hpp"
#include "pg_connection.hpp"
#include "session_recorder.hpp"

namespace ferry::cli {
namespace {

using diff::BucketDescent;

struct DiffOptions {
    std::string peer_a;
    std::string peer_b;
    std::vector<std::string> tables;
    std::vector<std::string> filters;  // TABLE:CONDITION
    bool rows = false;
    bool json = false;
    bool quiet = false;
};

struct TableToCompare {
    PeerTable a;
    PeerTable b;
    Param filter;
};

struct TableResult {
    std::string name;
    canonical::TableDigest a;
    canonical::TableDigest b;
    diff::Differences differences;  // with --rows
    uint64_t buckets = 0;
    int levels = 0;
    bool equal() const { return a == b; }
};

// Tables with at least this many rows get progress lines.
constexpr uint64_t kLongTableRows = 100000;

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

std::string bigint_array(const std::vector<uint64_t>& values) {
    return fmt::format("{{{}}}", fmt::join(values, ","));
}

uint64_t to_unsigned(const std::string& text) {
    return std::stoull(text);
}

// Splits on every `separator`, keeping empty fields.
std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> fields;
    size_t start = 0;
    for (size_t end; (end = text.find(separator, start)) != std::string_view::npos; start = end + 1)
        fields.push_back(text.substr(start, end - start));
    fields.push_back(text.substr(start));
    return fields;
}

Error malformed_answer(const PgConnection& db) {
    return Error(ErrorKind::internal,
                 fmt::format("unexpected answer from ferry's bucket functions in {}", db.peer()));
}

std::vector<diff::BucketSummary> parse_buckets(const PgResult& result, const PgConnection& db) {
    std::vector<diff::BucketSummary> buckets;
    for (int r = 0; r < result.rows(); r++) {
        std::string packed = result.text(r, 0);
        for (std::string_view entry : split(packed, ',')) {
            auto fields = split(entry, ':');
            if (fields.size() != 3)
                throw malformed_answer(db);
            buckets.push_back({to_unsigned(std::string(fields[0])),
                               to_unsigned(std::string(fields[1])), std::string(fields[2])});
        }
    }
    return buckets;
}

std::vector<diff::BucketRow> parse_rows(const PgResult& result, const PgConnection& db) {
    std::vector<diff::BucketRow> rows;
    for (int r = 0; r < result.rows(); r++) {
        uint64_t bucket = to_unsigned(result.text(r, 0));
        std::string packed = result.text(r, 1);
        for (std::string_view line : split(packed, '\n')) {
            size_t space = line.find(' ');
            if (space == std::string_view::npos)
                throw malformed_answer(db);
            rows.push_back({bucket, std::stoll(std::string(line.substr(0, space))),
                            std::string(line.substr(space + 1))});
        }
    }
    return rows;
}

// "TABLE:CONDITION", the table written as in SQL; the first colon outside
// double quotes ends it.
std::pair<std::string, std::string> split_filter(const std::string& option) {
    bool quoted = false;
    for (size_t i = 0; i < option.size(); i++) {
        if (option[i] == '"')
            quoted = !quoted;
        else if (option[i] == ':' && !quoted && i > 0 && i + 1 < option.size())
            return {option.substr(0, i), option.substr(i + 1)};
    }
    throw Error(ErrorKind::invalid_input, fmt::format("invalid --where \"{}\"", option), {},
                "Write TABLE:CONDITION, e.g. --where 'orders:customer_id = 42'.");
}

class PeerDiff {
  public:
    explicit PeerDiff(const DiffOptions& options)
        : options_(options),
          a_(connect_postgres_peer(options.peer_a)),
          b_(connect_postgres_peer(options.peer_b)) {}

    int run();

  private:
    std::vector<TableToCompare> tables_to_compare();
    TableResult compare_digests(const TableToCompare& table);
    TableResult compare_rows(const TableToCompare& table);
    void progress(const TableToCompare& table, const std::string& message);
    void print(const std::vector<TableResult>& results) const;
    void print_json(const std::vector<TableResult>& results) const;
    uint64_t bytes_received() const { return a_.bytes_received() + b_.bytes_received(); }

    const DiffOptions& options_;
    PgConnection a_;
    PgConnection b_;
    std::unique_ptr<SessionRecorder> session_;
    uint64_t rows_done_ = 0;
    uint64_t rows_total_ = 0;
};

std::vector<TableToCompare> PeerDiff::tables_to_compare() {
    std::vector<std::string> names = options_.tables;
    if (names.empty())
        names = tracked_tables(a_);
    if (names.empty())
        throw Error(ErrorKind::invalid_input, "no tables to compare",
                    fmt::format("{} tracks no tables.", a_.peer()),
                    "Name them: ferry diff A B --tables t1,t2");
    std::vector<TableToCompare> tables;
    for (const auto& name : names) {
        TableToCompare table{describe_table(a_, name), describe_table(b_, name), {}};
        require_same_columns(table.a, fmt::format("A ({})", a_.peer()), table.b,
                             fmt::format("B ({})", b_.peer()));
        tables.push_back(std::move(table));
    }
    for (const auto& option : options_.filters) {
        auto [name, condition] = split_filter(option);
        std::string oid = resolve_table(a_, name).oid;
        bool matched = false;
        for (auto& table : tables)
            if (table.a.oid == oid) {
                table.filter = condition;
                matched = true;
            }
        if (!matched)
            throw Error(ErrorKind::invalid_input,
                        fmt::format("--where names table \"{}\", which is not compared", name), {},
                        "Add it to --tables, or drop the --where.");
    }
    return tables;
}

// A line on stderr for long tables, and the step in ferry.sessions, where a
// cancel request is seen between two rounds.
void PeerDiff::progress(const TableToCompare& table, const std::string& message) {
    if (!options_.quiet &&
        std::max(table.a.estimated_rows, table.b.estimated_rows) >= kLongTableRows)
        log_line(fmt::format("{}: {}", table.a.name, message));
    session_->progress(fmt::format("{}: {}", table.a.name, message), rows_done_, rows_total_,
                       bytes_received());
}

TableResult PeerDiff::compare_digests(const TableToCompare& table) {
    progress(table, "hashing");
    auto [in_a, in_b] = query_both(a_, {table.a.oid, table.filter}, b_, {table.b.oid, table.filter},
                                   kTableHashQuery);
    TableResult result;
    result.name = table.a.name;
    result.a = canonical::TableDigest::from_hex(to_unsigned(in_a.text(0, 0)), in_a.text(0, 1));
    result.b = canonical::TableDigest::from_hex(to_unsigned(in_b.text(0, 0)), in_b.text(0, 1));
    return result;
}

TableResult PeerDiff::compare_rows(const TableToCompare& table) {
    BucketDescent descent(std::max(table.a.estimated_rows, table.b.estimated_rows));
    while (descent.next() != BucketDescent::Next::done) {
        if (descent.next() == BucketDescent::Next::hashes) {
            const auto& ask = descent.hash_request();
            progress(table, fmt::format("hashing {} buckets", ask.buckets));
            Param within_buckets, within;
            if (ask.within_buckets > 0) {
                within_buckets = std::to_string(ask.within_buckets);
                within = bigint_array(ask.within);
            }
            auto params = [&](const PeerTable& side) -> std::vector<Param> {
                return {side.oid, std::to_string(ask.buckets),      table.filter, within_buckets,
                        within,   std::to_string(ask.digest_digits)};
            };
            auto [in_a, in_b] =
                query_both(a_, params(table.a), b_, params(table.b), kBucketHashesQuery);
            descent.take_hashes(parse_buckets(in_a, a_), parse_buckets(in_b, b_));
            if (descent.differing_buckets() > 0)
                progress(table, fmt::format("{} buckets differ, holding up to {} rows",
                                            descent.differing_buckets(),
                                            descent.rows_in_differing_buckets()));
        } else {
            const auto& ask = descent.rows_request();
            progress(table, fmt::format("reading the keys of {} buckets", ask.bucket_list.size()));
            auto params = [&](const PeerTable& side) -> std::vector<Param> {
                return {side.oid, std::to_string(ask.buckets), bigint_array(ask.bucket_list),
                        table.filter};
            };
            auto [in_a, in_b] =
                query_both(a_, params(table.a), b_, params(table.b), kBucketRowsQuery);
            descent.take_rows(parse_rows(in_a, a_), parse_rows(in_b, b_));
        }
    }
    TableResult result{table.a.name,
                       descent.table_a(),
                       descent.table_b(),
                       descent.differences(),
                       descent.first_level_buckets(),
                       descent.levels()};
    const auto& found = result.differences;
    progress(table, fmt::format("{} only in A, {} only in B, {} changed", found.only_in_a.size(),
                                found.only_in_b.size(), found.changed.size()));
    return result;
}

int PeerDiff::run() {
    require_ferry(a_, "0.2");
    require_ferry(b_, "0.2");
    std::vector<TableToCompare> tables = tables_to_compare();
    for (const auto& table : tables)
        rows_total_ += table.a.estimated_rows;
    session_ = std::make_unique<SessionRecorder>(
        options_.peer_a, SessionInfo{"diff", std::nullopt, a_.peer(), b_.peer(),
                                     options_.rows ? "buckets" : "table-hash"});
    std::vector<TableResult> results;
    try {
        for (PgConnection* peer : {&a_, &b_})
            peer->execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        for (const auto& table : tables) {
            results.push_back(options_.rows ? compare_rows(table) : compare_digests(table));
            rows_done_ += results.back().a.rows();
        }
        for (PgConnection* peer : {&a_, &b_})
            peer->execute("COMMIT");
        session_->progress("done", rows_done_, rows_done_, bytes_received());
        session_->succeeded();
    } catch (const Error& error) {
        session_->ended_by(error);
        throw;
    }
    if (options_.json)
        print_json(results);
    else
        print(results);
    for (const auto& result : results)
        if (!result.equal())
            return exit_differences;
    return exit_ok;
}

void PeerDiff::print(const std::vector<TableResult>& results) const {
    std::vector<std::vector<std::string>> rows, keys;
    size_t differing = 0;
    for (const auto& r : results) {
        std::vector<std::string> row{r.name, std::to_string(r.a.rows()),
                                     std::to_string(r.b.rows())};
        if (options_.rows) {
            row.push_back(std::to_string(r.differences.only_in_a.size()));
            row.push_back(std::to_string(r.differences.only_in_b.size()));
            row.push_back(std::to_string(r.differences.changed.size()));
        }
        row.push_back(r.equal() ? "equal" : "differs");
        rows.push_back(std::move(row));
        differing += r.equal() ? 0 : 1;
        auto list = [&](const std::vector<std::string>& found, const char* what) {
            for (const auto& key : found)
                keys.push_back({r.name, what, key});
        };
        list(r.differences.only_in_a, "only in A");
        list(r.differences.only_in_b, "only in B");
        list(r.differences.changed, "changed");
    }
    if (options_.rows)
        print_table({"TABLE", "ROWS A", "ROWS B", "ONLY IN A", "ONLY IN B", "CHANGED", "RESULT"},
                    rows);
    else
        print_table({"TABLE", "ROWS A", "ROWS B", "RESULT"}, rows);
    if (!keys.empty()) {
        fmt::print("\n");
        print_table({"TABLE", "DIFFERENCE", "KEY"}, keys);
    }
    fmt::print("\n{} of {} tables differ; {:.1f} kB received from the peers\n", differing,
               results.size(), static_cast<double>(bytes_received()) / 1024);
}

void PeerDiff::print_json(const std::vector<TableResult>& results) const {
    auto keys = [](const std::vector<std::string>& found) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& key : found)
            list.push_back(nlohmann::json::parse(key));
        return list;
    };
    nlohmann::json tables = nlohmann::json::array();
    bool all_equal = true;
    for (const auto& r : results) {
        nlohmann::json entry = {{"table", r.name},       {"equal", r.equal()},
                                {"rows_a", r.a.rows()},  {"rows_b", r.b.rows()},
                                {"digest_a", r.a.hex()}, {"digest_b", r.b.hex()}};
        if (options_.rows) {
            entry["only_in_a"] = keys(r.differences.only_in_a);
            entry["only_in_b"] = keys(r.differences.only_in_b);
            entry["changed"] = keys(r.differences.changed);
            entry["buckets"] = r.buckets;
            entry["levels"] = r.levels;
        }
        all_equal = all_equal && r.equal();
        tables.push_back(std::move(entry));
    }
    nlohmann::json out = {{"a", a_.peer()},
                          {"b", b_.peer()},
                          {"equal", all_equal},
                          {"bytes_received", bytes_received()},
                          {"tables", tables}};
    fmt::print("{}\n", out.dump());
}

}  // namespace

void setup_diff(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<DiffOptions>();
    auto* cmd =
        app.add_subcommand("diff", "Compare tables between two peers; exit 3 when they differ");
    cmd->add_option("a", options->peer_a, "First peer: libpq connection string or URI")->required();
    cmd->add_option("b", options->peer_b, "Second peer")->required();
    cmd->add_option("--tables", options->tables,
                    "Tables to compare (comma-separated, repeatable; default: those A tracks)")
        ->delimiter(',');
    cmd->add_flag("--rows", options->rows, "List the keys of rows that differ");
    cmd->add_option("--where", options->filters,
                    "TABLE:CONDITION, compare only rows where CONDITION holds (repeatable)");
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->add_flag("--quiet", options->quiet, "No progress lines on stderr");
    cmd->callback([options, exit_code] { *exit_code = PeerDiff(*options).run(); });
}

}  // namespace ferry::cli
