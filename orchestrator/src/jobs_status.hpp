// `ferry status` without a peer: the jobs of the config file (see
// jobs_status.cpp).
#pragma once

namespace ferry::cli {

int print_jobs_status(bool json, bool prometheus);

}  // namespace ferry::cli
