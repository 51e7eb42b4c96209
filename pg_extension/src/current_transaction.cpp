// ferry.is_current_transaction(xid): whether a row version was written by
// the calling transaction (or one of its subtransactions). `ferry sync`
// guards its upserts with it: a row that appears under a key the batch
// found missing was inserted by another session meanwhile
// (docs/incremental-sync.md, "Local writers at the target"). SQL has no
// such test: pg_current_xact_id() names only the top-level transaction,
// and a row written inside a savepoint carries the subtransaction's id.
#include "pg_headers.hpp"

#include "boundary.hpp"

// ferry.is_current_transaction(xid) → boolean.
FERRY_FUNCTION(is_current_transaction) {
    TransactionId xid = DatumGetTransactionId(PG_GETARG_DATUM(0));
    return BoolGetDatum(TransactionIdIsCurrentTransactionId(xid));
}
