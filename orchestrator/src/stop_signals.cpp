#include "stop_signals.hpp"

#include <signal.h>

#include <atomic>
#include <mutex>

#include "ferry/error.hpp"
#include "session_recorder.hpp"

namespace ferry::cli {
namespace {

std::atomic<bool> g_stop_requested{false};
// Nested and concurrent commands (ferry run's jobs) share the outermost
// handlers: only it installs them, forgets old requests and restores.
std::mutex g_depth_mutex;
int g_depth = 0;

extern "C" void request_stop(int) {
    g_stop_requested = true;
}

}  // namespace

StopSignals::StopSignals() {
    std::lock_guard<std::mutex> guard(g_depth_mutex);
    if (g_depth++ > 0)
        return;
    g_stop_requested = false;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
}

StopSignals::~StopSignals() {
    std::lock_guard<std::mutex> guard(g_depth_mutex);
    if (--g_depth > 0)
        return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
}

bool stop_requested() {
    return g_stop_requested;
}

void stop_here_if_requested() {
    if (g_stop_requested)
        throw Error(ErrorKind::conflict, kCancelledMessage, "Stopped by a signal.");
}

}  // namespace ferry::cli
