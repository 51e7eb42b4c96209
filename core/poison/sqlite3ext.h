// Poison header: core/ is engine-independent and must not include <sqlite3ext.h>.
// The core library's include path puts this directory first, so the
// inclusion fails to compile instead of silently coupling core to a database.
#error "core/ must not include database headers (<sqlite3ext.h>); put engine code in an adapter"
