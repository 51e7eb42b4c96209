// Poison header: core/ is engine-independent and must not include <postgres_ext.h>.
// The core library's include path puts this directory first, so the
// inclusion fails to compile instead of silently coupling core to a database.
#error "core/ must not include database headers (<postgres_ext.h>); put engine code in an adapter"
