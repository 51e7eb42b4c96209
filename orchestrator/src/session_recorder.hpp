// A row in a peer's ferry.sessions for one run of a command (SPEC 2.5): kind,
// peers, phase, progress, and how it ended. It has its own connection, so
// that its updates commit while the work's own transactions stay open, and
// DBAs watch them live in psql.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ferry/error.hpp"

namespace ferry::cli {

// Where a peer keeps its sessions: ferry.sessions in PostgreSQL, ferry_sessions
// in SQLite, written through the peer's session functions.
class SessionStore;

// The message of the Error that stops work on a cancel request (ferry cancel,
// Ctrl-C, SIGTERM); ended_by() records such a session as cancelled.
inline constexpr const char* kCancelledMessage = "cancelled by request";

struct SessionInfo {
    std::string kind;  // full, incremental, diff
    std::optional<std::string> direction;
    std::string source;  // redacted peers
    std::string target;
    std::string method;
};

class SessionRecorder {
  public:
    // Records nothing, and logs once why, when the connecting role may not
    // call ferry.session_start in that peer or the session cannot be written
    // (a standby): watching is a convenience, never a reason to refuse a
    // read-only command.
    SessionRecorder(const std::string& peer, const SessionInfo& info);
    // A session still running here was interrupted by an exception: it is
    // finished as failed.
    ~SessionRecorder();
    SessionRecorder(const SessionRecorder&) = delete;
    SessionRecorder& operator=(const SessionRecorder&) = delete;

    // Throws Error(conflict) when a DBA asked to cancel (ferry cancel ID).
    void progress(const std::string& phase, uint64_t rows_done, std::optional<uint64_t> rows_total,
                  uint64_t bytes_done);
    void succeeded() { finish("succeeded", {}); }
    // Records how the work ended on `error`: cancelled or failed. Never
    // throws, so that the error itself is what the caller reports.
    void ended_by(const Error& error) noexcept;

    std::optional<int64_t> id() const { return id_; }

  private:
    void finish(const std::string& status, const std::optional<std::string>& error);

    std::unique_ptr<SessionStore> store_;
    std::optional<int64_t> id_;
};

// A run that planning refused before any work (tables or columns that do not
// match, types the target refuses) is recorded in the target's sessions as
// failed with its error and detail, so that `ferry history --status failed` shows it.
// Skips being locked out (exit 4, not a failure) and unreachable peers.
// Never throws.
void record_refused_run(const std::string& peer, const SessionInfo& info,
                        const Error& error) noexcept;

}  // namespace ferry::cli
