// Deletions that wait for the tables referencing theirs (later_deletes.hpp).
#include "later_deletes.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ferry::cli {

LaterDeletes::Waiting LaterDeletes::wait_for(const SyncTable& table, size_t report) {
    if (!delete_missing_)
        return {};
    SyncTarget::ForeignKeys keys = target_.foreign_keys(table);
    Waiting waiting{keys.referenced, keys.referenced || keys.references_other};
    if (waiting.deletes) {
        deleting_.push_back(table);
        reports_.push_back(report);
    }
    if (waiting.done)
        done_later_.push_back(table.target.name);
    return waiting;
}

void LaterDeletes::plan_write(const SyncTable& table, Waiting waiting, nlohmann::json& position,
                              WriteOptions& write) {
    write.checkpoint = position.dump();
    if (!waiting.done)
        position["tables_done"].push_back(table.target.name);
    write.checkpoint_done = position.dump();
    write.delete_later = waiting.deletes;
}

void LaterDeletes::run(nlohmann::json& position, WriteOptions options,
                       std::vector<TableReport>& reports,
                       const std::function<void(const std::string&)>& note) {
    if (done_later_.empty() || options.dry_run)
        return;
    std::reverse(deleting_.begin(), deleting_.end());  // children first
    std::reverse(reports_.begin(), reports_.end());
    for (const auto& name : done_later_)
        position["tables_done"].push_back(name);
    options.checkpoint_done = position.dump();
    std::vector<uint64_t> deleted = target_.delete_noted(deleting_, options);
    for (size_t i = 0; i < deleted.size(); i++) {
        reports[reports_[i]].counts.deleted = deleted[i];
        note(fmt::format("{}: {} deleted", deleting_[i].target.name, deleted[i]));
    }
    deleting_.clear();
    reports_.clear();
    done_later_.clear();
}

}  // namespace ferry::cli
