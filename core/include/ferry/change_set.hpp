// A batch of captured changes reduced to its net effect per row, and the
// conflict rules of incremental sync (docs/incremental-sync.md). Knows no
// database: rows and keys are JSON text as the change logs hold them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ferry::changes {

// The member a PostgreSQL row adds to list its jsonb columns that hold JSON
// null: in a row's JSON a column's null is SQL NULL, so a jsonb column's
// JSON null needs saying apart. The change log's new_row carries it, and so
// does a row a PostgreSQL target is given; the reader sends such a value as
// the JSON text "null", as it sends jsonb strings. No column can have this
// name (PostgreSQL's are at most 63 bytes), and jsonb sorts it last.
inline constexpr char kJsonNullsMember[] =
    "ferry: the jsonb columns of this row that hold JSON null, not SQL NULL";
static_assert(sizeof kJsonNullsMember > 64, "longer than any PostgreSQL name");

enum class Operation { insert, update, remove, truncate };

// A change's row or key (a JSON object) with the string values of some of
// its members respelled for a target: `rewrite` gets a member's name and its
// string, and returns the JSON text to put in its place, or nullopt to keep
// it. Everything else stays as written, numbers to their last digit (a
// numeric's 30 digits would not survive a double). nullopt when nothing was
// rewritten or the text is not a JSON object.
using StringRewrite =
    std::function<std::optional<std::string>(const std::string& name, const std::string& value)>;
std::optional<std::string> with_strings_rewritten(std::string_view object,
                                                  const StringRewrite& rewrite);

// "I", "U", "D", "T" (as ferry.changes.op) or INSERT, UPDATE, DELETE,
// TRUNCATE (as ferry.read_changes() prints them).
Operation operation_from(const std::string& text);

// One captured change, in the source's commit order.
struct Change {
    std::string table;  // the source's name for it
    Operation op = Operation::insert;
    std::string key;                     // JSON object of the key columns
    std::optional<std::string> new_row;  // JSON object (insert, update)
    std::optional<int64_t> old_hash;     // row hash before the change (update, remove)
    double changed_at = 0;               // seconds since 1970, UTC
    // Written by ferry on behalf of the peer this batch goes to: never sent
    // back, and it supersedes the changes to its row before it.
    bool echo = false;
    // The old row of a remove, where the log holds it (SQLite): its columns
    // are those `old_hash` covers.
    std::optional<std::string> old_row{};
};

// What a batch does to one row: its final state, and what the row was
// before the batch's first change to it (what the target should still have).
struct NetChange {
    std::string key;
    Operation first = Operation::insert;  // the batch's first change to the row
    std::optional<int64_t> old_hash;      // before it (update, remove): nullopt = no row
    std::optional<std::string> row;       // after the batch: nullopt = deleted
    double changed_at = 0;                // the last change's time
    // A row logged by the batch's first change whose columns are those
    // `old_hash` covers: an update's new row, kept here when a later change
    // (or filling in columns) replaced it in `row`; a remove's old row
    // where the log holds it. See old_row_columns().
    std::optional<std::string> first_row{};
    // The old-row hashes of the batch's later changes to the row: states
    // the source passed through. A target holding one of them is behind the
    // source, not in conflict with it (as if the changes applied one by one).
    std::vector<int64_t> passed_hashes{};
    bool passed_absent = false;  // a later change inserted it: "no row" was passed too
};

// A JSON row with the columns that `old_hash` covers, when the log tells:
// an update logs its new row with the columns its old row had, a SQLite
// delete its old row. nullptr otherwise (an insert; a PostgreSQL delete).
const std::string* old_row_columns(const NetChange& change);

// Column sets to hash a target row over when its hash differs from the
// change's old-row hash, in case columns were added on both peers after the
// change was logged (the old-row hash lacks them). When the log tells
// (old_row_columns()), the target's columns that row has. Otherwise, each
// set that leaves out a run of the last columns of `target_columns` (in
// table order) that are NULL in `target_row` (a JSON object) or hold the
// default they were added with (`at_default`): ADD COLUMN puts a column
// last, and the rows it finds take NULL or that default. None when nothing
// is left out.
std::vector<std::vector<std::string>> column_sets_before_added(
    const NetChange& change, const std::vector<std::string>& target_columns,
    const std::string& target_row, const std::vector<std::string>& at_default = {});

struct TableChanges {
    std::string table;
    // A TRUNCATE in the batch: every target row goes first, then `rows`
    // (only the changes after the last TRUNCATE) apply.
    bool truncated = false;
    std::vector<NetChange> rows;  // in order of each row's first change
};

// Reduces a batch to one net change per row, tables in order of their first
// change. Keys are compared as the source printed them (one source prints a
// key the same way every time). A row's changes up to its last echo are
// dropped: what the source did to the row before the target's own version
// came back is already settled (a conflict the other direction decided).
std::vector<TableChanges> collapse(const std::vector<Change>& batch);

// How a link settles a row both peers changed since the last sync.
enum class Policy { source_wins, target_wins, latest_wins, manual };

Policy policy_from(const std::string& text);  // source-wins, target-wins, ...
const char* policy_name(Policy policy);
// The policy as seen from the other end of a bidirectional link, so that
// both directions settle a conflict the same way (A wins stays A wins).
Policy reversed(Policy policy);

// What the target has for a row, for the conflict check.
struct TargetRow {
    std::optional<int64_t> hash;         // nullopt: no such row on the target
    std::optional<int64_t> new_hash;     // hash of the change's final row (if any)
    std::optional<double> last_changed;  // the target's own newest change to it
    // The link's row filter on the change's final row: nullopt without a
    // filter (or for a delete).
    std::optional<bool> in_filter;
    // The target row's hashes over column_sets_before_added(): one matches
    // the old-row hash when only columns added since the change was logged
    // differ.
    std::vector<int64_t> hashes_without_added_columns{};
};

enum class Verdict {
    apply,           // no conflict: write the change
    already_done,    // the target already holds the final state: nothing to write
    conflict_apply,  // conflict, settled for the source: write it
    conflict_keep,   // conflict, settled for the target: keep its row
    conflict_open,   // manual: keep the target's row, record it open
    moved_out,       // the row left the link's filter: delete it on the target
};

// The conflict check of one net change: the target's row must be what the
// source had before the batch (the old row's hash; no row before an
// insert). `source_peer` and `target_peer` break latest-wins ties. With a
// row filter, a row outside it goes from the target (a conflict when the
// target changed it: conflict_apply then deletes it), and a row the target
// lacks is never a conflict (the filter may have kept it out).
Verdict judge(const NetChange& change, const TargetRow& target, Policy policy,
              const std::string& source_peer, const std::string& target_peer);

bool is_conflict(Verdict verdict);

}  // namespace ferry::changes
