// `ferry diff A B [--tables t1,t2] [--rows] [--where TABLE:CONDITION]`:
// which tables differ between two peers, and with --rows which keys, moving
// bucket digests and the keys of differing buckets only (docs/diff.md).
// Each peer is read in one REPEATABLE READ transaction, so every scan of a
// peer sees the same snapshot; the two peers work concurrently.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "diff_peer.hpp"
#include "ferry/bucket_descent.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "session_recorder.hpp"
#include "table_list_option.hpp"

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

class PeerDiff {
  public:
    explicit PeerDiff(const DiffOptions& options)
        : options_(options),
          a_(open_diff_peer(options.peer_a)),
          b_(open_diff_peer(options.peer_b)) {}

    int run();

  private:
    std::vector<TableToCompare> tables_to_compare();
    TableResult compare_digests(const TableToCompare& table);
    TableResult compare_rows(const TableToCompare& table);
    void progress(const TableToCompare& table, const std::string& message);
    void print(const std::vector<TableResult>& results) const;
    void print_json(const std::vector<TableResult>& results) const;
    uint64_t bytes_received() const { return a_->bytes_received() + b_->bytes_received(); }

    // Sends a request to both peers, then collects both answers: a remote
    // peer computes while the other one does.
    template <typename Send, typename Receive>
    auto both(Send send, Receive receive) {
        send(*a_, true);
        send(*b_, false);
        return std::make_pair(receive(*a_), receive(*b_));
    }

    const DiffOptions& options_;
    std::unique_ptr<DiffPeer> a_;
    std::unique_ptr<DiffPeer> b_;
    std::unique_ptr<SessionRecorder> session_;
    uint64_t rows_done_ = 0;
    uint64_t rows_total_ = 0;
};

std::vector<TableToCompare> PeerDiff::tables_to_compare() {
    std::vector<std::string> names = options_.tables;
    if (names.empty())
        names = a_->tracked_tables();
    if (names.empty())
        throw Error(ErrorKind::invalid_input, "no tables to compare",
                    fmt::format("{} tracks no tables.", a_->name()),
                    "Name them: ferry diff A B --tables t1,t2");
    std::vector<TableToCompare> tables;
    for (const auto& name : names) {
        TableToCompare table{a_->describe(name), b_->describe(name), {}};
        require_same_columns(table.a, fmt::format("A ({})", a_->name()), table.b,
                             fmt::format("B ({})", b_->name()));
        tables.push_back(std::move(table));
    }
    drop_repeats(tables,
                 [](const TableToCompare& table) { return table.a.name + '\n' + table.b.name; });
    for (const auto& option : options_.filters) {
        auto [name, condition] = split_table_filter(option);
        std::string identity = a_->identify(name);
        bool matched = false;
        for (auto& table : tables)
            if (a_->identify(table.a.name) == identity) {
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
    auto [in_a, in_b] =
        both([&](DiffPeer& peer,
                 bool is_a) { peer.send_table_hash(is_a ? table.a : table.b, table.filter); },
             [](DiffPeer& peer) { return peer.receive_table_hash(); });
    TableResult result;
    result.name = table.a.name;
    result.a = in_a;
    result.b = in_b;
    return result;
}

TableResult PeerDiff::compare_rows(const TableToCompare& table) {
    BucketDescent descent =
        find_differences(*a_, table.a, *b_, table.b, table.filter, {},
                         [&](const std::string& step) { progress(table, step); });
    return TableResult{table.a.name,
                       descent.table_a(),
                       descent.table_b(),
                       descent.differences(),
                       descent.first_level_buckets(),
                       descent.levels()};
}

int PeerDiff::run() {
    a_->require_ferry();
    b_->require_ferry();
    std::vector<TableToCompare> tables = tables_to_compare();
    for (const auto& table : tables)
        rows_total_ += table.a.estimated_rows;
    session_ = std::make_unique<SessionRecorder>(
        options_.peer_a, SessionInfo{"diff", std::nullopt, a_->name(), b_->name(),
                                     options_.rows ? "buckets" : "table-hash"});
    std::vector<TableResult> results;
    try {
        a_->begin_snapshot();
        b_->begin_snapshot();
        for (const auto& table : tables) {
            results.push_back(options_.rows ? compare_rows(table) : compare_digests(table));
            rows_done_ += results.back().a.rows();
        }
        a_->end_snapshot();
        b_->end_snapshot();
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
    nlohmann::json out = {{"a", a_->name()},
                          {"b", b_->name()},
                          {"equal", all_equal},
                          {"bytes_received", bytes_received()},
                          {"tables", tables}};
    cli::print_json(out);
}

}  // namespace

void setup_diff(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<DiffOptions>();
    auto* cmd =
        app.add_subcommand("diff", "Compare tables between two peers; exit 3 when they differ");
    cmd->add_option("a", options->peer_a, "First peer: libpq connection string, URI or sqlite:PATH")
        ->transform(resolve_peer)
        ->required();
    cmd->add_option("b", options->peer_b, "Second peer")->transform(resolve_peer)->required();
    add_table_list_option(
        cmd, "--tables", options->tables,
        "Tables to compare (comma-separated, repeatable; default: those A tracks)");
    cmd->add_flag("--rows", options->rows, "List the keys of rows that differ");
    cmd->add_option("--where", options->filters,
                    "TABLE:CONDITION, compare only rows where CONDITION holds (repeatable)");
    cmd->add_flag("--json", options->json, "Print the result as JSON");
    cmd->add_flag("--quiet", options->quiet, "No progress lines on stderr");
    cmd->callback([options, exit_code] { *exit_code = PeerDiff(*options).run(); });
}

}  // namespace ferry::cli
