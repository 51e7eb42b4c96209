// Poison header: core/ is engine-independent and must not include <libpq-fe.h>.
// The core library's include path puts this directory first, so the
// inclusion fails to compile instead of silently coupling core to a database.
#error "core/ must not include database headers (<libpq-fe.h>); put engine code in an adapter"
