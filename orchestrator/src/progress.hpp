// Progress of long work as users see it: a bar redrawn in place on a
// terminal, a timestamped line every few seconds in a log.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ferry::cli {

class Progress {
  public:
    // quiet: nothing at all (--quiet, --json keeps stderr for errors only
    // when asked). The bar is drawn only when stderr is a terminal.
    explicit Progress(bool quiet);
    ~Progress();

    // "[2/5 transfer] public.accounts": starts a step and logs it.
    void step(int phase, int phases, const std::string& phase_name, const std::string& what);
    // Rows and bytes of the step so far, against the expected total.
    void update(uint64_t rows, std::optional<uint64_t> rows_total, uint64_t bytes);
    // A line of its own, above the bar.
    void note(const std::string& message);

  private:
    void draw(bool final_line);
    void clear_bar();

    bool quiet_;
    bool terminal_;
    std::string label_;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_drawn_;
    uint64_t rows_ = 0;
    std::optional<uint64_t> rows_total_;
    uint64_t bytes_ = 0;
    bool bar_shown_ = false;
};

// "1.5 MB", "320 kB".
std::string human_bytes(uint64_t bytes);

}  // namespace ferry::cli
