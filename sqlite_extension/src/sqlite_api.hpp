// The SQLite API as a loadable extension sees it. Built as the loadable
// module, every sqlite3_* call goes through the routine table the host hands
// to sqlite3_ferry_init (SQLITE_EXTENSION_INIT1 lives in extension.cpp). Built
// with SQLITE_CORE (the CLI and the unit tests link the extension in), the
// same calls go straight to libsqlite3.
#pragma once

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
