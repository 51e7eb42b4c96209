// pg_dump as the backup phase of a full sync from PostgreSQL: one process per
// table, on the snapshot the sync exported, its output read as a stream.
// Only the table's COPY block is taken from the output, as data; nothing of
// the dump is ever run as SQL.
#pragma once

#include <functional>
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

class PgDumpReader {
  public:
    // Receives complete COPY text lines, each ending in '\n', in pieces of
    // about 1 MiB; `rows` is the number of lines in the piece.
    using OnLines = std::function<void(std::string_view lines, uint64_t rows)>;
    using OnColumns = std::function<void(const DumpedTable&)>;

    // `conninfo` as the user gave it; `in_effect` the options of a live
    // connection made with it (PgConnection::options_in_effect()), used
    // when the connection string holds an SSL key's passphrase. Fails,
    // before anything is dumped, on a passphrase pg_dump cannot be given.
    PgDumpReader(std::string pg_dump, const std::string& conninfo,
                 const std::vector<std::pair<std::string, std::string>>& in_effect,
                 std::string peer_for_messages);

    // Dumps the data of one table as of `snapshot`: `patterns` are the
    // table's and, for a partitioned table, its partitions' names as quoted
    // pg_dump patterns (a quoted pattern matches exactly that name); schema
    // and table name it in messages. Calls on_columns once, before the first
    // lines; returns false when pg_dump wrote no data block at all (a
    // partitioned table without partitions). Throws Error with pg_dump's own
    // message when it fails.
    bool dump_table(const std::string& snapshot, const std::vector<std::string>& patterns,
                    const std::string& schema, const std::string& table,
                    const OnColumns& on_columns, const OnLines& on_lines);

  private:
    std::string pg_dump_;
    std::string dbname_;  // pg_dump's --dbname: no password, no passphrase
    std::optional<std::string> password_;
    std::optional<std::string> ssl_passphrase_;
    std::string peer_;
    std::vector<std::string> secrets_;  // of conninfo, masked in pg_dump's messages
};

}  // namespace ferry::cli
