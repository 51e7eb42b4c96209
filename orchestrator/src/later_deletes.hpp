// --delete-missing across foreign keys (docs/full-sync.md#foreign-keys).
// Tables are written parents first, and a parent's row that the source no
// longer has can go only once no row references it. So the rows to delete
// from a table that a foreign key references are noted when the table is
// written, and deleted after the last table, children first, in one
// transaction with the run's checkpoint. Such a table counts as done only
// then: a run resumed before that writes it again.
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

    // Before writing `table`, whose report will be reports[report]: whether
    // its deletions wait (then WriteOptions::delete_later, and the table is
    // left out of the checkpoint's tables_done).
    bool wait_for(const SyncTable& table, size_t report);

    // After the last table: deletes the noted rows, adds their tables to
    // position["tables_done"], and puts the rows deleted in `reports`.
    // `options` carries the checkpoint's job and scope, the origin and the
    // rows done; a dry run deletes nothing (its notes were rolled back).
    // `note` gets a line per table for the progress output.
    void run(nlohmann::json& position, WriteOptions options, std::vector<TableReport>& reports,
             const std::function<void(const std::string&)>& note);

  private:
    SyncTarget& target_;
    bool delete_missing_;
    std::vector<SyncTable> tables_;  // parents first
    std::vector<size_t> reports_;
};

}  // namespace ferry::cli
