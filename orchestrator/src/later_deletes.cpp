// Deletions that wait for the tables referencing theirs (later_deletes.hpp).
#include "later_deletes.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ferry::cli {

bool LaterDeletes::wait_for(const SyncTable& table, size_t report) {
    if (!delete_missing_ || !target_.referenced(table))
        return false;
    tables_.push_back(table);
    reports_.push_back(report);
    return true;
}

void LaterDeletes::run(nlohmann::json& position, WriteOptions options,
                       std::vector<TableReport>& reports,
                       const std::function<void(const std::string&)>& note) {
    if (tables_.empty() || options.dry_run)
        return;
    std::reverse(tables_.begin(), tables_.end());  // children first
    std::reverse(reports_.begin(), reports_.end());
    for (const auto& table : tables_)
        position["tables_done"].push_back(table.target.name);
    options.checkpoint_done = position.dump();
    std::vector<uint64_t> deleted = target_.delete_noted(tables_, options);
    for (size_t i = 0; i < deleted.size(); i++) {
        reports[reports_[i]].counts.deleted = deleted[i];
        note(fmt::format("{}: {} deleted", tables_[i].target.name, deleted[i]));
    }
    tables_.clear();
    reports_.clear();
}

}  // namespace ferry::cli
