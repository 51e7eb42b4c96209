// `ferry sync --from A --to B [--both]`: incremental sync
// (docs/incremental-sync.md). Reads A's committed changes after B's
// checkpoint for the link, reduces each batch to its net effect per row,
// checks every row against B for conflicts, and writes the batch with the
// advanced checkpoint in one transaction on B: exactly once, in A's commit
// order, whatever instruction a crash stops at.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "change_peers.hpp"
#include "commands.hpp"
#include "ferry/change_set.hpp"
#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "peer_config.hpp"
#include "pg_connection.hpp"
#include "progress.hpp"
#include "session_recorder.hpp"
#include "sql_text.hpp"
#include "sqlite_connection.hpp"
#include "stop_signals.hpp"
#include "sync_commands.hpp"
#include "sync_peers.hpp"
#include "table_leases.hpp"
#include "table_list_option.hpp"

namespace ferry::cli {
namespace {

struct LinkReport {
    std::string source;
    std::string target;
    std::string policy;
    ApplyCounts counts;
    uint64_t batches = 0;
    uint64_t purged = 0;
    std::optional<int64_t> session;
    bool settled_equal = false;
    std::string consumer;        // the link's consumer at the source (LinkConsumer::name)
    std::string settled_hash;    // the source's digests when settled: "rows:hex,..."
    std::string settled_cursor;  // and the cursor the checkpoint moved to
};

// A link's checkpoint holds its cursor, the --where filters it was made
// with, its conflict policy and its tables (the target's names): {"cursor":
// …, "where": {"table": "condition"}, "policy": "…", "tables": […]}; ferry
// 0.6 stored the bare cursor, and policy and tables came after 0.11. A run
// with other filters than the checkpoint's (a changed --where, or a second
// link over the same tables) would never send the rows only the new filter
// selects, so it is refused; so is one with another policy (LinkSync::
// choose_policy).
struct LinkPosition {
    std::string cursor;
    std::optional<nlohmann::json> filters;  // none in a checkpoint of ferry 0.6
    std::optional<std::string> policy;      // none before ferry recorded it
};

// The names one side of a link gives its tables (&SyncTable::source or
// &SyncTable::target).
std::vector<std::string> names_on(const std::vector<SyncTable>& tables,
                                  PeerTable SyncTable::*side) {
    std::vector<std::string> names;
    for (const auto& table : tables)
        names.push_back((table.*side).name);
    return names;
}

// `policy`: none while no run of the link has asked for one.
std::string link_position(const std::string& cursor, const nlohmann::json& filters,
                          std::optional<changes::Policy> policy,
                          const std::vector<SyncTable>& tables) {
    nlohmann::json position{{"cursor", nlohmann::json::parse(cursor)}, {"where", filters}};
    if (policy) {
        position["policy"] = changes::policy_name(*policy);
        position["tables"] = names_on(tables, &SyncTable::target);
    }
    return position.dump();
}

LinkPosition parse_link_position(const std::string& text) {
    nlohmann::json position = nlohmann::json::parse(text);
    if (!position.is_object() || !position.contains("cursor") || !position.contains("where"))
        return {text, std::nullopt, std::nullopt};
    LinkPosition link{position["cursor"].dump(), position["where"], std::nullopt};
    if (position.contains("policy") && position["policy"].is_string())
        link.policy = position["policy"].get<std::string>();
    return link;
}

// A batch that a foreign key refused. A batch ends after a number of
// changes, not with the source's transaction: one that inserted children
// before their parents (a deferred foreign key) can leave the parents to
// the next batch, so drain() reads it again twice as large.
class BatchForeignKeyViolation : public Error {
  public:
    using Error::Error;
};

// The largest batch drain() reads again for a foreign key (or --batch, if
// larger): a batch is held in memory whole. Past it the clash is taken for
// the target's own.
constexpr size_t kForeignKeyBatchLimit = 250000;

// A batch that a UNIQUE constraint (or exclusion constraint) refused.
// Collapsed to one net change per key, a batch can clash where the source's
// changes did not (two rows swapping a UNIQUE value: whichever is written
// first meets the other's old value), so drain() applies it again in
// smaller batches, down to single changes in the source's order.
class BatchUniqueViolation : public Error {
  public:
    using Error::Error;
};

// How often in a row drain() judges again a batch that local writers raced,
// each time in half as many changes (a shorter window to race in).
constexpr int kRaceRetries = 10;

const char* fix_and_rerun() {
    return "Fix the target's table (or the row on the source), then run ferry sync again.";
}

// A deadlock, or a serialization failure (a target whose default isolation
// is REPEATABLE READ or SERIALIZABLE), with a local writer.
bool is_deadlock(const Error& error) {
    const auto* pg = dynamic_cast<const PgError*>(&error);
    return pg && (pg->sqlstate() == "40P01" || pg->sqlstate() == "40001");
}

bool is_foreign_key_violation(const Error& error) {
    const auto* pg = dynamic_cast<const PgError*>(&error);
    return pg && pg->sqlstate() == "23503";
}

bool is_unique_violation(const Error& error) {
    if (dynamic_cast<const UniqueViolation*>(&error))
        return true;
    const auto* pg = dynamic_cast<const PgError*>(&error);
    return pg && (pg->sqlstate() == "23505" || pg->sqlstate() == "23P01");
}

std::string describe_filters(const nlohmann::json& filters) {
    if (filters.empty())
        return "no --where";
    std::string listed;
    for (const auto& [table, condition] : filters.items())
        listed += fmt::format("{}--where \"{}:{}\"", listed.empty() ? "" : " ", table,
                              condition.get<std::string>());
    return listed;
}

// The conflict policy a run asks for, seen from one direction's source.
struct PolicyChoice {
    std::optional<changes::Policy> asked;                     // --policy
    changes::Policy fallback = changes::Policy::source_wins;  // a new link's, unasked
    bool change = false;                                      // --change-policy

    static PolicyChoice of(const SyncOptions& options) {
        PolicyChoice choice;
        if (!options.policy.empty())
            choice.asked = changes::policy_from(options.policy);
        choice.change = options.change_policy;
        return choice;
    }
    // The same choice for the link's other direction: "A wins" stays A wins.
    PolicyChoice reversed() const {
        PolicyChoice back = *this;
        if (asked)
            back.asked = changes::reversed(*asked);
        back.fallback = changes::reversed(fallback);
        return back;
    }
};

// Who a policy lets win a conflict of the direction from `source` to `target`.
std::string describe_policy(changes::Policy policy, const std::string& source,
                            const std::string& target) {
    switch (policy) {
        case changes::Policy::source_wins:
            return fmt::format("source-wins: {} wins", source);
        case changes::Policy::target_wins:
            return fmt::format("target-wins: {} wins", target);
        case changes::Policy::latest_wins:
            return "latest-wins: the later change wins";
        case changes::Policy::manual:
            return "manual: each peer keeps its row";
    }
    return changes::policy_name(policy);
}

// One direction of a link: everything A committed since B's checkpoint.
class LinkSync {
  public:
    LinkSync(const SyncOptions& options, const std::string& from, const std::string& to,
             const PolicyChoice& choice, Progress& progress)
        : options_(options),
          from_(from),
          to_(to),
          choice_(choice),
          policy_(choice.asked.value_or(choice.fallback)),
          progress_(progress) {}

    LinkReport run();  // open, start, drain, close

    // The pieces of run(), for ferry follow, which drains again and again.
    void open();
    void refuse_broken_capture();
    bool settle_if_equal();
    void start();
    void drain();
    void purge();
    LinkReport close();
    void fail(const Error& error) noexcept;  // records how the link stopped
    // What the committed batches did, also after run() threw.
    const LinkReport& report() const { return report_; }
    // Following: a stop request ends drain() at a batch boundary instead of
    // cancelling the run.
    void follow() { following_ = true; }

  private:
    std::string start_cursor(const std::vector<SyncTable>& tables);
    void choose_policy();
    std::string position(const std::string& cursor) const {
        return link_position(cursor, filters_,
                             policy_chosen_ ? std::optional(policy_) : std::nullopt, tables_);
    }
    void require_same_filters(const nlohmann::json& recorded, const std::string& made_by);
    void apply(std::vector<changes::TableChanges> batch, const ChangeBatch& read);
    void tick();
    SessionInfo session_info() const {
        return {"incremental", std::nullopt, source_->name(), target_->name(),
                changes::policy_name(policy_)};
    }

    const SyncOptions& options_;
    std::string from_;
    std::string to_;
    PolicyChoice choice_;
    changes::Policy policy_;
    bool policy_chosen_ = false;  // asked for, or recorded by the link: kept in its checkpoint
    bool record_policy_ = false;  // the checkpoint does not hold it yet
    Progress& progress_;
    std::unique_ptr<SyncSource> source_;
    std::unique_ptr<SyncTarget> target_;
    std::unique_ptr<ChangeReader> reader_;
    std::unique_ptr<ChangeApplier> applier_;
    std::unique_ptr<TableLeases> leases_;
    std::unique_ptr<SessionRecorder> session_;
    std::vector<SyncTable> tables_;
    std::map<std::string, size_t> table_of_identity_;  // source identity -> tables_ index
    std::set<std::string> identities_;
    LinkConsumer consumer_;
    std::string cursor_;  // in the source's change log: applied up to here
    bool following_ = false;
    std::string job_;
    std::string scope_;
    nlohmann::json filters_;  // filters_by_table(tables_)
    LinkRules rules_;
    LinkReport report_;
    std::chrono::steady_clock::time_point session_updated_;
};

void LinkSync::require_same_filters(const nlohmann::json& recorded, const std::string& made_by) {
    if (recorded == filters_)
        return;
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("the row filters differ from those {} was made with", made_by),
        fmt::format("It has {}; this run has {}. Changes are sent only for the rows a link's "
                    "filter selects, so the rows only the new filter selects would never reach "
                    "{} (and a second link over the same tables would take the first one's "
                    "changes).",
                    describe_filters(recorded), describe_filters(filters_), target_->name()),
        fmt::format("Run the link with the same --where as before. To change its filter, copy "
                    "with the new one first: ferry full-sync --from {} --to {} --tables ... "
                    "--where ... (--method diff moves only what differs), then ferry sync "
                    "--restart with the same --where.",
                    source_->name(), target_->name()));
}

std::string LinkSync::start_cursor(const std::vector<SyncTable>& tables) {
    std::vector<std::string> target_names = names_on(tables, &SyncTable::target);
    std::vector<std::string> source_names = names_on(tables, &SyncTable::source);
    auto copy = applier_->last_full_sync(reader_->peer_id(), target_names);
    auto require_copy_filters = [&] {
        if (!copy->filters)
            return;
        // The copy's filters of this link's tables.
        nlohmann::json copied = nlohmann::json::parse(*copy->filters);
        nlohmann::json of_these = nlohmann::json::object();
        for (const auto& name : target_names)
            if (copied.contains(name))
                of_these[name] = copied[name];
        require_same_filters(of_these, "the full sync it starts from");
    };
    // The other direction of a two-way link: the source was filled by a full
    // sync from the target, and its changes since that copy began go back.
    std::optional<std::string> reverse_cursor;
    auto find_reverse = [&] {
        auto reverse =
            open_change_applier(from_)->last_full_sync(applier_->peer_id(), source_names);
        if (reverse)
            reverse_cursor = reverse->own_cursor;
        return reverse_cursor.has_value();
    };
    auto no_starting_point = [&] {
        return NoStartingPoint(
            ErrorKind::invalid_input,
            fmt::format("no starting point for changes from {} to {}", source_->name(),
                        target_->name()),
            fmt::format("{} has no {}completed full sync from {} of these tables.", target_->name(),
                        options_.restart
                            ? ""
                            : fmt::format("checkpoint for this link ({} {}) and no ", job_, scope_),
                        source_->name()),
            fmt::format("Copy the tables first: ferry full-sync --from {} --to {}{}; "
                        "ferry sync then applies the changes made since.",
                        source_->name(), target_->name(),
                        options_.tables.empty() ? "" : " --tables ..."));
    };
    // Before --restart forgets the checkpoint: a refused run changes nothing.
    if (options_.restart) {
        if (copy)
            require_copy_filters();
        else if (!find_reverse())
            throw no_starting_point();
    }
    if (auto position = applier_->begin_link(job_, scope_, options_.restart)) {
        LinkPosition link = parse_link_position(*position);
        if (link.filters)
            require_same_filters(*link.filters, "this link's checkpoint");
        record_policy_ = policy_chosen_ && link.policy != changes::policy_name(policy_);
        return link.cursor;
    }
    record_policy_ = policy_chosen_;
    if (copy) {
        require_copy_filters();
        progress_.note(
            fmt::format("starting where the last full sync from {} ended", source_->name()));
        return copy->source_cursor;
    }
    if (reverse_cursor || find_reverse()) {
        progress_.note(
            fmt::format("starting with the changes {} made since the last full sync "
                        "from {}",
                        source_->name(), target_->name()));
        return *reverse_cursor;
    }
    throw no_starting_point();
}

// A link's two directions must settle a conflict for the same peer: A→B
// under target-wins (B wins) and B→A under target-wins (A wins) would each
// keep the other's row, and neither peer would log a change to send. So a
// policy asked for is recorded in each direction's checkpoint; a run
// without --policy takes the link's (or the other direction's, reversed),
// and one asking for another is refused unless it says --change-policy.
// (Under the default, source-wins both ways, the first direction to meet a
// conflict writes its row and the other finds its own change overwritten:
// the peers agree, so a link never asked for a policy records none.)
void LinkSync::choose_policy() {
    std::set<std::string> recorded =
        applier_->link_policies(reader_->peer_id(), names_on(tables_, &SyncTable::target));
    try {  // the other direction's checkpoints, at the source
        for (const auto& name : open_change_applier(from_)->link_policies(
                 applier_->peer_id(), names_on(tables_, &SyncTable::source)))
            recorded.insert(changes::policy_name(changes::reversed(changes::policy_from(name))));
    } catch (const PgError& error) {
        if (error.sqlstate() != "42501")  // a source role that may not read them: unchecked
            throw;
    }
    auto listed = [&] {
        std::string text;
        for (const auto& name : recorded)
            text += fmt::format(
                "{}{}", text.empty() ? "" : "; ",
                describe_policy(changes::policy_from(name), source_->name(), target_->name()));
        return text;
    };
    if (!choice_.asked && recorded.size() > 1)
        throw Error(
            ErrorKind::invalid_input,
            fmt::format("the links between {} and {} settle conflicts by different "
                        "policies",
                        source_->name(), target_->name()),
            fmt::format("Their checkpoints record {}.", listed()),
            fmt::format("Choose one for both directions at once: ferry sync --from {} "
                        "--to {} --both --policy POLICY --change-policy; then check "
                        "with ferry diff {} {}.",
                        source_->name(), target_->name(), source_->name(), target_->name()));
    if (!choice_.asked && recorded.size() == 1)
        policy_ = changes::policy_from(*recorded.begin());
    policy_chosen_ = choice_.asked || !recorded.empty();
    std::string name = changes::policy_name(policy_);
    if (choice_.change || recorded.empty() || recorded == std::set<std::string>{name})
        return;
    throw Error(
        ErrorKind::invalid_input,
        fmt::format("this link settles conflicts by another policy than {}", name),
        fmt::format("This run asks for {}; the checkpoints of the link between {} and {} "
                    "record {}. Under another policy, a conflict that the other direction "
                    "settled one way would be settled the other way here, and both peers would "
                    "keep a different row for good.",
                    describe_policy(policy_, source_->name(), target_->name()), source_->name(),
                    target_->name(), listed()),
        "Run it without --policy to keep the link's policy. To change it, add --change-policy, "
        "best with --both so that both directions change in one run; rows both peers changed "
        "before may then differ (ferry diff shows them).");
}

// Between batches: stop requests, leases, the session row.
void LinkSync::tick() {
    if (!following_)
        stop_here_if_requested();
    leases_->keep();
    progress_.update(report_.counts.changes, std::nullopt, 0);
    auto now = std::chrono::steady_clock::now();
    if (now - session_updated_ >= std::chrono::seconds(1)) {
        session_updated_ = now;
        session_->progress("apply", report_.counts.changes, std::nullopt, 0);
    }
}

// One batch in one target transaction, then the cursor. Truncated tables
// are emptied first (children first). Deletes come before upserts, so that
// a key or UNIQUE value the source freed and reused is free on the target
// too (children first); a delete that a foreign key still blocks waits until
// after the upserts (parents first), which may move the referencing rows.
void LinkSync::apply(std::vector<changes::TableChanges> batch, const ChangeBatch& read) {
    std::vector<std::pair<const SyncTable*, TablePlan>> plans;
    std::vector<std::pair<const SyncTable*, const changes::TableChanges*>> applied;
    const SyncTable* at = nullptr;  // the table being judged or written, for errors
    applier_->begin(reader_->peer_id());
    try {
        // tables_ is in parents-first order.
        for (const SyncTable& table : tables_)
            for (auto& changes : batch)
                if (&tables_[table_of_identity_.at(changes.table)] == &table &&
                    (changes.truncated || !changes.rows.empty())) {
                    at = &table;
                    applier_->adapt(table, changes, ChangeApplier::RowSource::batch);
                    plans.emplace_back(&table,
                                       applier_->judge(table, changes, rules_, report_.counts));
                    applied.emplace_back(&table, &changes);
                }
        for (auto it = plans.rbegin(); it != plans.rend(); ++it)
            applier_->write_truncate(*(at = it->first), it->second, report_.counts);
        std::vector<bool> deleted(plans.size());
        for (size_t i = plans.size(); i-- > 0;)
            deleted[i] = applier_->write_deletes(*(at = plans[i].first), plans[i].second, true);
        for (auto& [table, plan] : plans)
            applier_->write_upserts(*(at = table), plan);
        for (size_t i = plans.size(); i-- > 0;)
            if (!deleted[i])
                applier_->write_deletes(*(at = plans[i].first), plans[i].second, false);
        for (auto& [table, changes] : applied)
            applier_->keep_change_times(*(at = table), *changes, rules_);
        at = nullptr;
        applier_->commit(job_, scope_, position(read.cursor), report_.counts.changes);
    } catch (const Error& error) {
        applier_->rollback();
        if (dynamic_cast<const TargetChangedWhileApplying*>(&error))
            throw;
        if (is_deadlock(error))  // with a local writer, over the rows the batch locked
            throw TargetChangedWhileApplying(error.kind(), error.what(), error.detail());
        // A value the target refuses, a constraint: the database said what,
        // and the detail says where.
        std::string where = at ? fmt::format("While applying changes to {} in {}.", at->target.name,
                                             target_->name())
                               : std::string();
        std::string detail = error.detail().empty() || where.empty()
                                 ? error.detail() + where
                                 : error.detail() + "\n" + where;
        std::string hint = !error.hint().empty()
                               ? error.hint()
                               : fmt::format(
                                     "Nothing of this batch of changes from {} was "
                                     "applied to {}. {}",
                                     source_->name(), target_->name(), fix_and_rerun());
        if (is_unique_violation(error))
            throw BatchUniqueViolation(error.kind(), error.what(), detail, hint);
        if (is_foreign_key_violation(error))
            throw BatchForeignKeyViolation(error.kind(), error.what(), detail, hint);
        if (dynamic_cast<const SqliteBusy*>(&error))
            throw SqliteBusy(error.kind(), error.what(), detail, hint);
        throw Error(error.kind(), error.what(), detail, hint);
    } catch (...) {
        applier_->rollback();
        throw;
    }
}

// A table the source does not track has no changes in its log: a link over
// it would run, report nothing, and never send a row. With --both the target
// is the other direction's source, checked before either direction runs.
void require_tracked(SyncSource& peer, const std::vector<std::string>& tables) {
    std::set<std::string> tracked = tracked_identities(peer);
    std::vector<std::string> untracked;
    for (const auto& name : tables)
        if (!tracked.count(peer.identify(name)))
            untracked.push_back(name);
    if (untracked.empty())
        return;
    std::string listed = fmt::format("{}", fmt::join(untracked, ","));
    throw Error(ErrorKind::invalid_input, fmt::format("{} does not track {}", peer.name(), listed),
                "ferry sync sends the changes a peer's capture logged, and none are logged for "
                "a table it does not track: the link would never send its rows. Nothing was "
                "synced.",
                fmt::format("Track it there: ferry init {} --track {}; then copy it with ferry "
                            "full-sync (changes made before are not in the log), or leave it out "
                            "of --tables.",
                            peer.name(), listed));
}

// A source whose capture a schema change broke (SQLite: a column added
// since ferry_track, the table made again) logs changes without the new
// column, or none at all: syncing on would leave the peers apart unseen.
void LinkSync::refuse_broken_capture() {
    auto broken = source_->broken_capture(tables_);
    if (broken.empty())
        return;
    std::string listed;
    for (const auto& [table, state] : broken)
        listed += fmt::format("{}{}: {}", listed.empty() ? "" : "; ", table, state);
    throw Error(ErrorKind::invalid_input,
                fmt::format("capture of {} in {} is broken by a schema change", broken[0].first,
                            source_->name()),
                listed,
                "Run ferry_track() on each table again there (ferry init PEER --track TABLES), "
                "then ferry sync again. Rows changed since the schema change may differ on the "
                "other peer (ferry diff shows them). Nothing was synced.");
}

// Connects, plans and takes the leases; nothing is read yet.
void LinkSync::open() {
    source_ = open_sync_source(from_);
    target_ = open_sync_target(to_);
    if (redact(from_) == redact(to_))
        throw Error(ErrorKind::invalid_input, "the source and the target are the same peer");
    source_->require_ferry();
    target_->require_ferry();
    try {
        tables_ = plan_sync_tables(*source_, *target_, options_.tables, options_.filters, "sync");
        require_tracked(*source_, names_on(tables_, &SyncTable::source));
        if (options_.both)
            require_tracked(*open_sync_source(to_), names_on(tables_, &SyncTable::target));
        refuse_broken_capture();
    } catch (const Error& error) {
        record_refused_run(to_, session_info(), error);
        throw;
    }
    reader_ = open_change_reader(from_);
    applier_ = open_change_applier(to_);
    for (size_t i = 0; i < tables_.size(); i++) {
        std::string identity = source_->identify(tables_[i].source.name);
        table_of_identity_[identity] = i;
        identities_.insert(identity);
    }
    filters_ = filters_by_table(tables_);
    job_ = "sync from " + reader_->peer_id();
    scope_ = run_scope(tables_, applier_->checkpoint_scopes(job_));
    try {
        choose_policy();
    } catch (const Error& error) {
        record_refused_run(to_, session_info(), error);
        throw;
    }
    rules_ = {policy_, reader_->peer_id(), applier_->peer_id()};
    report_ = LinkReport{};
    report_.source = source_->name();
    report_.target = target_->name();
    report_.policy = changes::policy_name(policy_);
    consumer_ = link_consumer(applier_->peer_id(), identities_);
    report_.consumer = consumer_.name;
    progress_.step(1, 1, "sync", fmt::format("{} -> {}", source_->name(), target_->name()));

    leases_ = std::make_unique<TableLeases>(*target_, "sync", options_.lease_seconds);
    leases_->take(tables_, [&](const std::string& note) { progress_.note(note); });
}

// settle_when_equal: the tables hash alike on both peers in one snapshot of
// the source, so the target holds exactly what applying every change up to
// that snapshot's cursor would give; the checkpoint moves there. True when
// it did.
bool LinkSync::settle_if_equal() {
    nlohmann::json snapshot = nlohmann::json::parse(source_->begin_snapshot());
    bool equal = true;
    std::vector<std::pair<std::string, std::string>> digests;
    for (size_t i = 0; i < tables_.size() && equal; i++) {
        equal = source_->table_hash(tables_[i]) == target_->table_hash(tables_[i]);
        if (options_.settle_when_equal)  // what a fleet remembers (docs/scheduling.md#fleets)
            digests.emplace_back(tables_[i].source.name, source_->own_digest(tables_[i]));
    }
    source_->end_snapshot();
    if (!equal)
        return false;
    std::string cursor = snapshot.at("cursor").dump();
    report_.settled_hash = digests_text(digests);
    report_.settled_cursor = cursor;
    applier_->begin_link(job_, scope_, false);
    applier_->begin(reader_->peer_id());
    applier_->commit(job_, scope_, position(cursor), 0);
    reader_->register_consumer(consumer_);
    reader_->acknowledge(consumer_.name, cursor);
    leases_.reset();
    return true;
}

// Where the link stands, and the source told to keep what it has not
// acknowledged; the session is recorded from here on.
void LinkSync::start() {
    session_ = std::make_unique<SessionRecorder>(to_, session_info());
    report_.session = session_->id();
    if (options_.on_session && session_->id())
        options_.on_session(to_, *session_->id());
    cursor_ = start_cursor(tables_);
    if (record_policy_) {  // the link's first run, or a new policy: recorded before any batch
        applier_->begin(reader_->peer_id());
        applier_->commit(job_, scope_, position(cursor_), 0);
    }
    reader_->register_consumer(consumer_);
}

// Applies what the source has committed so far, batch by batch. A batch
// that clashes on a UNIQUE value is read and applied again in halves, one
// that a foreign key refuses twice as large, while more changes follow; the
// batches after it go back to --batch. One that a local writer raced is
// judged again, also in halves (each one a shorter window to race in).
void LinkSync::drain() {
    size_t batch_size = options_.batch_changes;
    int raced = 0;
    auto read_after = [&](const std::string& cursor, size_t size) {
        return reader_->read(cursor, size, applier_->peer_id(), identities_);
    };
    if (following_ && stop_requested())
        return;
    ChangeBatch read = read_after(cursor_, batch_size);
    while (read.cursor != cursor_) {  // else nothing new
        // The source reads the next batch while the target applies this one.
        bool more = !read.complete && !(following_ && stop_requested());
        size_t next_size = std::min(batch_size * 2, options_.batch_changes);
        std::future<ChangeBatch> next;
        if (more)
            next = std::async(std::launch::async, read_after, read.cursor, next_size);
        ApplyCounts counted = report_.counts;
        for (const auto& change : read.changes)
            report_.counts.changes += change.echo ? 0 : 1;
        // The batch rolled back: read again, in half as many changes.
        auto read_again_in_halves = [&] {
            if (next.valid())
                next.wait();  // the reader is free again; what it read is not needed
            batch_size = std::max<size_t>(1, std::min(batch_size, read.changes.size()) / 2);
            read = read_after(cursor_, batch_size);
        };
        try {
            apply(changes::collapse(read.changes), read);
        } catch (const BatchUniqueViolation& error) {
            report_.counts = counted;  // the report counts committed batches only
            if ((batch_size == 1 || read.changes.size() <= 1) &&
                batch_size < options_.batch_changes)
                throw Error(error.kind(), error.what(), error.detail(),
                            fmt::format("The batch was applied in parts, down to this change: the "
                                        "changes before it were applied, nothing of it was. {}",
                                        fix_and_rerun()));
            if (batch_size == 1 || read.changes.size() <= 1)
                throw;
            read_again_in_halves();
            continue;
        } catch (const BatchForeignKeyViolation& error) {
            report_.counts = counted;
            size_t larger = std::max(batch_size, read.changes.size()) * 2;
            if (read.complete ||
                larger > std::max(kForeignKeyBatchLimit, options_.batch_changes * 2))
                throw;
            if (next.valid())
                next.wait();
            batch_size = larger;
            read = read_after(cursor_, batch_size);
            continue;
        } catch (const TargetChangedWhileApplying& error) {
            report_.counts = counted;
            if (++raced > kRaceRetries)
                throw TargetChangedWhileApplying(
                    error.kind(), error.what(), error.detail(),
                    fmt::format("Nothing of this batch was applied to {}: other sessions kept "
                                "writing its rows. Run ferry sync again.",
                                target_->name()));
            read_again_in_halves();
            continue;
        } catch (...) {
            report_.counts = counted;
            throw;
        }
        batch_size = next_size;
        raced = 0;
        ChangeBatch after = more ? next.get() : ChangeBatch{};
        // Acknowledged only once applied: a crash in between leaves the
        // source keeping a batch the target already has, never the reverse.
        reader_->acknowledge(consumer_.name, read.cursor);
        cursor_ = read.cursor;
        report_.batches++;
        tick();
        if (!more)
            break;
        read = std::move(after);
    }
}

void LinkSync::purge() {
    report_.purged += reader_->purge();
    for (const auto& name : reader_->consumers_of_every_table(consumer_.peer))
        log_line(fmt::format(
            "{} keeps every change for consumer \"{}\" (from ferry 0.5) until it is dropped: "
            "once every link into that peer has run with this ferry, run there: SELECT {}('{}')",
            source_->name(), name,
            reader_->peer_id().rfind("sqlite:", 0) == 0 ? "ferry_drop_consumer"
                                                        : "ferry.drop_consumer",
            name));
}

LinkReport LinkSync::close() {
    purge();
    session_->progress("done", report_.counts.changes, report_.counts.changes, 0);
    session_->succeeded();
    leases_.reset();
    return report_;
}

void LinkSync::fail(const Error& error) noexcept {
    try {
        if (applier_ && !job_.empty())
            applier_->fail_link(job_, scope_, error.what());
    } catch (...) {
    }
    if (session_)
        session_->ended_by(error);
}

LinkReport LinkSync::run() {
    open();
    try {
        if (options_.settle_when_equal && settle_if_equal()) {
            report_.settled_equal = true;
            return report_;
        }
        start();
        drain();
    } catch (const Error& error) {
        fail(error);
        throw;
    }
    return close();
}

nlohmann::json report_json(const LinkReport& r) {
    const ApplyCounts& c = r.counts;
    nlohmann::json out = {{"source", r.source},
                          {"target", r.target},
                          {"policy", r.policy},
                          {"changes", c.changes},
                          {"batches", r.batches},
                          {"inserted", c.inserted},
                          {"updated", c.updated},
                          {"deleted", c.deleted},
                          {"unchanged", c.unchanged},
                          {"conflicts", c.conflicts},
                          {"kept_target", c.kept_by_target},
                          {"purged", r.purged}};
    if (r.session)
        out["session"] = *r.session;
    return out;
}

void print_reports(const SyncOptions& options, const std::vector<LinkReport>& reports) {
    if (options.json) {
        nlohmann::json links = nlohmann::json::array();
        for (const auto& report : reports)
            links.push_back(report_json(report));
        print_json(nlohmann::json{{"links", links}});
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : reports) {
        const ApplyCounts& c = r.counts;
        rows.push_back(
            {r.source, r.target, std::to_string(c.changes), std::to_string(c.inserted),
             std::to_string(c.updated), std::to_string(c.deleted), std::to_string(c.unchanged),
             c.conflicts ? fmt::format("{} ({} kept on target)", c.conflicts, c.kept_by_target)
                         : "0"});
    }
    print_table(
        {"source", "target", "changes", "inserted", "updated", "deleted", "unchanged", "conflicts"},
        rows);
}

// The options of a link's second direction, B to A. The filters choose
// what B receives; what B writes goes back whole: a row B moves out of its
// filter is updated on A, never deleted there.
SyncOptions backward(const SyncOptions& options) {
    SyncOptions back = options;
    back.filters.clear();
    return back;
}

}  // namespace

int run_sync(const SyncOptions& options, SyncResult* result) {
    StopSignals signals;
    Progress progress(options.quiet || options.json);
    PolicyChoice policy = PolicyChoice::of(options);
    std::vector<LinkReport> reports;
    std::optional<Error> failed;
    // Into the caller's result: every link's counts, also of one that
    // stopped after committing batches (its report is not printed).
    auto add_counts = [&](const LinkReport& report) {
        if (!result)
            return;
        const ApplyCounts& c = report.counts;
        result->changes += c.changes;
        result->written += c.inserted + c.updated + c.deleted;
        result->conflicts += c.conflicts;
    };
    auto one_way = [&](const SyncOptions& link, const std::string& from, const std::string& to,
                       const PolicyChoice& p) {
        LinkSync sync(link, from, to, p, progress);
        try {
            reports.push_back(sync.run());
        } catch (const NoStartingPoint&) {
            throw;  // nothing ran yet: the caller may copy first
        } catch (const Error& error) {
            add_counts(sync.report());
            if (!options.both)
                throw;
            // Only this direction stops; the other still runs. A caller
            // that prints no report gets the error itself (result->failure).
            if (options.print_report)
                report_error(error);
            if (!failed)
                failed = error;
        }
    };
    one_way(options, options.from, options.to, policy);
    if (options.both) {
        SyncOptions back = backward(options);
        one_way(back, options.to, options.from, policy.reversed());
    }
    if (result) {
        for (const auto& report : reports) {
            add_counts(report);
            result->settled_equal = report.settled_equal;
            result->consumer = report.consumer;
            result->settled_hash = report.settled_hash;
            result->settled_cursor = report.settled_cursor;
        }
        result->failure = failed;
    }
    if (options.print_report)
        print_reports(options, reports);
    return failed ? exit_code_for(*failed) : exit_ok;
}

namespace {

// Until one of the peers may have something new (a NOTIFY, a data_version
// that moved), a stop request, or a few seconds as a safety net.
void wait_for_changes(const std::vector<std::unique_ptr<ChangeWaiter>>& waiters) {
    constexpr int kSliceMs = 200;
    constexpr int kMostMs = 5000;
    for (int waited = 0; waited < kMostMs && !stop_requested(); waited += kSliceMs)
        for (size_t i = 0; i < waiters.size(); i++)
            if (waiters[i]->wait(i == 0 ? kSliceMs : 0))
                return;
}

// ferry follow: the link's directions drained, then a wait for more, until
// SIGTERM or Ctrl-C; a lost peer is retried with a growing pause.
int run_follow(const SyncOptions& options) {
    StopSignals signals;
    Progress progress(options.quiet || options.json);
    PolicyChoice policy = PolicyChoice::of(options);
    SyncOptions back = backward(options);
    int pause_seconds = 1;
    while (!stop_requested()) {
        std::vector<std::unique_ptr<LinkSync>> links;
        try {
            links.push_back(
                std::make_unique<LinkSync>(options, options.from, options.to, policy, progress));
            if (options.both)
                links.push_back(std::make_unique<LinkSync>(back, options.to, options.from,
                                                           policy.reversed(), progress));
            std::vector<std::unique_ptr<ChangeWaiter>> waiters;
            for (auto& link : links) {
                link->follow();
                link->open();
                link->start();
            }
            waiters.push_back(open_change_waiter(options.from));
            if (options.both)
                waiters.push_back(open_change_waiter(options.to));
            progress.note("following; stop with Ctrl-C or SIGTERM");
            auto purged = std::chrono::steady_clock::now();
            while (!stop_requested()) {
                for (auto& link : links)
                    link->drain();
                // Healthy again once a round applied: an error that comes
                // back on every drain keeps the pause growing.
                pause_seconds = 1;
                if (std::chrono::steady_clock::now() - purged >= std::chrono::seconds(10)) {
                    for (auto& link : links)
                        link->purge();
                    purged = std::chrono::steady_clock::now();
                }
                wait_for_changes(waiters);
            }
            std::vector<LinkReport> reports;
            for (auto& link : links)
                reports.push_back(link->close());
            print_reports(options, reports);
            return exit_ok;
        } catch (const Error& error) {
            for (auto& link : links)
                link->fail(error);
            // A lost peer, a target whose own writers kept racing a batch, a
            // SQLite peer an application held locked: all pass.
            if (error.kind() != ErrorKind::connection &&
                !dynamic_cast<const TargetChangedWhileApplying*>(&error) &&
                !dynamic_cast<const SqliteBusy*>(&error))
                throw;
            report_error(error);
            log_line(fmt::format("retrying in {} s", pause_seconds));
            for (int slept = 0; slept < pause_seconds * 10 && !stop_requested(); slept++)
                usleep(100 * 1000);
            pause_seconds = std::min(pause_seconds * 2, 30);
        }
    }
    return exit_ok;
}

// The options sync and follow share.
void add_link_options(CLI::App* cmd, SyncOptions& options) {
    auto* from = cmd->add_option(
        "--from", options.from,
        "Source peer: connection string, URI, sqlite:PATH or a name from the config");
    from->transform(resolve_peer);
    auto* to = cmd->add_option("--to", options.to, "Target peer")->transform(resolve_peer);
    from->needs(to);
    to->needs(from);
    add_table_list_option(
        cmd, "--tables", options.tables,
        "Tables of the link, comma-separated (default: every table the source tracks)");
    cmd->add_option("--where", options.filters,
                    "TABLE:CONDITION: the target keeps only the rows the condition holds for; a "
                    "row updated out of it is deleted there, into it inserted (repeatable)");
    cmd->add_flag("--both", options.both,
                  "Both directions: from A to B, then from B to A (conflicts settled alike)");
    auto* policy =
        cmd->add_option("--policy", options.policy,
                        "Conflicts: source-wins, target-wins, latest-wins, manual; with --both, "
                        "source means --from (default: the link's, source-wins for a new link)")
            ->check(CLI::IsMember({"source-wins", "target-wins", "latest-wins", "manual"}));
    cmd->add_flag("--change-policy", options.change_policy,
                  "Make --policy the link's policy where its checkpoints record another")
        ->needs(policy);
    cmd->add_option("--batch", options.batch_changes,
                    "Changes per target transaction (default 10000)")
        ->check(CLI::Range(1, 1000000));
    cmd->add_option("--lease-seconds", options.lease_seconds,
                    "How long the table leases outlive a crashed ferry (default 120)")
        ->check(CLI::Range(5, 86400));
    cmd->add_flag("--json", options.json, "JSON report on stdout");
    cmd->add_flag("--quiet", options.quiet, "No progress on stderr");
}

}  // namespace

void setup_sync(CLI::App& app, int* exit_code) {
    auto options = std::make_shared<SyncOptions>();
    auto* cmd = app.add_subcommand(
        "sync", "Apply the changes committed on one peer since the last sync to another");
    add_link_options(cmd, *options);
    cmd->add_flag("--restart", options->restart,
                  "Forget the link's checkpoint and start where the newest full sync ended (after "
                  "re-copying with ferry full-sync)");
    cmd->callback([cmd, options, exit_code] {
        if (!options->from.empty()) {
            *exit_code = run_sync(*options);
            return;
        }
        // Without peers: the links of the config file (its incremental
        // jobs), each with its own settings; an option here would be ignored.
        for (const char* name : {"--tables", "--where", "--both", "--policy", "--change-policy",
                                 "--batch", "--lease-seconds", "--quiet", "--restart"})
            if (cmd->count(name) > 0)
                throw CLI::ValidationError(
                    name, std::string("applies to one link: give --from and --to, or set it "
                                      "in the config file's job"));
        *exit_code = run_config_links(options->json);
    });

    auto follow_options = std::make_shared<SyncOptions>();
    auto* follow = app.add_subcommand(
        "follow", "Keep syncing: apply changes as they commit, until SIGTERM or Ctrl-C");
    add_link_options(follow, *follow_options);
    follow->callback([follow_options, exit_code] {
        if (follow_options->from.empty())
            throw CLI::RequiredError("--from and --to");
        *exit_code = run_follow(*follow_options);
    });
}

}  // namespace ferry::cli
