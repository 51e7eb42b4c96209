// `ferry dump PEER FILE` and `ferry restore FILE PEER`: a full sync carried
// by hand, for peers that cannot see each other (docs/dump-files.md). The
// dump reads the source as full-sync does (one snapshot, pg_dump for
// PostgreSQL) into a file of core's dump format; the restore checks the whole
// file first, then writes each table through full-sync's writers (only rows
// that differ, parents first, leases, checkpoint), and commits a table only
// after its block's row count and checksum have been checked.
#include <fmt/format.h>

#include <ctime>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "ferry/canonical.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/dump_file.hpp"
#include "ferry/error.hpp"
#include "later_deletes.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "progress.hpp"
#include "sqlite_connection.hpp"
#include "sqlite_copy_text.hpp"
#include "stop_signals.hpp"
#include "sync_peers.hpp"
#include "table_leases.hpp"
#include "table_list_option.hpp"
#include "table_report.hpp"

namespace ferry::cli {
namespace {

std::string utc_now() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

// ---- ferry dump ----------------------------------------------------------------

struct DumpOptions {
    std::string peer;
    std::string file;
    std::vector<std::string> tables;
    int level = 3;
    bool force = false;
    bool json = false;
    bool quiet = false;
};

struct DumpedTableReport {
    std::string name;
    uint64_t rows = 0;
    uint64_t raw_bytes = 0;
};

// Receives a table's rows from the source and writes them into the file's
// block, SQLite rows encoded as COPY text as a full sync encodes them for a
// PostgreSQL target.
class FileSink : public RowSink {
  public:
    FileSink(dump::DumpWriter& writer, std::string name, Progress& progress, uint64_t estimate)
        : writer_(writer), name_(std::move(name)), progress_(progress), estimate_(estimate) {}

    void columns(const std::vector<std::string>& names,
                 const std::vector<std::string>& pg_types) override {
        columns_ = static_cast<int>(names.size());
        writer_.begin_table({name_, names, pg_types});
    }
    void copy_lines(std::string_view lines, uint64_t rows) override {
        writer_.add_lines(lines);
        advance(rows, lines.size());
    }
    void sqlite_row(sqlite3_stmt* row) override { sqlite_lines_.add(row, columns_); }
    void flush() { sqlite_lines_.flush(); }

  private:
    void advance(uint64_t rows, uint64_t bytes) {
        stop_here_if_requested();  // FILE.partial is removed on the way out
        rows_ += rows;
        bytes_ += bytes;
        progress_.update(rows_, estimate_, bytes_);
    }

    dump::DumpWriter& writer_;
    std::string name_;
    Progress& progress_;
    uint64_t estimate_;
    int columns_ = 0;
    SqliteRowLines sqlite_lines_{
        [this](std::string_view lines, uint64_t rows) { copy_lines(lines, rows); }};
    uint64_t buffered_rows_ = 0;
    uint64_t rows_ = 0;
    uint64_t bytes_ = 0;
};

// Every table named, described on the source; all problems at once. A
// table named twice is dumped once: `names` keeps each as first named.
std::vector<PeerTable> describe_all(SyncSource& source, std::vector<std::string>& names) {
    if (names.empty())
        names = source.tracked_tables();
    if (names.empty())
        throw Error(ErrorKind::invalid_input, "no tables to dump",
                    fmt::format("{} tracks no tables.", source.name()),
                    "Name them: ferry dump PEER FILE --tables t1,t2");
    std::vector<std::pair<std::string, PeerTable>> described;  // as named, as found
    std::vector<std::string> problems;
    for (const auto& name : names) {
        try {
            described.emplace_back(name, source.describe(name));
        } catch (const Error& e) {
            problems.push_back(e.detail().empty() ? e.what()
                                                  : fmt::format("{}: {}", e.what(), e.detail()));
        }
    }
    if (!problems.empty())
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{} of {} tables cannot be dumped", problems.size(), names.size()),
                    fmt::format("{}", fmt::join(problems, "\n")),
                    "Check the table names; each table needs a primary key.");
    drop_repeats(described, [](const auto& table) { return table.second.name; });
    names.clear();
    std::vector<PeerTable> tables;
    for (auto& [name, table] : described) {
        names.push_back(name);
        tables.push_back(std::move(table));
    }
    return tables;
}

void print_dump(const DumpOptions& options, const std::string& source,
                const std::vector<DumpedTableReport>& reports, uint64_t file_bytes) {
    if (options.json) {
        nlohmann::json tables = nlohmann::json::array();
        for (const auto& r : reports)
            tables.push_back({{"table", r.name}, {"rows", r.rows}, {"bytes", r.raw_bytes}});
        fmt::print("{}\n", nlohmann::json{{"source", source},
                                          {"file", options.file},
                                          {"file_bytes", file_bytes},
                                          {"tables", tables}}
                               .dump());
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : reports)
        rows.push_back({r.name, std::to_string(r.rows), human_bytes(r.raw_bytes)});
    print_table({"TABLE", "ROWS", "SIZE"}, rows);
    fmt::print("\n{}: {} from {}\n", options.file, human_bytes(file_bytes), source);
}

int run_dump(DumpOptions options) {
    StopSignals signals;
    Progress progress(options.quiet || options.json);
    // Refused before anything is read; written as FILE.partial until the end.
    dump::DumpWriter writer(options.file, options.force, options.level);
    std::unique_ptr<SyncSource> source = open_sync_source(options.peer);
    source->require_ferry();
    progress.step(1, 2, "backup", fmt::format("opening a snapshot of {}", source->name()));
    std::vector<PeerTable> tables = describe_all(*source, options.tables);
    dump::Header header;
    header.source = source->name();
    header.engine = parse_peer(options.peer).engine == PeerEngine::sqlite ? "sqlite" : "postgresql";
    header.ferry_version = FERRY_VERSION;
    header.created_at = utc_now();
    header.snapshot = nlohmann::json::parse(source->begin_snapshot());
    for (size_t i = 0; i < tables.size(); i++)
        header.tables.push_back({options.tables[i], tables[i].columns, tables[i].key_columns});
    writer.write_header(header);
    std::vector<SyncTable> synced;
    for (const auto& table : tables)
        synced.push_back({table, table, {}});
    source->plan_reads(synced);
    std::vector<DumpedTableReport> reports;
    for (size_t i = 0; i < tables.size(); i++) {
        progress.step(2, 2, "dump", options.tables[i]);
        const SyncTable& table = synced[i];
        FileSink sink(writer, options.tables[i], progress, tables[i].estimated_rows);
        source->read(table, sink);
        sink.flush();
        // In the same snapshot as the rows: what restore --verify compares.
        canonical::TableDigest digest = source->table_hash(table);
        dump::BlockEnd end = writer.end_table(digest.rows(), digest.hex());
        reports.push_back({options.tables[i], end.rows, end.raw_bytes});
    }
    source->end_snapshot();
    uint64_t size = writer.commit();
    print_dump(options, source->name(), reports, size);
    return exit_ok;
}

// ---- ferry restore -------------------------------------------------------------

struct RestoreOptions {
    std::string file;
    std::string peer;
    std::vector<std::string> tables;
    bool delete_missing = false;
    bool dry_run = false;
    bool verify = false;
    bool json = false;
    bool quiet = false;
    int lease_seconds = 120;
};

class Restore {
  public:
    explicit Restore(const RestoreOptions& options)
        : options_(options), progress_(options.quiet || options.json) {}
    int run();

  private:
    void check_file();
    std::vector<SyncTable> plan();
    size_t block_of(const SyncTable& table) const;
    std::vector<std::string> types_for_target(const SyncTable& table,
                                              const dump::BlockStart& start);
    WriteOptions write_options() const;
    TableReport restore_table(const SyncTable& table, nlohmann::json& position,
                              LaterDeletes::Waiting waiting);
    void print(const std::vector<TableReport>& reports, bool verified) const;

    const RestoreOptions& options_;
    Progress progress_;
    std::unique_ptr<dump::DumpReader> reader_;  // opened by check_file()
    std::unique_ptr<SyncTarget> target_;
    std::string job_;
    std::string scope_;
    std::unique_ptr<TableLeases> leases_;         // none in a dry run
    std::map<std::string, dump::BlockEnd> ends_;  // by target table name
    uint64_t rows_done_ = 0;
};

// Before any connection: a damaged file is refused whole.
void Restore::check_file() {
    progress_.step(1, 3, "check", options_.file);
    try {
        reader_ = std::make_unique<dump::DumpReader>(options_.file);
        reader_->check_whole_file();
    } catch (const Error& e) {
        throw Error(e.kind(), e.what(), e.detail() + " Nothing was restored.", e.hint());
    }
}

// The file's tables (or those of --tables) on the target, with the same
// columns and key; all problems at once, before anything is written.
std::vector<SyncTable> Restore::plan() {
    const auto& listed = reader_->header().tables;
    std::vector<const dump::TableInfo*> chosen;
    std::vector<std::string> problems;
    if (options_.tables.empty())
        for (const auto& table : listed)
            chosen.push_back(&table);
    for (const auto& name : options_.tables) {
        std::string identity = target_->identify(name);
        const dump::TableInfo* found = nullptr;
        for (const auto& table : listed)
            try {
                if (target_->identify(table.name) == identity)
                    found = &table;
            } catch (const Error&) {
                // Not on the target: reported below if chosen.
            }
        if (found)
            chosen.push_back(found);
        else
            problems.push_back(fmt::format("{} is not in the file", name));
    }
    std::vector<SyncTable> tables;
    for (const dump::TableInfo* info : chosen) {
        try {
            PeerTable source;
            source.name = info->name;
            source.columns = info->columns;
            source.key_columns = info->key_columns;
            SyncTable table{source, target_->describe(info->name), {}};
            require_same_columns(table.source, fmt::format("the file ({})", options_.file),
                                 table.target, fmt::format("the target ({})", target_->name()));
            tables.push_back(std::move(table));
        } catch (const Error& e) {
            problems.push_back(e.detail().empty() ? e.what()
                                                  : fmt::format("{}: {}", e.what(), e.detail()));
        }
    }
    if (!problems.empty()) {
        std::vector<std::string> names;
        for (const auto& table : listed)
            names.push_back(table.name);
        throw Error(
            ErrorKind::invalid_input,
            fmt::format("{} tables cannot be restored; nothing was written", problems.size()),
            fmt::format("{}\nThe file holds: {}.", fmt::join(problems, "\n"),
                        fmt::join(names, ", ")),
            "Create the missing tables and columns on the target (the same names and "
            "primary key), then run again.");
    }
    drop_repeats(tables, [](const SyncTable& table) { return table.target.name; });
    return target_->parents_first(std::move(tables));
}

size_t Restore::block_of(const SyncTable& table) const {
    const auto& listed = reader_->header().tables;
    for (size_t i = 0; i < listed.size(); i++)
        if (listed[i].name == table.source.name)
            return i;
    throw Error(ErrorKind::internal, "a planned table is not in the file");
}

// A SQLite target binds each value by its source type; from a SQLite source
// there are none, so columns declared BLOB take the hex form back as bytes
// and the rest go as text, which the column's affinity converts.
std::vector<std::string> Restore::types_for_target(const SyncTable& table,
                                                   const dump::BlockStart& start) {
    PeerAddress address = parse_peer(options_.peer);
    if (!start.pg_types.empty() || address.engine != PeerEngine::sqlite)
        return start.pg_types;
    SqliteConnection db(address.target, false);
    std::map<std::string, std::string> declared;
    for (const auto& row : db.query("SELECT name, upper(type) FROM pragma_table_info(?1)",
                                    {sqlite_table_name(db, table.target.name)}))
        declared[row.at(0).value_or("")] = row.at(1).value_or("");
    std::vector<std::string> types;
    for (const auto& column : start.columns)
        types.push_back(declared[column].find("BLOB") != std::string::npos ? "bytea" : "text");
    return types;
}

// What every table's writer and the later deletions share.
WriteOptions Restore::write_options() const {
    WriteOptions write;
    const dump::Header& header = reader_->header();
    write.origin =
        header.snapshot.is_object() ? header.snapshot.value("peer", header.source) : header.source;
    write.job = job_;
    write.scope = scope_;
    write.done_before = rows_done_;
    write.delete_missing = options_.delete_missing;
    write.dry_run = options_.dry_run;
    return write;
}

TableReport Restore::restore_table(const SyncTable& table, nlohmann::json& position,
                                   LaterDeletes::Waiting waiting) {
    progress_.step(2, 3, "restore", table.target.name);
    size_t block = block_of(table);
    dump::BlockStart start = reader_->open_table(block);
    WriteOptions write = write_options();
    LaterDeletes::plan_write(table, waiting, position, write);
    // One transaction per table on SQLite too: a damaged block rolls back
    // everything of its table.
    write.batch_rows = std::numeric_limits<uint64_t>::max();
    write.expected_rows = reader_->rows_of(block);
    // Between pieces of a PostgreSQL target's COPY: keep the leases.
    write.tick = [this](uint64_t, uint64_t) {
        if (leases_)
            leases_->keep();
    };
    std::unique_ptr<TableWriter> writer = target_->open_writer(table, write);
    writer->columns(start.columns, types_for_target(table, start));
    uint64_t rows = 0, bytes = 0;
    dump::BlockEnd end;
    try {
        end = reader_->read_rows([&](std::string_view lines, uint64_t n) {
            stop_here_if_requested();
            writer->copy_lines(lines, n);
            rows += n;
            bytes += lines.size();
            progress_.update(rows, reader_->rows_of(block), bytes);
        });
    } catch (const Error& e) {
        writer.reset();  // rolls the table back
        throw Error(e.kind(), e.what(),
                    fmt::format("{} Nothing of {} was written.", e.detail(), table.target.name),
                    e.hint());
    }
    ends_[table.target.name] = end;
    // Checked: now the table may commit.
    TableReport report{table.target.name, "", writer->finish(), false, std::nullopt};
    rows_done_ += report.counts.source_rows;
    progress_.note(
        progress_line(table.target.name, report.counts, options_.delete_missing, waiting.deletes));
    return report;
}

int Restore::run() {
    StopSignals signals;
    check_file();
    target_ = open_sync_target(options_.peer);
    target_->require_ferry();
    std::vector<SyncTable> tables = plan();
    job_ = "restore from " + reader_->header().source;
    scope_ = run_scope(tables, target_->checkpoint_scopes(job_));
    if (!options_.dry_run) {
        leases_ = std::make_unique<TableLeases>(*target_, "restore", options_.lease_seconds);
        leases_->take(tables, [&](const std::string& note) { progress_.note(note); });
    }
    std::vector<TableReport> reports;
    bool verified = true;
    try {
        nlohmann::json position = {{"tables_done", nlohmann::json::array()},
                                   {"source", reader_->header().snapshot}};
        if (!options_.dry_run)
            target_->begin_run(job_, scope_, reader_->total_rows());
        LaterDeletes later(*target_, options_.delete_missing);
        for (const auto& table : tables) {
            LaterDeletes::Waiting waiting = later.wait_for(table, reports.size());
            reports.push_back(restore_table(table, position, waiting));
        }
        WriteOptions deletions = write_options();
        deletions.tick = [this](uint64_t, uint64_t) {
            if (leases_)
                leases_->keep();
        };
        later.run(position, deletions, reports,
                  [&](const std::string& line) { progress_.note(line); });
        if (options_.verify && !options_.dry_run)
            for (size_t i = 0; i < tables.size(); i++) {
                progress_.step(3, 3, "verify", tables[i].target.name);
                const dump::BlockEnd& end = ends_.at(tables[i].target.name);
                bool equal = target_->table_hash(tables[i]) ==
                             canonical::TableDigest::from_hex(end.digest_rows, end.digest_hex);
                reports[i].verified = equal;
                verified = verified && equal;
            }
        if (!options_.dry_run) {
            if (verified)
                target_->complete_run(job_, scope_);
            else
                target_->fail_run(job_, scope_, "verify: table hashes differ");
        }
    } catch (const std::exception& error) {  // any failure is recorded, not only ours
        if (!options_.dry_run) {
            try {
                target_->fail_run(job_, scope_, error.what());
            } catch (...) {
            }
        }
        leases_.reset();
        throw;
    }
    leases_.reset();
    print(reports, verified);
    return verified ? exit_ok : exit_differences;
}

void Restore::print(const std::vector<TableReport>& reports, bool all_verified) const {
    const dump::Header& header = reader_->header();
    if (options_.json) {
        fmt::print("{}\n",
                   nlohmann::json{{"file", options_.file},
                                  {"source", header.source},
                                  {"dumped_at", header.created_at},
                                  {"target", target_->name()},
                                  {"dry_run", options_.dry_run},
                                  {"verified", options_.verify ? nlohmann::json(all_verified)
                                                               : nlohmann::json()},
                                  {"tables", reports_json(reports)}}
                       .dump());
        return;
    }
    std::vector<std::string> differing = print_reports(reports, "FILE ROWS");
    if (options_.dry_run)
        fmt::print("\ndry run: nothing was written to {}\n", target_->name());
    if (!differing.empty())
        fmt::print("\nverify failed: {} differ between the file (dumped from {} at {}) and {}\n",
                   fmt::join(differing, ", "), header.source, header.created_at, target_->name());
}

}  // namespace

void setup_dump(CLI::App& app, int* exit_code) {
    auto dump = std::make_shared<DumpOptions>();
    auto* cmd = app.add_subcommand(
        "dump", "Write tables of PEER to a portable, compressed, checksummed dump file");
    cmd->add_option("peer", dump->peer, "The source peer")->transform(resolve_peer)->required();
    cmd->add_option("file", dump->file, "The dump file to write")->required();
    add_table_list_option(
        cmd, "--tables", dump->tables,
        "Tables to dump (comma-separated, repeatable; default: those PEER tracks)");
    cmd->add_option("--level", dump->level, "zstd compression level")->check(CLI::Range(1, 19));
    cmd->add_flag("--force", dump->force, "Replace FILE if it exists");
    cmd->add_flag("--json", dump->json, "Print the result as JSON");
    cmd->add_flag("--quiet", dump->quiet, "No progress on stderr");
    cmd->callback([dump, exit_code] { *exit_code = run_dump(*dump); });

    auto restore = std::make_shared<RestoreOptions>();
    cmd = app.add_subcommand(
        "restore", "Write the tables of a dump file into PEER, only the rows that differ");
    cmd->add_option("file", restore->file, "A file written by ferry dump")->required();
    cmd->add_option("peer", restore->peer, "The target peer")->transform(resolve_peer)->required();
    add_table_list_option(
        cmd, "--tables", restore->tables,
        "Tables to restore (comma-separated, repeatable; default: all in the file)");
    cmd->add_flag("--delete-missing", restore->delete_missing,
                  "Delete target rows the file does not have (an exact mirror)");
    cmd->add_flag("--dry-run", restore->dry_run, "Report what would change; write nothing");
    cmd->add_flag("--verify", restore->verify,
                  "Compare the target's table hashes with the file's; exit 3 if they differ");
    cmd->add_option("--lease-seconds", restore->lease_seconds,
                    "How long the table leases outlive a crashed ferry")
        ->check(CLI::Range(10, 86400));
    cmd->add_flag("--json", restore->json, "Print the result as JSON");
    cmd->add_flag("--quiet", restore->quiet, "No progress on stderr");
    cmd->callback([restore, exit_code] { *exit_code = Restore(*restore).run(); });
}

}  // namespace ferry::cli
