// Helpers shared by the fuzz harnesses (fuzz_sql_lexer.cpp, fuzz_upsert.cpp):
// how an input is cut into chunks for streaming, how a broken invariant is
// reported, and how an outcome (statements, then an error or none) is
// recorded so that two runs can be compared.
//
// The harnesses are built two ways (docs/fuzzing.md): with libFuzzer under
// clang for `make fuzz`, and with replay_main.cpp under the normal build to
// replay the committed corpus as a ctest test. Nothing here may depend on
// which.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/error.hpp"

namespace ferry::fuzz {

// Reports a broken invariant and aborts, which libFuzzer (and the replay
// test) treats as a crash and saves the input for.
[[noreturn]] inline void invariant_failed(const char* invariant, std::string_view detail = {}) {
    std::fprintf(stderr, "\nfuzz invariant violated: %s\n", invariant);
    if (!detail.empty())
        std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// Checks an invariant; `detail`, which says what broke it, is evaluated only
// then.
#define FUZZ_REQUIRE(condition, invariant, detail)                  \
    do {                                                            \
        if (!(condition))                                           \
            ::ferry::fuzz::invariant_failed((invariant), (detail)); \
    } while (false)

// What a run produced: the statements, in order, and how it ended.
struct Outcome {
    std::vector<std::string> statements;
    bool failed = false;
    ErrorKind kind = ErrorKind::internal;
    std::string message, detail, hint;

    void record(const Error& error) {
        failed = true;
        kind = error.kind();
        message = error.what();
        detail = error.detail();
        hint = error.hint();
    }

    bool operator==(const Outcome& other) const {
        return statements == other.statements && failed == other.failed &&
               (!failed || (kind == other.kind && message == other.message &&
                            detail == other.detail && hint == other.hint));
    }
    bool operator!=(const Outcome& other) const { return !(*this == other); }

    std::string describe() const {
        std::string out = std::to_string(statements.size()) + " statements, ";
        return out + (failed ? "error: " + message : std::string("no error"));
    }
};

// Runs `body`, recording a ferry::Error in `outcome`. Anything else escaping
// the core is a bug: the adapters map only ferry::Error to a message the
// user can act on.
template <typename Body>
void run_recording_errors(Outcome& outcome, Body&& body) {
    try {
        body();
    } catch (const Error& error) {
        outcome.record(error);
    } catch (const std::exception& other) {
        invariant_failed("only ferry::Error escapes the core", other.what());
    } catch (...) {
        invariant_failed("only ferry::Error escapes the core", "a non-std exception");
    }
}

// The input cut into pieces, some empty, most short, a few long. The cut
// points follow from the input's own bytes (an FNV-1a hash seeding a
// xorshift generator), so every mutation the fuzzer makes also moves them,
// and a saved input replays with the same cuts.
inline std::vector<std::string_view> cut_into_chunks(std::string_view text) {
    uint64_t state = 0xcbf29ce484222325u;
    for (char c : text)
        state = (state ^ static_cast<unsigned char>(c)) * 0x100000001b3u;
    state |= 1;  // xorshift must not start at 0
    auto next = [&state]() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    std::vector<std::string_view> chunks;
    for (size_t pos = 0; pos < text.size();) {
        uint64_t draw = next();
        size_t length;
        switch (draw % 8) {
            case 0:
                length = 0;
                break;
            case 1:
            case 2:
            case 3:
                length = 1;
                break;
            case 7:
                length = static_cast<size_t>((draw >> 8) % 512);
                break;
            default:
                length = static_cast<size_t>((draw >> 8) % 16);
                break;
        }
        length = std::min(length, text.size() - pos);
        chunks.push_back(text.substr(pos, length));
        pos += length;
    }
    return chunks;
}

}  // namespace ferry::fuzz
