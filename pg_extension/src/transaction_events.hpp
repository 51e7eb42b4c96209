// What the transaction callbacks of ferry's modules have in common.
#pragma once

#include "pg_headers.hpp"

namespace ferry::pg {

// Whether a transaction callback's event means the transaction is over
// (committed, aborted or prepared), so per-transaction state must go.
inline bool ends_transaction(XactEvent event) noexcept {
    return event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
           event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
           event == XACT_EVENT_PREPARE;
}

}  // namespace ferry::pg
