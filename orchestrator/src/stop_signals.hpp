// Ctrl-C and SIGTERM ask a long command to stop at its next batch boundary
// (never in the middle of a transaction); the handlers are restored when
// the command ends. Nested, only the outermost one acts.
#pragma once

#include <csignal>

namespace ferry::cli {

class StopSignals {
  public:
    StopSignals();  // also forgets an earlier stop request
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

  private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

// True once a signal asked to stop.
bool stop_requested();

// At a batch boundary: throws the "cancelled by request" error once a
// signal asked to stop.
void stop_here_if_requested();

}  // namespace ferry::cli
