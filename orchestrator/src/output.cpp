// Terminal, JSON and log output (see output.hpp).
#include "output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <syslog.h>

namespace ferry::cli {
namespace {

// Display width of UTF-8 text, counting code points (continuation bytes don't
// count), which is right for the names and numbers ferry prints.
size_t display_width(const std::string& text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string pad(const std::string& text, size_t width) {
    return text + std::string(width - std::min(width, display_width(text)), ' ');
}

bool g_syslog = false;

}  // namespace

std::string shorten(const std::string& text, size_t width) {
    if (display_width(text) <= width)
        return text;
    std::string out;
    size_t characters = 0;
    for (char c : text) {
        bool starts_character = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        if (starts_character && ++characters > width - std::min<size_t>(width, 3))
            break;
        out += c;
    }
    return out + "...";
}

std::string prometheus_label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"')
            out += '\\';
        out += c == '\n' ? std::string("\\n") : std::string(1, c);
    }
    return out;
}

void also_log_to_syslog() {
    if (!g_syslog)
        openlog("ferry", LOG_PID, LOG_USER);
    g_syslog = true;
}

int exit_code_for(const Error& error) {
    return error.kind() == ErrorKind::locked ? exit_locked : exit_error;
}

void print_table(const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& h : headers)
        widths.push_back(display_width(h));
    for (const auto& row : rows)
        for (size_t c = 0; c < row.size() && c < widths.size(); c++)
            widths[c] = std::max(widths[c], display_width(row[c]));
    auto print_row = [&](const std::vector<std::string>& cells) {
        std::string line;
        for (size_t c = 0; c < cells.size(); c++) {
            if (c)
                line += "  ";
            line += c + 1 == cells.size() ? cells[c] : pad(cells[c], widths[c]);
        }
        std::fputs((line + "\n").c_str(), stdout);
    };
    print_row(headers);
    for (const auto& row : rows)
        print_row(row);
}

void log_line(const std::string& message) {
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    std::fputs(fmt::format("{} ferry: {}\n", stamp, message).c_str(), stderr);
    if (g_syslog)
        syslog(LOG_INFO, "%s", message.c_str());
}

void report_error(const Error& error) {
    std::string text = fmt::format("ferry: error: {}\n", error.what());
    if (!error.detail().empty())
        text += fmt::format("DETAIL: {}\n", error.detail());
    if (!error.hint().empty())
        text += fmt::format("HINT: {}\n", error.hint());
    std::fputs(text.c_str(), stderr);
}

std::string error_line(const std::exception& error) {
    std::string line = error.what();
    if (const auto* ferry_error = dynamic_cast<const Error*>(&error)) {
        if (!ferry_error->detail().empty())
            line += " (" + ferry_error->detail() + ")";
        if (!ferry_error->hint().empty())
            line += " HINT: " + ferry_error->hint();
    }
    std::replace(line.begin(), line.end(), '\n', ' ');
    return valid_utf8(line);
}

std::string valid_utf8(const std::string& text) {
    std::string quoted =
        nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return nlohmann::json::parse(quoted).get<std::string>();
}

void print_json(const nlohmann::json& value) {
    fmt::print("{}\n", value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace ferry::cli
