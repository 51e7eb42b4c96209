// The `where` argument of ferry.table_hash() and friends: a boolean
// expression over one table's columns and nothing else. It is parsed as a
// single expression and analyzed against that table alone, so it can never
// carry a second statement, a subquery, another table, an aggregate, or a
// volatile function call (which could write, or wait); see docs/hashing.md.
#pragma once

#include "pg_headers.hpp"

namespace ferry::pg {

class RowFilter {
  public:
    // No filter when where is null or blank. Throws SqlError when where is
    // not such an expression. rel must stay open while the filter is used.
    RowFilter(Relation rel, const char* where);

    // Whether the row in slot (a tuple of rel) passes the filter.
    bool matches(TupleTableSlot* slot);

    // Frees the executor state; call once done.
    void finish();

  private:
    EState* estate_ = nullptr;
    ExprState* qual_ = nullptr;
    ExprContext* econtext_ = nullptr;
};

}  // namespace ferry::pg
