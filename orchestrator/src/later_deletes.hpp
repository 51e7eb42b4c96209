// --delete-missing across foreign keys (docs/full-sync.md#foreign-keys).
// Tables are written parents first, and a parent's row that the source no
// longer has can go only once no row references it. So the rows to delete
// from a table that a foreign key references are noted when the table is
// written, and deleted after the last table, children first, in one
// transaction with the run's checkpoint. Every table on either side of a
// foreign key counts as done only then: a run resumed before that writes
// them all again, from one snapshot, so that the rows it deletes and the
// rows that reference them agree.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sync_peers.hpp"
#include "table_report.hpp"

namespace ferry::cli {

class LaterDeletes {
  public:
    LaterDeletes(SyncTarget& target, bool delete_missing)
        : target_(target), delete_missing_(delete_missing) {}

    // What waits for the end of the run, for one table.
    struct Waiting {
        bool deletes = false;  // WriteOptions::delete_later
        bool done = false;     // left out of the checkpoint's tables_done
    };

    // Before writing `table`, whose report will be reports[report].
    Waiting wait_for(const SyncTable& table, size_t report);

    // The checkpoint positions of `table`'s write, before and after it
    // (`position` gains the table unless it waits), and delete_later.
    static void plan_write(const SyncTable& table, Waiting waiting, nlohmann::json& position,
                           WriteOptions& write);

    // After the last table: deletes the noted rows, adds the waiting tables
    // to position["tables_done"], and puts the rows deleted in `reports`.
    // `options` carries the checkpoint's job and scope, the origin and the
    // rows done; a dry run deletes nothing (its notes were rolled back).
    // `note` gets a line per table for the progress output.
    void run(nlohmann::json& position, WriteOptions options, std::vector<TableReport>& reports,
             const std::function<void(const std::string&)>& note);

  private:
    SyncTarget& target_;
    bool delete_missing_;
    std::vector<SyncTable> deleting_;  // parents first
    std::vector<size_t> reports_;      // of deleting_
    std::vector<std::string> done_later_;
};

}  // namespace ferry::cli
