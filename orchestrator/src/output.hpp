// What users see: aligned tables on a terminal, JSON for scripts, and
// timestamped log lines on stderr.
#pragma once

#include <nlohmann/json.hpp>

#include <exception>
#include <string>
#include <vector>

#include "ferry/error.hpp"

namespace ferry::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
    exit_ok = 0,
    exit_error = 1,
    exit_usage = 2,
    exit_differences = 3,
    exit_locked = 4,
};

int exit_code_for(const Error& error);

// Prints rows under headers, columns padded to their widest cell.
void print_table(const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows);

// `text` in at most `width` characters, "..." marking a cut; never cut
// inside a UTF-8 character.
std::string shorten(const std::string& text, size_t width);

// A Prometheus label value: backslash, double quote and line feed escaped.
std::string prometheus_label(const std::string& value);

// "2026-11-22T10:00:00Z ferry: message" on stderr (and to syslog, once
// also_log_to_syslog() was called: --syslog).
void log_line(const std::string& message);
void also_log_to_syslog();

// Reports an error on stderr: message, then DETAIL and HINT lines.
void report_error(const Error& error);

// An error on one line, with its detail and hint, as valid UTF-8: for log
// lines, --json reports and the state tables of `ferry run`.
std::string error_line(const std::exception& error);

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD
// (a file name or a message in another encoding): JSON and a PostgreSQL
// database take only UTF-8.
std::string valid_utf8(const std::string& text);

// Prints `value` as one line of JSON on stdout (--json), invalid UTF-8
// replaced as by valid_utf8().
void print_json(const nlohmann::json& value);

}  // namespace ferry::cli
