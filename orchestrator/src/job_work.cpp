// The work of one scheduled job (see job_work.hpp).
#include "job_work.hpp"

#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "ferry/text.hpp"
#include "output.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"
#include "sync_peers.hpp"

namespace ferry::cli {
namespace {

// One pair of peers to work on: the job itself, or one member of a fleet.
struct Pair {
    std::string source;
    std::string target;
    std::vector<std::string> filters;
};

FullSyncOptions full_options(const JobSpec& job, const Pair& pair, const WorkOptions& options,
                             const std::string& method) {
    FullSyncOptions full;
    full.from = pair.source;
    full.to = pair.target;
    full.tables = job.tables;
    full.filters = pair.filters;
    full.method = method;
    full.delete_missing = job.delete_missing;
    full.verify = job.verify;
    full.quiet = true;
    full.print_report = false;
    full.lease_seconds = options.lease_seconds;
    full.on_session = options.on_session;
    // A full job's target never reads the change log.
    full.keep_changes = job.mode != "full";
    return full;
}

WorkResult copy(const JobSpec& job, const Pair& pair, const WorkOptions& options,
                const std::string& method) {
    FullSyncResult copied;
    int status;
    try {
        status = run_full_sync(full_options(job, pair, options, method), &copied);
    } catch (const Error& error) {
        WorkResult done;
        done.written = copied.rows_written;
        throw WorkStopped(error, std::move(done));
    }
    if (status != exit_ok)
        throw Error(ErrorKind::conflict,
                    fmt::format("verify: table hashes differ between {} and {} after the copy",
                                redact(pair.source), redact(pair.target)));
    WorkResult result;
    result.written = copied.rows_written;
    result.unchanged = copied.rows_written == 0;
    return result;
}

// Every table (as filtered) hashes alike on both peers.
bool tables_equal(const JobSpec& job, const Pair& pair) {
    auto source = open_sync_source(pair.source);
    auto target = open_sync_target(pair.target);
    source->require_ferry();
    target->require_ferry();
    std::vector<SyncTable> tables =
        plan_sync_tables(*source, *target, job.tables, pair.filters, "run");
    source->begin_snapshot();
    for (const auto& table : tables) {
        auto target_digest =
            std::async(std::launch::async, [&] { return target->table_hash(table); });
        if (!(source->table_hash(table) == target_digest.get()))
            return false;
    }
    source->end_snapshot();
    return true;
}

// A link's changes; a link with no starting point is copied first.
WorkResult apply_changes(const JobSpec& job, const Pair& pair, const WorkOptions& options,
                         bool settle_when_equal) {
    SyncOptions sync;
    sync.from = pair.source;
    sync.to = pair.target;
    sync.tables = job.tables;
    sync.filters = pair.filters;
    sync.policy = job.policy;
    sync.both = job.mode == "bidirectional";
    sync.settle_when_equal = settle_when_equal;
    sync.lease_seconds = options.lease_seconds;
    sync.quiet = true;
    sync.print_report = false;
    sync.on_session = options.on_session;
    SyncResult synced;
    WorkResult result;
    // A direction that failed fails the job with its own error (a lease
    // held elsewhere is "locked", not "failed").
    auto sync_both_ways = [&] {
        if (run_sync(sync, &synced) != exit_ok)
            throw synced.failure.value_or(
                Error(ErrorKind::conflict, "a direction of the link failed"));
    };
    auto add_synced = [&] {
        result.changes += synced.changes;
        result.written += synced.written;
        result.conflicts += synced.conflicts;
    };
    try {
        try {
            sync_both_ways();
        } catch (const NoStartingPoint&) {
            if (options.log)
                options.log(
                    fmt::format("job {}: {} -> {}: no starting point, copying the tables first",
                                job.name, redact(pair.source), redact(pair.target)));
            result = copy(job, pair, options, job.method);
            sync.settle_when_equal = false;
            synced = {};
            sync_both_ways();
        }
    } catch (const WorkStopped&) {
        throw;  // the copy's
    } catch (const Error& error) {
        add_synced();  // the batches committed before it stopped
        throw WorkStopped(error, std::move(result));
    }
    add_synced();
    result.unchanged = synced.settled_equal || (synced.changes == 0 && result.written == 0);
    if (synced.settled_equal) {
        result.settled_consumer = synced.consumer;
        result.settled_hash = synced.settled_hash;
    }
    return result;
}

WorkResult run_pair(const JobSpec& job, const Pair& pair, bool full, const WorkOptions& options) {
    if (full)
        return copy(job, pair, options, job.method);
    if (job.mode != "full")
        return apply_changes(job, pair, options, job.fleet.has_value());
    // A delta run of a full job: nothing when the hashes match, else the
    // rows that differ.
    if (tables_equal(job, pair)) {
        WorkResult result;
        result.unchanged = true;
        return result;
    }
    return copy(job, pair, options, job.method == "dump" ? "dump" : "diff");
}

// A member value goes into a peer address as it is: letters, digits and
// _ . @ - only, and never "." or "..".
void check_member_value(const JobSpec& job, const std::string& value) {
    if (!text::is_plain_name(value, "_.@-") || value == "." || value == "..")
        throw Error(ErrorKind::invalid_input,
                    fmt::format("job {}: member value \"{}\" cannot go into a peer address",
                                job.name, value),
                    {}, "Member values are letters, digits, _ . @ and -.");
}

std::vector<std::string> query_members(const std::string& peer, const std::string& query) {
    std::vector<std::string> values;
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite) {
        SqliteConnection db(address.target, false);
        db.execute("PRAGMA query_only = ON");  // members_query lists, it never writes
        for (const auto& row : db.query(query))
            if (!row.empty() && row[0])
                values.push_back(*row[0]);
        return values;
    }
    PgConnection db = connect_postgres_peer(peer);
    // Read only: members_query lists, it never writes.
    db.execute("BEGIN READ ONLY");
    PgResult rows = db.query(query);
    db.execute("COMMIT");
    for (int r = 0; r < rows.rows(); r++)
        if (!rows.is_null(r, 0))
            values.push_back(rows.text(r, 0));
    return values;
}

std::vector<std::string> glob_members(const std::string& pattern) {
    size_t star = pattern.find('*');
    std::string prefix = pattern.substr(0, star);
    std::string suffix = pattern.substr(star + 1);
    glob_t found{};
    std::vector<std::string> values;
    if (::glob(pattern.c_str(), 0, nullptr, &found) == 0) {
        for (size_t i = 0; i < found.gl_pathc; i++) {
            std::string path = found.gl_pathv[i];
            if (path.size() >= prefix.size() + suffix.size())
                values.push_back(
                    path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
        }
    }
    globfree(&found);
    return values;
}

Pair member_pair(const JobSpec& job, const std::string& value) {
    const FleetSpec& fleet = *job.fleet;
    Pair pair{job.source, job.target, {}};
    std::string& pattern = fleet.pattern_is_target ? pair.target : pair.source;
    pattern = fill_address(pattern, fleet, value);
    for (const auto& filter : job.filters)
        pair.filters.push_back(fill_filter(filter, fleet, value));
    return pair;
}

// The hub's rows of each member, digested in one snapshot as settle_if_equal
// digests them (SyncSource::own_digest), and the snapshot's cursor.
struct HubHashes {
    std::string cursor;
    std::map<std::string, std::string> of_member;
};

HubHashes hash_members_on_hub(const JobSpec& job, const std::vector<std::string>& values) {
    auto hub = open_sync_source(job.source);
    hub->require_ferry();
    std::vector<SyncTable> tables = plan_source_tables(*hub, job.tables, job.filters);
    HubHashes out;
    out.cursor = nlohmann::json::parse(hub->begin_snapshot()).at("cursor").dump();
    for (const auto& value : values) {
        std::vector<std::pair<std::string, std::string>> digests;
        for (SyncTable table : tables) {
            if (table.filter)
                table.filter = fill_filter(*table.filter, *job.fleet, value);
            digests.emplace_back(table.source.name, hub->own_digest(table));
        }
        out.of_member[value] = digests_text(std::move(digests));
    }
    hub->end_snapshot();
    return out;
}

// Asks whether the job was paused meanwhile. Its home out of reach is not a
// pause: the member runs, and finds out for itself. (An exception must not
// leave a worker thread: that would end the program.)
bool paused_now(const JobSpec& job, const WorkOptions& options) {
    try {
        return options.paused();
    } catch (const std::exception& e) {
        if (options.log)
            options.log(fmt::format("job {}: cannot check for a pause: {}", job.name, e.what()));
        return false;
    }
}

// An incremental fleet of targets: members whose rows on the hub hash as
// they did when they last received them have nothing to receive, and are
// not opened at all (docs/scheduling.md#fleets). Returns the others.
std::vector<std::string> skip_unchanged_members(const JobSpec& job,
                                                const std::vector<std::string>& members, bool full,
                                                const WorkOptions& options, WorkResult& total) {
    if (full || job.mode == "full" || !job.fleet->pattern_is_target || options.fleet_memory.empty())
        return members;
    HubHashes hub = hash_members_on_hub(job, members);
    std::vector<std::string> others;
    for (const auto& value : members) {
        auto known = options.fleet_memory.find(value);
        if (known == options.fleet_memory.end() || !known->is_object() ||
            known->value("hash", "") != hub.of_member[value] ||
            known->value("consumer", "").empty()) {  // (ferry 0.5 remembered the peer instead)
            others.push_back(value);
            continue;
        }
        total.fleet_memory[value] = *known;
        total.acks.push_back(known->value("consumer", ""));
        total.members++;
        total.members_unchanged++;
    }
    total.ack_cursor = hub.cursor;
    return others;
}

// Members in parallel, each on its own connections; one failing does not
// stop the others, a pause stops those not yet started.
WorkResult run_fleet(const JobSpec& job, bool full, const WorkOptions& options) {
    WorkResult total;
    std::vector<std::string> all = fleet_members(job);
    if (all.empty() && options.log)
        options.log(fmt::format("job {}: the fleet has no members: its {} found none", job.name,
                                job.fleet->query ? "members_query" : "members_glob"));
    std::vector<std::string> members = skip_unchanged_members(job, all, full, options, total);
    std::mutex mutex;
    size_t next = 0;
    auto worker = [&] {
        for (;;) {
            std::string value;
            {
                std::lock_guard<std::mutex> guard(mutex);
                if (next == members.size() || total.stopped_by_pause)
                    return;
                if (options.paused && paused_now(job, options)) {
                    total.stopped_by_pause = true;
                    return;
                }
                value = members[next++];
            }
            WorkResult one;
            std::optional<std::string> error;
            try {
                check_member_value(job, value);
                one = run_pair(job, member_pair(job, value), full, options);
            } catch (const std::exception& e) {
                error = error_line(e);
            }
            std::lock_guard<std::mutex> guard(mutex);
            total.members++;
            if (error) {
                total.failed_members[value] = *error;
                if (options.log)
                    options.log(
                        fmt::format("job {}: member {} failed: {}", job.name, value, *error));
                continue;
            }
            total.members_unchanged += one.unchanged ? 1 : 0;
            if (!one.settled_hash.empty())
                total.fleet_memory[value] = {{"consumer", one.settled_consumer},
                                             {"hash", one.settled_hash}};
            total.written += one.written;
            total.changes += one.changes;
            total.conflicts += one.conflicts;
        }
    };
    std::vector<std::thread> threads;
    size_t count = std::max<size_t>(1, std::min(options.parallel, members.size()));
    for (size_t i = 0; i < count; i++)
        threads.emplace_back(worker);
    for (auto& thread : threads)
        thread.join();
    total.unchanged = total.members_unchanged == total.members && total.failed_members.empty();

    return total;
}

}  // namespace

std::vector<std::string> fleet_members(const JobSpec& job) {
    const FleetSpec& fleet = *job.fleet;
    std::vector<std::string> values;
    if (fleet.query) {
        try {
            values = query_members(fleet.pattern_is_target ? job.source : job.target, *fleet.query);
        } catch (const Error& e) {
            throw Error(e.kind(), fmt::format("members_query of job {}: {}", job.name, e.what()),
                        e.detail(), e.hint());
        }
    } else {
        values = glob_members(*fleet.glob);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
}

WorkResult run_job_work(const JobSpec& job, bool full, const WorkOptions& options) {
    if (job.fleet)
        return run_fleet(job, full, options);
    return run_pair(job, {job.source, job.target, job.filters}, full, options);
}

}  // namespace ferry::cli
