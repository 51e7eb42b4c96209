// Capture: ferry_track, ferry_untrack, ferry_set_origin.
#pragma once

#include <vector>

#include "functions.hpp"

namespace ferry::sqlite {

void add_tracking_functions(std::vector<FunctionSpec>& specs);

}  // namespace ferry::sqlite
