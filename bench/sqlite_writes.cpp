// Timed writes for bench/sqlite.sh: 100,000 single-row UPDATEs, each its own
// transaction, by a prepared statement, as an application makes them. Prints
// the seconds taken. Usage: sqlite_writes FILE updates N
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

int main(int argc, char** argv) {
    if (argc != 4 || std::strcmp(argv[2], "updates") != 0) {
        std::fprintf(stderr, "usage: %s FILE updates N\n", argv[0]);
        return 2;
    }
    sqlite3* raw = nullptr;
    if (sqlite3_open(argv[1], &raw) != SQLITE_OK)
        return 1;
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    sqlite3_exec(raw, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
    sqlite3_stmt* update = nullptr;
    sqlite3_prepare_v2(raw, "UPDATE accounts SET abalance = abalance + 1 WHERE aid = ?1", -1,
                       &update, nullptr);
    long count = std::atol(argv[3]);
    auto start = std::chrono::steady_clock::now();
    for (long i = 1; i <= count; i++) {
        // Keys spread over the million rows, the same sequence in every run.
        sqlite3_bind_int64(update, 1, (i * 7919) % 1000000 + 1);
        if (sqlite3_step(update) != SQLITE_DONE) {
            std::fprintf(stderr, "update failed: %s\n", sqlite3_errmsg(raw));
            return 1;
        }
        sqlite3_reset(update);
    }
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    sqlite3_finalize(update);
    std::printf("%.3f\n", took.count());
    return 0;
}
