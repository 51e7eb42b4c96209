// ferry_to_upsert: a dump's INSERTs as idempotent upserts for this database.
#pragma once

#include <vector>

#include "functions.hpp"

namespace ferry::sqlite {

void add_upsert_functions(std::vector<FunctionSpec>& specs);

}  // namespace ferry::sqlite
