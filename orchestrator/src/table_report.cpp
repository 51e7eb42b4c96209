// Per-table reports of full-sync and restore (see table_report.hpp).
#include "table_report.hpp"

#include <fmt/format.h>

#include "output.hpp"

namespace ferry::cli {

std::string progress_line(const std::string& table, const TableCounts& c, bool delete_missing,
                          bool delete_later) {
    std::string deletions =
        !delete_missing ? fmt::format(", {} only on the target (kept)", c.only_on_target)
        : delete_later  ? fmt::format(", {} to delete after the tables referencing it", c.deleted)
                        : fmt::format(", {} deleted", c.deleted);
    return fmt::format("{}: {} rows read, {} inserted, {} updated, {} unchanged{}", table,
                       c.source_rows, c.inserted, c.updated, c.unchanged(), deletions);
}

nlohmann::json reports_json(const std::vector<TableReport>& reports) {
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& r : reports) {
        nlohmann::json entry = {{"table", r.name},
                                {"skipped", r.skipped},
                                {"source_rows", r.counts.source_rows},
                                {"inserted", r.counts.inserted},
                                {"updated", r.counts.updated},
                                {"unchanged", r.counts.unchanged()},
                                {"deleted", r.counts.deleted},
                                {"only_on_target", r.counts.only_on_target}};
        if (!r.method.empty() || r.skipped)
            entry["method"] = r.skipped ? nlohmann::json() : nlohmann::json(r.method);
        entry["verified"] = r.verified ? nlohmann::json(*r.verified) : nlohmann::json();
        tables.push_back(std::move(entry));
    }
    return tables;
}

std::vector<std::string> print_reports(const std::vector<TableReport>& reports,
                                       const std::string& rows_heading) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> differing;
    for (const auto& r : reports) {
        const auto& c = r.counts;
        std::string verify = !r.verified ? "" : *r.verified ? "equal" : "DIFFERS";
        if (r.verified && !*r.verified)
            differing.push_back(r.name);
        if (r.skipped)
            rows.push_back({r.name, "(done before)", "-", "-", "-", "-", "-", verify});
        else
            rows.push_back({r.name, std::to_string(c.source_rows), std::to_string(c.inserted),
                            std::to_string(c.updated), std::to_string(c.unchanged()),
                            std::to_string(c.deleted), std::to_string(c.only_on_target), verify});
    }
    print_table({"TABLE", rows_heading, "INSERTED", "UPDATED", "UNCHANGED", "DELETED",
                 "ONLY ON TARGET", "VERIFY"},
                rows);
    return differing;
}

}  // namespace ferry::cli
