// Registering ferry in a SQLite connection: by sqlite3_load_extension (the
// loadable module's sqlite3_ferry_init) or, where the extension is linked in
// (the ferry CLI, the unit tests), by calling register_ferry directly.
#pragma once

#include "sqlite_api.hpp"

namespace ferry::sqlite {

// Registers every ferry_ function and table-valued function in db. Returns
// an SQLite result code; on failure *error (if given) gets a message
// allocated with sqlite3_malloc.
int register_ferry(sqlite3* db, char** error);

}  // namespace ferry::sqlite
