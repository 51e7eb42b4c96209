// `ferry full-sync --from A --to B`: copies whole tables from one peer to
// another in five phases (docs/full-sync.md): backup (a snapshot of the
// source, pg_dump for PostgreSQL), transfer and convert (rows streamed
// through ferry, never the whole dump in memory), restore (only rows that
// differ are written, parents before children, each table with the run's
// checkpoint in one target transaction) and verify (table hashes).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "change_peers.hpp"
#include "commands.hpp"
#include "diff_peer.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "later_deletes.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "progress.hpp"
#include "session_recorder.hpp"
#include "stop_signals.hpp"
#include "sync_commands.hpp"
#include "sync_peers.hpp"
#include "table_leases.hpp"
#include "table_list_option.hpp"
#include "table_report.hpp"

namespace ferry::cli {
namespace {

constexpr int kPhases = 5;

class FullSync {
  public:
    explicit FullSync(const FullSyncOptions& options)
        : options_(options), progress_(options.quiet) {}
    int run(FullSyncResult* result);

  private:
    std::vector<SyncTable> plan();
    SessionInfo session_info() const {
        return {"full", options_.direction, source_->name(), target_->name(), options_.method};
    }
    void keep_changes_for_target(const std::vector<SyncTable>& tables);
    void tick(uint64_t rows_done, uint64_t bytes_done);
    WriteOptions write_options(const nlohmann::json& position);
    TableReport copy_table(const SyncTable& table, nlohmann::json& position,
                           LaterDeletes::Waiting waiting);
    bool use_diff(const SyncTable& table) const;
    std::vector<SyncTable> dumped_tables(const std::vector<SyncTable>& tables,
                                         const std::set<std::string>& done_before) const;
    std::optional<PartialWrite> compare(const SyncTable& table, std::vector<std::string>& keys);
    bool verify(const std::vector<SyncTable>& tables, std::vector<TableReport>& reports);
    void print(const std::vector<TableReport>& reports, bool all_verified) const;

    const FullSyncOptions& options_;
    Progress progress_;
    std::unique_ptr<SyncSource> source_;
    std::unique_ptr<SyncTarget> target_;
    std::unique_ptr<DiffPeer> target_hashes_;  // --method diff
    std::unique_ptr<SessionRecorder> session_;
    std::string job_;
    std::string scope_;                    // the run's table set: another set is another run
    std::unique_ptr<TableLeases> leases_;  // none in a dry run
    std::chrono::steady_clock::time_point session_updated_;
    std::string current_phase_;
    uint64_t rows_total_ = 0;
    uint64_t table_rows_total_ = 0;
    uint64_t rows_before_table_ = 0;
    uint64_t bytes_done_ = 0;
};

std::vector<SyncTable> FullSync::plan() {
    try {
        return plan_sync_tables(*source_, *target_, options_.tables, options_.filters, "full-sync");
    } catch (const Error& error) {
        if (!options_.dry_run)
            record_refused_run(options_.to, session_info(), error);
        throw;
    }
}

// A full sync of tracked tables is where the target's incremental link
// will start. Before the copy's snapshot is taken, the source is told to
// keep its changes for the target (a registered consumer that has
// acknowledged nothing yet), so that no other link's purge removes them
// before the target's first ferry sync acknowledges what it applied.
void FullSync::keep_changes_for_target(const std::vector<SyncTable>& tables) {
    std::set<std::string> tracked = tracked_identities(*source_), copied;
    for (const auto& table : tables) {
        std::string identity = source_->identify(table.source.name);
        if (tracked.count(identity))
            copied.insert(identity);
    }
    if (copied.empty())
        return;
    // The consumer of a link over the same tables; one over others drops
    // this hold once it covers them (docs/incremental-sync.md#consumers).
    std::string target_peer = open_change_applier(options_.to)->peer_id();
    open_change_reader(options_.from)->register_consumer(link_consumer(target_peer, copied));
}

// Between batches: the bar, the session row, the leases, and stop requests.
void FullSync::tick(uint64_t rows_done, uint64_t bytes_done) {
    stop_here_if_requested();
    progress_.update(rows_done - rows_before_table_, table_rows_total_, bytes_done);
    auto now = std::chrono::steady_clock::now();
    if (session_ && now - session_updated_ >= std::chrono::seconds(1)) {
        session_updated_ = now;
        session_->progress(current_phase_, rows_done, rows_total_, bytes_done_ + bytes_done);
    }
    if (leases_)
        leases_->keep();
}

// --method auto: diff when the target already holds most of the rows (by the
// planner's estimates), else dump.
bool FullSync::use_diff(const SyncTable& table) const {
    if (options_.method != "auto")
        return options_.method == "diff";
    return table.target.estimated_rows > 0 &&
           table.target.estimated_rows * 2 >= table.source.estimated_rows;
}

// The tables read whole (not by --method diff) and not written before.
std::vector<SyncTable> FullSync::dumped_tables(const std::vector<SyncTable>& tables,
                                               const std::set<std::string>& done_before) const {
    std::vector<SyncTable> dumped;
    for (const auto& table : tables)
        if (!done_before.count(table.target.name) && !use_diff(table))
            dumped.push_back(table);
    return dumped;
}

// The descent for a sync weighs time, not bytes (docs/full-sync.md): every
// round is a scan of both tables, and a few megabytes of keys cost less than
// one, so it starts with buckets of a few rows and reads keys sooner than
// ferry diff does. The first level stays under 2^18 buckets, whose digests
// ferry holds in memory (about 16 MB per peer).
diff::DescentTuning sync_descent_tuning(uint64_t estimated_rows) {
    constexpr uint64_t kMaxFirstLevelBuckets = uint64_t{1} << 18;
    diff::DescentTuning tuning;
    tuning.rows_per_bucket = std::max<uint64_t>(8, estimated_rows / kMaxFirstLevelBuckets + 1);
    tuning.read_rows_below_bytes = uint64_t{16} << 20;
    return tuning;
}

// --method diff: bucket hashes of both sides, then the keys that differ.
// Returns what the writer must be told; `keys` gets the source rows to copy.
std::optional<PartialWrite> FullSync::compare(const SyncTable& table,
                                              std::vector<std::string>& keys) {
    if (!target_hashes_) {
        target_hashes_ = open_diff_peer(options_.to);
        target_hashes_->require_ferry();
    }
    auto step = [&](const std::string& what) {
        progress_.note(fmt::format("{}: {}", table.target.name, what));
        current_phase_ = fmt::format("transfer {}: {}", table.target.name, what);
        session_updated_ = {};
        tick(rows_before_table_, 0);
    };
    diff::DescentTuning tuning =
        sync_descent_tuning(std::max(table.source.estimated_rows, table.target.estimated_rows));
    target_hashes_->begin_snapshot();
    diff::BucketDescent descent = find_differences(source_->hashes(), table.source, *target_hashes_,
                                                   table.target, table.filter, tuning, step);
    target_hashes_->end_snapshot();
    const diff::Differences& found = descent.differences();
    keys = found.only_in_a;
    keys.insert(keys.end(), found.changed.begin(), found.changed.end());
    return PartialWrite{descent.table_a().rows(), found.only_in_b};
}

// What every table's writer and the later deletions share.
WriteOptions FullSync::write_options(const nlohmann::json& position) {
    WriteOptions write;
    // The source's peer id (docs/incremental-sync.md); a run resumed from
    // before ferry recorded it keeps the name it used then.
    write.origin = position["source"].value("peer", source_->name());
    write.job = job_;
    write.scope = scope_;
    write.done_before = rows_before_table_;
    write.delete_missing = options_.delete_missing;
    write.dry_run = options_.dry_run;
    return write;
}

TableReport FullSync::copy_table(const SyncTable& table, nlohmann::json& position,
                                 LaterDeletes::Waiting waiting) {
    current_phase_ = fmt::format("transfer {}", table.target.name);
    progress_.step(2, kPhases, "transfer",
                   fmt::format("{} from {}", table.target.name, source_->name()));
    bool diff = use_diff(table);
    std::vector<std::string> keys;
    std::optional<PartialWrite> partial;
    if (diff)
        partial = compare(table, keys);
    table_rows_total_ = diff ? keys.size() : table.source.estimated_rows;
    WriteOptions write = write_options(position);
    LaterDeletes::plan_write(table, waiting, position, write);
    write.batch_rows = options_.batch_rows;
    write.expected_rows = table_rows_total_;
    write.tick = [this](uint64_t rows, uint64_t bytes) { tick(rows, bytes); };
    write.partial = std::move(partial);
    std::unique_ptr<TableWriter> writer = target_->open_writer(table, write);
    if (diff)
        source_->read_keys(table, keys, *writer);
    else
        source_->read(table, *writer);
    current_phase_ = fmt::format("restore {}", table.target.name);
    progress_.step(4, kPhases, "restore", table.target.name);
    // (No tick here: a SQLite target's last batch is still open, and the
    // session row lives in the same file.)
    TableReport report{table.target.name, diff ? "diff" : "dump", writer->finish(), false,
                       std::nullopt};
    rows_before_table_ += report.counts.source_rows;
    // Throttled like every tick: a forced write of the session row per table
    // would be a commit (a WAL flush) per table, most of a small table's cost.
    tick(rows_before_table_, 0);
    progress_.note(
        progress_line(table.target.name, report.counts, options_.delete_missing, waiting.deletes));
    return report;
}

bool FullSync::verify(const std::vector<SyncTable>& tables, std::vector<TableReport>& reports) {
    bool all_equal = true;
    for (size_t i = 0; i < tables.size(); i++) {
        current_phase_ = fmt::format("verify {}", tables[i].target.name);
        progress_.step(5, kPhases, "verify", tables[i].target.name);
        auto target_digest =
            std::async(std::launch::async, [&] { return target_->table_hash(tables[i]); });
        canonical::TableDigest source_digest = source_->table_hash(tables[i]);
        bool equal = source_digest == target_digest.get();
        reports[i].verified = equal;
        all_equal = all_equal && equal;
    }
    return all_equal;
}

void count_written(const std::vector<TableReport>& reports, FullSyncResult* result) {
    if (!result)
        return;
    for (const auto& report : reports)
        result->rows_written +=
            report.counts.inserted + report.counts.updated + report.counts.deleted;
}

int FullSync::run(FullSyncResult* result) {
    StopSignals signals;
    source_ = open_sync_source(options_.from);
    target_ = open_sync_target(options_.to);
    if (redact(options_.from) == redact(options_.to))
        throw Error(ErrorKind::invalid_input, "the source and the target are the same peer");
    source_->require_ferry();
    target_->require_ferry();

    progress_.step(1, kPhases, "backup",
                   fmt::format("planning and opening a snapshot of {}", source_->name()));
    std::vector<SyncTable> tables = plan();
    for (const auto& table : tables)
        rows_total_ += table.source.estimated_rows;
    if (options_.keep_changes && !options_.dry_run)
        keep_changes_for_target(tables);
    std::string snapshot = source_->begin_snapshot();
    // pg_dump starts while the target is prepared; a resumed run plans again.
    source_->plan_reads(dumped_tables(tables, {}));

    job_ = fmt::format("full-sync from {}", source_->name());
    scope_ = run_scope(tables, target_->checkpoint_scopes(job_));
    std::vector<TableReport> reports;
    bool verified = true;
    if (!options_.dry_run) {
        leases_ = std::make_unique<TableLeases>(*target_, "full-sync", options_.lease_seconds);
        leases_->take(tables, [&](const std::string& note) { progress_.note(note); });
        session_ = std::make_unique<SessionRecorder>(options_.to, session_info());
        if (options_.on_session && session_->id())
            options_.on_session(options_.to, *session_->id());
    }
    try {
        // An interrupted run left the tables it finished in the checkpoint.
        nlohmann::json position = {{"tables_done", nlohmann::json::array()},
                                   {"source", nlohmann::json::parse(snapshot)},
                                   {"where", filters_by_table(tables)},
                                   {"delete_missing", options_.delete_missing}};
        if (!options_.dry_run)
            position["target_cursor"] = nlohmann::json::parse(target_->change_cursor());
        std::set<std::string> done_before;
        if (!options_.dry_run) {
            if (auto resumed = target_->begin_run(job_, scope_, rows_total_)) {
                nlohmann::json previous = nlohmann::json::parse(*resumed);
                std::set<std::string> previous_done;
                for (const auto& name : previous["tables_done"])
                    previous_done.insert(name.get<std::string>());
                // A run that wrote every table and then failed (its verify
                // found a difference) has nothing to resume: start over. So
                // does one with other --where filters (its tables hold other
                // rows), and one without --delete-missing when this run has
                // it (its tables kept rows this run deletes).
                bool same_filters =
                    !previous.contains("where") || previous["where"] == position["where"];
                bool deleted_as_asked =
                    !options_.delete_missing || previous.value("delete_missing", false);
                if (previous_done.size() < tables.size() && same_filters && deleted_as_asked) {
                    position = previous;
                    done_before = previous_done;
                    progress_.note(
                        fmt::format("resuming an interrupted run: {} of {} tables are "
                                    "already written",
                                    done_before.size(), tables.size()));
                }
            }
        }
        source_->plan_reads(dumped_tables(tables, done_before));
        LaterDeletes later(*target_, options_.delete_missing);
        for (const auto& table : tables) {
            if (done_before.count(table.target.name)) {
                reports.push_back({table.target.name, "", {}, true, std::nullopt});
                continue;
            }
            LaterDeletes::Waiting waiting = later.wait_for(table, reports.size());
            reports.push_back(copy_table(table, position, waiting));
        }
        current_phase_ = "restore deletions";
        WriteOptions deletions = write_options(position);
        deletions.tick = [this](uint64_t rows, uint64_t bytes) { tick(rows, bytes); };
        later.run(position, deletions, reports,
                  [&](const std::string& line) { progress_.note(line); });
        if (options_.verify && !options_.dry_run)
            verified = verify(tables, reports);
        source_->end_snapshot();
        if (!options_.dry_run) {
            if (verified)
                target_->complete_run(job_, scope_);
            else
                target_->fail_run(job_, scope_, "verify: table hashes differ");
            session_->progress("done", rows_before_table_, rows_before_table_, bytes_done_);
            if (verified)
                session_->succeeded();
            else
                session_->ended_by(Error(ErrorKind::conflict, "verify: table hashes differ"));
        }
    } catch (const Error& error) {
        if (!options_.dry_run) {
            try {
                target_->fail_run(job_, scope_, error.what());
            } catch (...) {
            }
            session_->ended_by(error);
        }
        leases_.reset();
        count_written(reports, result);  // the tables it finished
        throw;
    }
    leases_.reset();
    if (result)
        result->verified = verified;
    count_written(reports, result);
    if (options_.print_report)
        print(reports, verified);
    return verified ? exit_ok : exit_differences;
}

void FullSync::print(const std::vector<TableReport>& reports, bool all_verified) const {
    if (options_.json) {
        nlohmann::json out = {
            {"source", source_->name()},
            {"target", target_->name()},
            {"method", options_.method},
            {"dry_run", options_.dry_run},
            {"verified", options_.verify ? nlohmann::json(all_verified) : nlohmann::json()},
            {"tables", reports_json(reports)}};
        if (session_ && session_->id())
            out["session"] = *session_->id();
        print_json(out);
        return;
    }
    std::vector<std::string> differing = print_reports(reports, "SOURCE ROWS");
    if (options_.dry_run)
        fmt::print("\ndry run: nothing was written to {}\n", target_->name());
    if (!differing.empty())
        fmt::print("\nverify failed: {} differ between {} and {}\n", fmt::join(differing, ", "),
                   source_->name(), target_->name());
}

}  // namespace

int run_full_sync(const FullSyncOptions& options, FullSyncResult* result) {
    return FullSync(options).run(result);
}

namespace {

// The options full-sync, pull and push share.
void add_sync_options(CLI::App* cmd, FullSyncOptions& options) {
    add_table_list_option(
        cmd, "--tables", options.tables,
        "Tables to copy (comma-separated, repeatable; default: those the source tracks)");
    cmd->add_option("--where", options.filters,
                    "TABLE:CONDITION, copy only rows where CONDITION holds (repeatable)");
    cmd->add_option("--method", options.method,
                    "dump (move every row), diff (compare bucket hashes, move the rows that "
                    "differ) or auto (diff where the target holds most rows)")
        ->check(CLI::IsMember({"dump", "diff", "auto"}));
    cmd->add_flag("--delete-missing", options.delete_missing,
                  "Delete target rows the source does not have (an exact mirror)");
    cmd->add_flag("--dry-run", options.dry_run, "Report what would change; write nothing");
    cmd->add_flag("--verify", options.verify,
                  "Compare table hashes afterwards; exit 3 if they differ");
    cmd->add_option("--batch-rows", options.batch_rows, "Rows per transaction on a SQLite target")
        ->check(CLI::Range(1, 100000000));
    cmd->add_option("--lease-seconds", options.lease_seconds,
                    "How long the table leases outlive a crashed ferry")
        ->check(CLI::Range(10, 86400));
    cmd->add_flag("--json", options.json, "Print the result as JSON");
    cmd->add_flag("--quiet", options.quiet, "No progress on stderr");
    cmd->add_flag("!--copy-only", options.keep_changes,
                  "The target will never run ferry sync: do not have the source keep its "
                  "changes for it");
}

// ferry pull PEER / ferry push PEER: a full sync with the config's local
// peer as the target / the source.
void setup_relative_sync(CLI::App& app, int* exit_code, const std::string& direction) {
    auto options = std::make_shared<FullSyncOptions>();
    auto peer = std::make_shared<std::string>();
    bool pull = direction == "pull";
    auto* cmd = app.add_subcommand(direction,
                                   pull ? "Copy whole tables from PEER into the config's local peer"
                                        : "Copy whole tables from the config's local peer to PEER");
    cmd->add_option("peer", *peer, "A peer named in the config file, or an address")
        ->transform(resolve_peer)
        ->required();
    add_sync_options(cmd, *options);
    cmd->callback([options, peer, exit_code, pull, direction] {
        std::string local = local_peer();
        options->from = pull ? *peer : local;
        options->to = pull ? local : *peer;
        options->direction = direction;
        *exit_code = run_full_sync(*options);
    });
}

}  // namespace

void setup_full_sync(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<FullSyncOptions>();
    auto* cmd = app.add_subcommand(
        "full-sync", "Copy whole tables from one peer to another, writing only rows that differ");
    cmd->add_option("--from", options->from,
                    "Source peer: connection string, URI, sqlite:PATH or a name from the config")
        ->transform(resolve_peer)
        ->required();
    cmd->add_option("--to", options->to, "Target peer")->transform(resolve_peer)->required();
    add_sync_options(cmd, *options);
    cmd->callback([options, exit_code] { *exit_code = run_full_sync(*options); });
    setup_relative_sync(app, exit_code, "pull");
    setup_relative_sync(app, exit_code, "push");
}

}  // namespace ferry::cli
