// Capture: ferry_track, ferry_untrack, ferry_set_origin.
#pragma once

#include <string>
#include <vector>

#include "functions.hpp"
#include "table_shape.hpp"

namespace ferry::sqlite {

void add_tracking_functions(std::vector<FunctionSpec>& specs);

// Creates the capture triggers of every tracked table again (an upgrade
// that changed them), but for tables whose capture was already broken.
void refresh_sound_triggers(sqlite3* db);

// SQL for the JSON object of a whole row of `alias` as the change log holds
// it (what ferry_row_hash() takes): the incremental sync's conflict check
// hashes a target row with it.
std::string row_json_sql(const TableShape& shape, const std::string& alias);

}  // namespace ferry::sqlite
