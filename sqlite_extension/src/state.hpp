// Coordination state: ferry_init, consumers and purge, checkpoints, leases,
// sessions (docs/sqlite.md).
#pragma once

#include <vector>

#include "functions.hpp"

namespace ferry::sqlite {

void add_state_functions(std::vector<FunctionSpec>& specs);

}  // namespace ferry::sqlite
