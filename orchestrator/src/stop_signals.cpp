#include "stop_signals.hpp"

#include <signal.h>

#include <atomic>

namespace ferry::cli {
namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void request_stop(int) {
    g_stop_requested = true;
}

}  // namespace

StopSignals::StopSignals() {
    g_stop_requested = false;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
}

StopSignals::~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
}

bool stop_requested() {
    return g_stop_requested;
}

}  // namespace ferry::cli
