// What writing tables did, as full-sync, pull, push and restore report it:
// one entry per table, printed as a table or as JSON (docs/cli.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sync_peers.hpp"

namespace ferry::cli {

struct TableReport {
    std::string name;
    std::string method;  // dump or diff; empty for a restore
    TableCounts counts;
    bool skipped = false;  // written by the interrupted run this one resumes
    std::optional<bool> verified;
};

// A table's progress line once written: "t: 10 rows read, 2 inserted, 1
// updated, 7 unchanged" and ", 3 deleted", ", 3 only on the target (kept)"
// or, with delete_later, ", 3 to delete after the tables referencing it".
std::string progress_line(const std::string& table, const TableCounts& counts, bool delete_missing,
                          bool delete_later);

// The "tables" array of the JSON report.
nlohmann::json reports_json(const std::vector<TableReport>& reports);

// Prints the counts as an aligned table whose row-count column is headed
// `rows_heading` ("SOURCE ROWS", "FILE ROWS"); returns the tables that
// verify found different.
std::vector<std::string> print_reports(const std::vector<TableReport>& reports,
                                       const std::string& rows_heading);

}  // namespace ferry::cli
