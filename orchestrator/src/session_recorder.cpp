// ferry.sessions bookkeeping (see session_recorder.hpp).
#include "session_recorder.hpp"

#include <fmt/format.h>

#include "ferry/error.hpp"
#include "output.hpp"

namespace ferry::cli {
namespace {

const char* const kCancelledMessage = "cancelled by request";

std::optional<std::string> optional_number(std::optional<uint64_t> value) {
    return value ? std::optional<std::string>(std::to_string(*value)) : std::nullopt;
}

}  // namespace

SessionRecorder::SessionRecorder(const std::string& peer, const SessionInfo& info) {
    db_.emplace(connect_postgres_peer(peer));
    auto allowed = db_->query(
        "SELECT has_function_privilege('ferry.session_start(text,text,text,text,text)', "
        "'EXECUTE') AND has_function_privilege("
        "'ferry.session_progress(bigint,text,bigint,bigint,bigint,bigint)', 'EXECUTE') "
        "AND has_function_privilege('ferry.session_finish(bigint,text,text)', 'EXECUTE')");
    if (allowed.text(0, 0) != "t") {
        log_line(
            fmt::format("not recorded in ferry.sessions of {}: this role may not call "
                        "ferry.session_start (see docs/permissions.md)",
                        db_->peer()));
        db_.reset();
        return;
    }
    try {
        auto started =
            db_->query("SELECT ferry.session_start($1, $2, $3, $4, $5)",
                       {info.kind, info.direction, info.source, info.target, info.method});
        id_ = std::stoll(started.text(0, 0));
    } catch (const Error& e) {
        // e.g. a hot standby, where nothing can be written
        log_line(fmt::format("not recorded in ferry.sessions of {}: {}", db_->peer(), e.what()));
        db_.reset();
    }
}

SessionRecorder::~SessionRecorder() {
    if (!id_)
        return;
    try {
        finish("failed", "interrupted");
    } catch (...) {
        // The connection may be what failed; the row stays 'running' and its
        // updated_at shows when it stopped.
    }
}

void SessionRecorder::progress(const std::string& phase, uint64_t rows_done,
                               std::optional<uint64_t> rows_total, uint64_t bytes_done) {
    if (!id_)
        return;
    auto cancel = db_->query("SELECT ferry.session_progress($1, $2, $3, $4, $5)",
                             {std::to_string(*id_), phase, std::to_string(rows_done),
                              optional_number(rows_total), std::to_string(bytes_done)});
    if (cancel.rows() > 0 && cancel.text(0, 0) == "t")
        throw Error(ErrorKind::conflict, kCancelledMessage,
                    fmt::format("Session {} was cancelled with ferry.cancel().", *id_));
}

void SessionRecorder::finish(const std::string& status, const std::optional<std::string>& error) {
    if (!id_)
        return;
    int64_t id = *id_;
    id_.reset();
    db_->execute("SELECT ferry.session_finish($1, $2, $3)", {std::to_string(id), status, error});
}

void SessionRecorder::ended_by(const Error& error) noexcept {
    try {
        if (error.kind() == ErrorKind::conflict && error.what() == std::string(kCancelledMessage))
            finish("cancelled", kCancelledMessage);
        else
            finish("failed", std::string(error.what()));
    } catch (...) {
        // The session's connection may be what failed; see ~SessionRecorder.
    }
}

}  // namespace ferry::cli
