// The one error type of ferry's core. Every adapter maps ErrorKind to its own
// vocabulary: a SQLSTATE in the PostgreSQL extension, a result code in the
// SQLite extension, an exit code in the CLI. Message, detail and hint follow
// PostgreSQL's style: lower-case message without a trailing period, a detail
// that says what was found, a hint that says what to do.
#pragma once

#include <stdexcept>
#include <string>

namespace ferry {

enum class ErrorKind {
    invalid_input,  // the caller passed something malformed
    not_found,      // a named object does not exist
    unsupported,    // valid, but ferry cannot handle it (e.g. no primary key)
    conflict,       // state prevents the operation (e.g. object already in use)
    locked,         // a lease or lock is held by someone else
    connection,     // a peer could not be reached
    io,             // reading or writing a file or stream failed
    internal,       // a bug: "cannot happen"
};

class Error : public std::runtime_error {
  public:
    Error(ErrorKind kind, std::string message, std::string detail = {}, std::string hint = {})
        : std::runtime_error(std::move(message)),
          kind_(kind),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }

  private:
    ErrorKind kind_;
    std::string detail_;
    std::string hint_;
};

}  // namespace ferry
