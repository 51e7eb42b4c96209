// Module entry point: PG_MODULE_MAGIC, settings and cache callbacks.
#include "pg_headers.hpp"

#include "capture.hpp"
#include "change_log.hpp"
#include "deferred_indexes.hpp"
#include "table_info.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

// Runs once per backend when the library is loaded. Everything here only
// registers settings and callbacks, which cannot throw C++ exceptions.
void _PG_init(void) {
    ferry::pg::define_change_log_settings();
    ferry::pg::register_table_info_invalidation();
    ferry::pg::register_capture_callbacks();
    ferry::pg::register_deferred_index_callbacks();
    MarkGUCPrefixReserved("ferry");
}
