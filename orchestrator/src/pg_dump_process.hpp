// pg_dump as the backup phase of a full sync from PostgreSQL, on the snapshot
// the sync exported, its output read as a stream: one process for a large or
// partitioned table, one for a group of small ones. Only the tables' COPY
// blocks are taken from the output, as data; nothing of the dump is ever run
// as SQL.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::cli {

// The pg_dump to run for a server of major version `server_major`: the
// FERRY_PG_DUMP environment variable if set, else Debian's
// /usr/lib/postgresql/N/bin/pg_dump for the newest N >= server_major, else
// pg_dump on PATH. Fails, naming the package to install, when there is none
// or it is older than the server.
std::string find_pg_dump(int server_major);

struct DumpedTable {
    std::vector<std::string> columns;  // in the order of each line's fields
};

// A table to dump: `patterns` are its and, for a partitioned table, its
// partitions' names as quoted pg_dump patterns (a quoted pattern matches
// exactly that name); schema and table name it as pg_dump's COPY headers do.
struct DumpRequest {
    std::string schema;
    std::string table;
    std::vector<std::string> patterns;
};

class PgDumpProcess;

class PgDumpReader {
  public:
    // Receives complete COPY text lines, each ending in '\n', in pieces of
    // up to about 1 MiB; `rows` is the number of lines in the piece.
    using OnLines = std::function<void(std::string_view lines, uint64_t rows)>;
    using OnColumns = std::function<void(const DumpedTable&)>;

    // `conninfo` as the user gave it; `in_effect` the options of a live
    // connection made with it (PgConnection::options_in_effect()), used
    // when the connection string holds an SSL key's passphrase. Fails,
    // before anything is dumped, on a passphrase pg_dump cannot be given.
    PgDumpReader(std::string pg_dump, const std::string& conninfo,
                 const std::vector<std::pair<std::string, std::string>>& in_effect,
                 std::string peer_for_messages);

  private:
    friend class PgDump;
    std::unique_ptr<PgDumpProcess> start(const std::string& snapshot,
                                         const std::vector<DumpRequest>& tables) const;

    std::string pg_dump_;
    std::string dbname_;  // pg_dump's --dbname: no password, no passphrase
    std::optional<std::string> password_;
    std::optional<std::string> ssl_passphrase_;
    std::string peer_;
    std::vector<std::string> secrets_;  // of conninfo, masked in pg_dump's messages
};

// One pg_dump, as of a snapshot: of one table (a partitioned one comes as a
// block per partition, all loaded via the root), or of a group of small
// unpartitioned tables, whose start (connecting, importing the snapshot,
// reading the catalogs: ~40 ms) would otherwise be paid per table. pg_dump
// writes a group's tables in an order of its own, so a table's block that
// comes before it is asked for is held in memory, up to `hold_limit` bytes;
// past that the group gives up and its remaining tables are dumped one by
// one. pg_dump starts at start() or the first read, and is stopped, if
// still running, when this is destroyed.
class PgDump {
  public:
    enum class Outcome {
        read,       // the table's rows went to on_lines
        no_data,    // no block for it (a partitioned table without partitions)
        abandoned,  // held blocks would exceed the limit: dump it alone
    };

    PgDump(const PgDumpReader& reader, std::string snapshot, std::vector<DumpRequest> tables,
           size_t hold_limit = 0);
    ~PgDump();
    PgDump(const PgDump&) = delete;
    PgDump& operator=(const PgDump&) = delete;

    // Starts pg_dump ahead of the first read, so that its start overlaps
    // other work.
    void start();
    // One of the tables, not read yet.
    bool has_unread(const std::string& schema, const std::string& table) const;
    // Reads one of the tables, each at most once. Calls on_columns once,
    // before the first lines. Throws Error with pg_dump's own message when
    // it fails.
    Outcome read(const std::string& schema, const std::string& table,
                 const PgDumpReader::OnColumns& on_columns, const PgDumpReader::OnLines& on_lines);

  private:
    struct Held {
        DumpedTable columns;
        std::vector<std::pair<std::string, uint64_t>> pieces;  // as read: lines, rows
    };
    std::optional<size_t> index_of(const std::string& schema, const std::string& table) const;
    Outcome read_whole(const PgDumpReader::OnColumns& on_columns,
                       const PgDumpReader::OnLines& on_lines);
    Outcome serve_held(std::map<size_t, Held>::iterator held,
                       const PgDumpReader::OnColumns& on_columns,
                       const PgDumpReader::OnLines& on_lines);
    void finish_when_all_out();

    const PgDumpReader& reader_;
    std::string snapshot_;
    std::vector<DumpRequest> tables_;
    size_t hold_limit_;
    std::unique_ptr<PgDumpProcess> process_;
    std::vector<bool> read_;
    std::map<size_t, Held> held_;  // blocks that came before they were asked for
    size_t held_bytes_ = 0;
    bool abandoned_ = false;
    bool ended_ = false;  // pg_dump's output was read to its end
};

}  // namespace ferry::cli
