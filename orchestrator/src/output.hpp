// What users see: aligned tables on a terminal, JSON for scripts, and
// timestamped log lines on stderr.
#pragma once

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

}  // namespace ferry::cli
