// Loading an empty table with its indexes built afterwards
// (deferred_indexes.cpp).
#pragma once

namespace ferry::pg {

// Registers the transaction callback that refuses to commit a transaction
// whose deferred indexes were not built; called from _PG_init.
void register_deferred_index_callbacks();

}  // namespace ferry::pg
