// Progress bar and progress lines (see progress.hpp).
#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "output.hpp"

namespace ferry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kBarInterval = std::chrono::milliseconds(200);
constexpr auto kLineInterval = std::chrono::seconds(10);

std::string duration_text(double seconds) {
    auto s = static_cast<uint64_t>(seconds + 0.5);
    return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                     : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
    if (bytes >= 1000 * 1000 * 1000)
        return fmt::format("{:.2f} GB", bytes / 1e9);
    if (bytes >= 1000 * 1000)
        return fmt::format("{:.1f} MB", bytes / 1e6);
    return fmt::format("{:.0f} kB", bytes / 1e3);
}

Progress::Progress(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
    clear_bar();
}

void Progress::step(int phase, int phases, const std::string& phase_name, const std::string& what) {
    clear_bar();
    label_ = fmt::format("[{}/{} {}] {}", phase, phases, phase_name, what);
    started_ = last_drawn_ = Clock::now();
    rows_ = bytes_ = 0;
    rows_total_.reset();
    if (!quiet_)
        log_line(label_);
}

void Progress::update(uint64_t rows, std::optional<uint64_t> rows_total, uint64_t bytes) {
    rows_ = rows;
    rows_total_ = rows_total;
    bytes_ = bytes;
    auto now = Clock::now();
    if (quiet_ || now - last_drawn_ < (terminal_ ? kBarInterval : kLineInterval))
        return;
    last_drawn_ = now;
    draw(false);
}

void Progress::note(const std::string& message) {
    clear_bar();
    if (!quiet_)
        log_line(message);
}

void Progress::draw(bool) {
    double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    double rate = seconds > 0 ? rows_ / seconds : 0;
    std::string figures = fmt::format("{} rows", rows_);
    std::string bar;
    if (rows_total_ && *rows_total_ > 0) {
        double done = std::min(1.0, static_cast<double>(rows_) / *rows_total_);
        figures = fmt::format("{}/{} rows", rows_, *rows_total_);
        if (rate > 0 && rows_ < *rows_total_)
            figures += ", ETA " + duration_text((*rows_total_ - rows_) / rate);
        constexpr int kWidth = 24;
        int filled = static_cast<int>(done * kWidth);
        bar = fmt::format(" [{}{}] {:3.0f}%", std::string(filled, '#'),
                          std::string(kWidth - filled, '.'), done * 100);
    }
    std::string text =
        fmt::format("{}{}  {}, {}, {:.0f} rows/s", label_, bar, figures, human_bytes(bytes_), rate);
    if (terminal_) {
        std::fputs(("\r\033[K" + text).c_str(), stderr);
        std::fflush(stderr);
        bar_shown_ = true;
    } else {
        log_line(text);
    }
}

void Progress::clear_bar() {
    if (bar_shown_) {
        std::fputs("\r\033[K", stderr);
        bar_shown_ = false;
    }
}

}  // namespace ferry::cli
