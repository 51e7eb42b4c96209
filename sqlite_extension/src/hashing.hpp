// Quick hashing: ferry_row_hash, ferry_table_hash, ferry_bucket_hashes,
// ferry_bucket_rows — the same digests as the PostgreSQL extension for the
// same logical rows (docs/hashing.md).
#pragma once

#include <vector>

#include "functions.hpp"
#include "table_function.hpp"

namespace ferry::sqlite {

void add_hashing_functions(std::vector<FunctionSpec>& specs);
void add_hashing_table_functions(std::vector<TableFunctionSpec>& specs);

}  // namespace ferry::sqlite
