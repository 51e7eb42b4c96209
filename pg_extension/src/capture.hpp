// Capture triggers (capture.cpp) and their transaction callbacks.
#pragma once

namespace ferry::pg {

// Registers the transaction callbacks that reset per-transaction capture
// state; called from _PG_init.
void register_capture_callbacks();

}  // namespace ferry::pg
