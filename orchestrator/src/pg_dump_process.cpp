// pg_dump as a child process (see pg_dump_process.hpp).
#include "pg_dump_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <libpq-fe.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <regex>

#include "ferry/conninfo.hpp"
#include "ferry/copy_text.hpp"
#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"
#include "ferry/sql_lexer.hpp"
#include "pg_connection.hpp"

namespace bp = boost::process;

namespace ferry::cli {
namespace {

std::string package_hint(int server_major) {
    return fmt::format(
        "Install the client of the server's version or newer: apt-get install "
        "postgresql-client-{}",
        server_major);
}

// "pg_dump (PostgreSQL) 15.18 (Debian ...)" -> 15; 0 when unreadable.
int pg_dump_major(const std::string& pg_dump) {
    bp::ipstream out;
    bp::child child(pg_dump, "--version", bp::std_out > out, bp::std_err > bp::null);
    std::string line;
    std::getline(out, line);
    child.wait();
    std::smatch match;
    if (child.exit_code() != 0 || !std::regex_search(line, match, std::regex(R"((\d+)(\.\d+)?)")))
        return 0;
    return std::stoi(match[1]);
}

std::optional<std::string> option_value(const ConnectionOptions& options,
                                        std::string_view keyword) {
    for (const auto& [key, value] : options)
        if (key == keyword)
            return value;
    return std::nullopt;
}

std::string quoted_option(const std::string& keyword, const std::string& value) {
    std::string quoted;
    for (char c : value) {
        if (c == '\'' || c == '\\')
            quoted += '\\';
        quoted += c;
    }
    return fmt::format("{}='{}'", keyword, quoted);
}

// The options as a connection string, leaving out `skipped` keywords.
std::string conninfo_without(const ConnectionOptions& options,
                             std::initializer_list<std::string_view> skipped) {
    std::string conninfo;
    for (const auto& [key, value] : options) {
        if (std::find(skipped.begin(), skipped.end(), key) != skipped.end())
            continue;
        conninfo += (conninfo.empty() ? "" : " ") + quoted_option(key, value);
    }
    return conninfo;
}

// The name of the service section that carries an SSL key's passphrase.
constexpr std::string_view kPassphraseService = "ferry_pg_dump";

// libpq reads a service file line by line into a 256-byte buffer and drops
// the line's trailing white space.
void require_service_file_value(const std::string& passphrase) {
    bool fits =
        passphrase.size() <= 200 && passphrase.find_first_of("\r\n") == std::string::npos &&
        (passphrase.empty() || !std::isspace(static_cast<unsigned char>(passphrase.back())));
    if (!fits)
        throw Error(ErrorKind::invalid_input,
                    "the source's sslpassword cannot be handed to pg_dump",
                    "pg_dump gets it through a service file, which cannot hold a value of more "
                    "than 200 characters, a line break or trailing white space.",
                    "Put sslpassword in a service file of your own and name it with service=NAME.");
}

// A file that exists only in memory, for a child process to read once by
// its /dev/fd path; nothing of it ever reaches a disk.
class InMemoryFile {
  public:
    explicit InMemoryFile(const std::string& text) : fd_(::memfd_create("ferry", MFD_CLOEXEC)) {
        if (fd_ < 0)
            throw Error(ErrorKind::internal,
                        fmt::format("memfd_create failed: {}", std::strerror(errno)));
        for (size_t written = 0; written < text.size();) {
            ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
            if (n < 0 && errno != EINTR) {
                ::close(fd_);
                throw Error(ErrorKind::internal,
                            fmt::format("writing a memfd failed: {}", std::strerror(errno)));
            }
            written += static_cast<size_t>(std::max<ssize_t>(n, 0));
        }
    }
    ~InMemoryFile() { ::close(fd_); }
    InMemoryFile(const InMemoryFile&) = delete;
    InMemoryFile& operator=(const InMemoryFile&) = delete;

    int fd() const { return fd_; }
    std::string path() const { return fmt::format("/dev/fd/{}", fd_); }

  private:
    int fd_;
};

// Keeps one descriptor open across exec in the child only: it stays
// close-on-exec in ferry, so no other child inherits it.
struct KeepOpenInChild : bp::extend::handler {
    int fd = -1;
    template <class Executor>
    void on_exec_setup(Executor&) const {
        if (fd >= 0)
            ::fcntl(fd, F_SETFD, 0);
    }
};

constexpr size_t kBuffer = 1 << 20;  // of pg_dump's output read at once

// What a COPY header of pg_dump's output names: "COPY schema.table (a, "B")
// FROM stdin;" gives {schema, table} and the columns.
struct CopyHeader {
    std::vector<std::string> name;
    DumpedTable table;
};

CopyHeader parse_copy_header(std::string_view line) {
    sql::Lexer lexer(line, sql::Dialect::postgresql);
    auto malformed = [&] {
        return Error(ErrorKind::internal, "unexpected COPY header in pg_dump's output",
                     std::string(line.substr(0, 200)));
    };
    auto is_identifier = [](const sql::Token& token) {
        return token.kind == sql::TokenKind::word ||
               token.kind == sql::TokenKind::quoted_identifier;
    };
    CopyHeader header;
    sql::Token token = lexer.next();  // COPY
    do {
        token = lexer.next();
        if (!is_identifier(token))
            throw malformed();
        header.name.push_back(sql::identifier_value(token, sql::Dialect::postgresql));
        token = lexer.next();
    } while (token.is("."));
    while (token.is("(") || token.is(",")) {
        token = lexer.next();
        if (!is_identifier(token))
            throw malformed();
        header.table.columns.push_back(sql::identifier_value(token, sql::Dialect::postgresql));
        token = lexer.next();
    }
    if (!token.is(")") || header.table.columns.empty())
        throw malformed();
    return header;
}

}  // namespace

// A running pg_dump and the COPY blocks of its output, read as a stream.
// Stopped, if still running, when destroyed (an error on the target, a
// cancel), so that no pg_dump outlives its sync.
class PgDumpProcess {
  public:
    struct Block {
        size_t table;  // index into the tables asked for
        DumpedTable columns;
    };
    // Receives a block's complete lines; false stops reading (the process
    // is then of no further use).
    using OnPiece = std::function<bool(std::string_view lines, uint64_t rows)>;

    PgDumpProcess(const std::string& pg_dump, const std::vector<std::string>& args,
                  bp::environment env, std::optional<std::string> service_text,
                  std::vector<DumpRequest> tables, std::string peer,
                  std::vector<std::string> secrets)
        : tables_(std::move(tables)), peer_(std::move(peer)), secrets_(std::move(secrets)) {
        KeepOpenInChild keep_service_file;
        if (service_text) {
            service_file_.emplace(*service_text);
            env["PGSERVICEFILE"] = service_file_->path();
            keep_service_file.fd = service_file_->fd();
        }
        child_ = bp::child(pg_dump, bp::args(args), bp::std_out > out_, bp::std_err > err_,
                           bp::std_in < bp::null, env, keep_service_file);
        // One read a megabyte rather than 64 KiB: fewer wake-ups of both
        // sides. A smaller pipe (the system's limit) only costs reads.
        ::fcntl(out_.native_source(), F_SETPIPE_SZ, static_cast<int>(kBuffer));
        errors_ = std::async(std::launch::async, [this] {
            return std::string(std::istreambuf_iterator<char>(err_), {});
        });
    }

    ~PgDumpProcess() {
        std::error_code ignored;
        if (child_.running(ignored))
            child_.terminate(ignored);
        // A stopped child has closed its stderr: the reading thread ends.
        if (errors_.valid())
            errors_.wait();
    }
    PgDumpProcess(const PgDumpProcess&) = delete;
    PgDumpProcess& operator=(const PgDumpProcess&) = delete;

    // Reads on to the next block's COPY header; nullopt once the output has
    // ended and pg_dump exited well (throws Error with its messages if not).
    std::optional<Block> next_block() {
        while (!finished_) {
            const char* newline = find_newline();
            if (!newline) {
                if (!fill())
                    finish();
                continue;
            }
            std::string_view line(buffer_.data() + start_,
                                  static_cast<size_t>(newline - buffer_.data()) - start_);
            start_ += line.size() + 1;
            if (line.rfind("COPY ", 0) == 0) {
                CopyHeader header = parse_copy_header(line);
                current_ = table_named(header.name);
                return Block{current_, std::move(header.table)};
            }
        }
        return std::nullopt;
    }

    // Hands the lines of the block just begun to on_piece, up to its end
    // marker. Returns false if on_piece stopped it.
    bool read_block(const OnPiece& on_piece) {
        while (true) {
            size_t data_start = start_;
            uint64_t rows = 0;
            while (const char* newline = find_newline()) {
                std::string_view line(buffer_.data() + start_,
                                      static_cast<size_t>(newline - buffer_.data()) - start_);
                if (line == copy_text::kEndOfData) {
                    bool go_on = rows == 0 || on_piece(piece_from(data_start), rows);
                    start_ += line.size() + 1;
                    return go_on;
                }
                rows++;
                start_ += line.size() + 1;
            }
            if (rows > 0 && !on_piece(piece_from(data_start), rows))
                return false;
            if (!fill()) {
                std::string messages = finish();
                throw Error(ErrorKind::io,
                            fmt::format("pg_dump's output for {}.{} ended before the end of its "
                                        "data",
                                        tables_[current_].schema, tables_[current_].table),
                            messages);
            }
        }
    }

  private:
    const char* find_newline() const {
        return static_cast<const char*>(std::memchr(buffer_.data() + start_, '\n', end_ - start_));
    }

    std::string_view piece_from(size_t data_start) const {
        return {buffer_.data() + data_start, start_ - data_start};
    }

    // Reads more behind the unfinished line, moved to the front; false at
    // the end. The buffer grows only for a line longer than itself.
    bool fill() {
        std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
        if (end_ == buffer_.size())
            buffer_.resize(buffer_.size() * 2);
        int got = out_.read(buffer_.data() + end_, static_cast<int>(buffer_.size() - end_));
        end_ += static_cast<size_t>(std::max(got, 0));
        return got > 0;
    }

    // Which table a block is of. A process for one table takes every block
    // as its own: a partitioned table comes as one block per partition, all
    // loaded via the root.
    size_t table_named(const std::vector<std::string>& name) const {
        if (tables_.size() == 1)
            return 0;
        for (size_t i = 0; i < tables_.size(); i++)
            if (name.size() == 2 && name[0] == tables_[i].schema && name[1] == tables_[i].table)
                return i;
        throw Error(ErrorKind::internal, "pg_dump wrote the data of a table that was not asked for",
                    fmt::format("{}", fmt::join(name, ".")));
    }

    // Waits for pg_dump to exit; returns its messages, throws if it failed.
    std::string finish() {
        finished_ = true;
        child_.wait();
        std::string messages = errors_.get();
        while (!messages.empty() && messages.back() == '\n')
            messages.pop_back();
        // pg_dump's (libpq's, the server's) messages may quote the connection
        // string, e.g. a database name that holds a password.
        messages = mask_secrets(messages, secrets_);
        if (child_.exit_code() != 0)
            throw Error(ErrorKind::connection, fmt::format("pg_dump failed on {}", peer_), messages,
                        "Check that the source is reachable and that the role may read the "
                        "table.");
        return messages;
    }

    std::vector<DumpRequest> tables_;
    std::string peer_;
    std::vector<std::string> secrets_;
    std::optional<InMemoryFile> service_file_;
    bp::pipe out_;
    bp::ipstream err_;
    bp::child child_;
    std::future<std::string> errors_;
    std::vector<char> buffer_ = std::vector<char>(kBuffer);
    size_t start_ = 0;       // of the first line not yet read
    size_t end_ = 0;         // of what the buffer holds
    size_t current_ = 0;     // the table of the block being read
    bool finished_ = false;  // pg_dump has exited and was waited for
};

std::string find_pg_dump(int server_major) {
    if (const char* forced = std::getenv("FERRY_PG_DUMP")) {
        std::string path = forced;
        if (::access(path.c_str(), X_OK) != 0)
            throw Error(ErrorKind::not_found, fmt::format("pg_dump not found at {}", path),
                        "FERRY_PG_DUMP names it.", package_hint(server_major));
        int major = pg_dump_major(path);
        if (major < server_major)
            throw Error(ErrorKind::unsupported,
                        fmt::format("{} is version {}, older than the source server ({})", path,
                                    major, server_major),
                        "pg_dump cannot dump a server newer than itself.",
                        package_hint(server_major));
        return path;
    }
    for (int major = 30; major >= server_major; major--) {
        std::string path = fmt::format("/usr/lib/postgresql/{}/bin/pg_dump", major);
        if (::access(path.c_str(), X_OK) == 0)
            return path;
    }
    auto on_path = bp::search_path("pg_dump");
    if (on_path.empty())
        throw Error(ErrorKind::not_found, "pg_dump not found",
                    "A full sync from PostgreSQL reads the source with pg_dump.",
                    package_hint(server_major));
    int major = pg_dump_major(on_path.string());
    if (major < server_major)
        throw Error(ErrorKind::unsupported,
                    fmt::format("pg_dump on PATH is version {}, older than the source server ({})",
                                major, server_major),
                    "pg_dump cannot dump a server newer than itself.", package_hint(server_major));
    return on_path.string();
}

PgDumpReader::PgDumpReader(std::string pg_dump, const std::string& conninfo,
                           const ConnectionOptions& in_effect, std::string peer_for_messages)
    : pg_dump_(std::move(pg_dump)),
      peer_(std::move(peer_for_messages)),
      secrets_(peer_secrets(conninfo)) {
    ConnectionOptions given = parse_conninfo(conninfo);
    ssl_passphrase_ = option_value(given, "sslpassword");
    if (!ssl_passphrase_) {
        password_ = option_value(given, "password");
        dbname_ = conninfo_without(given, {"password"});
        return;
    }
    // The passphrase goes in a service section of its own, which displaces
    // any service the user named: so pg_dump gets the options as resolved.
    require_service_file_value(*ssl_passphrase_);
    password_ = option_value(in_effect, "password");
    dbname_ = conninfo_without(in_effect, {"password", "sslpassword", "service"}) + " " +
              quoted_option("service", std::string(kPassphraseService));
}

std::unique_ptr<PgDumpProcess> PgDumpReader::start(const std::string& snapshot,
                                                   const std::vector<DumpRequest>& tables) const {
    // No secret on pg_dump's command line, where any user of the machine
    // could read it: the password in PGPASSWORD, the SSL key's passphrase
    // (libpq reads it from no environment variable) in a service file.
    bp::environment env = boost::this_process::environment();
    if (password_)
        env["PGPASSWORD"] = *password_;
    // pg_dump sets its own DateStyle, but leaves bytea in the form the
    // database or role chose; ferry reads hex.
    std::string options = env.count("PGOPTIONS") ? env["PGOPTIONS"].to_string() + " " : "";
    env["PGOPTIONS"] = options + "-c bytea_output=hex";
    std::optional<std::string> service_text;
    if (ssl_passphrase_)
        service_text = fmt::format("[{}]\nsslpassword={}\n", kPassphraseService, *ssl_passphrase_);
    std::vector<std::string> args{"--data-only",
                                  "--no-password",
                                  "--encoding=UTF8",
                                  "--strict-names",
                                  "--load-via-partition-root",
                                  "--snapshot=" + snapshot,
                                  "--dbname=" + dbname_};
    for (const auto& table : tables)
        for (const auto& pattern : table.patterns)
            args.push_back("--table=" + pattern);
    return std::make_unique<PgDumpProcess>(pg_dump_, args, std::move(env), std::move(service_text),
                                           tables, peer_, secrets_);
}

PgDump::PgDump(const PgDumpReader& reader, std::string snapshot, std::vector<DumpRequest> tables,
               size_t hold_limit)
    : reader_(reader),
      snapshot_(std::move(snapshot)),
      tables_(std::move(tables)),
      hold_limit_(hold_limit),
      read_(tables_.size(), false) {}

PgDump::~PgDump() = default;

void PgDump::start() {
    if (!process_ && !ended_ && !abandoned_)
        process_ = reader_.start(snapshot_, tables_);
}

std::optional<size_t> PgDump::index_of(const std::string& schema, const std::string& table) const {
    for (size_t i = 0; i < tables_.size(); i++)
        if (tables_[i].schema == schema && tables_[i].table == table)
            return i;
    return std::nullopt;
}

bool PgDump::has_unread(const std::string& schema, const std::string& table) const {
    std::optional<size_t> index = index_of(schema, table);
    return index && !read_[*index];
}

PgDump::Outcome PgDump::read(const std::string& schema, const std::string& table,
                             const PgDumpReader::OnColumns& on_columns,
                             const PgDumpReader::OnLines& on_lines) {
    size_t wanted = index_of(schema, table).value();
    if (read_[wanted])
        throw Error(ErrorKind::internal, fmt::format("{}.{} was read twice", schema, table));
    auto held = held_.find(wanted);
    if (held != held_.end())
        return serve_held(held, on_columns, on_lines);
    if (abandoned_)
        return Outcome::abandoned;
    start();
    if (!process_)
        throw Error(ErrorKind::internal,
                    fmt::format("{}.{} was asked for after its pg_dump ended", schema, table));
    if (tables_.size() == 1) {
        read_[wanted] = true;
        return read_whole(on_columns, on_lines);
    }
    while (auto block = process_->next_block()) {
        if (block->table == wanted) {
            read_[wanted] = true;
            on_columns(block->columns);
            process_->read_block([&](std::string_view lines, uint64_t rows) {
                on_lines(lines, rows);
                return true;
            });
            finish_when_all_out();
            return Outcome::read;
        }
        if (read_[block->table] || held_.count(block->table))
            throw Error(
                ErrorKind::internal, "pg_dump wrote two blocks for one table",
                fmt::format("{}.{}", tables_[block->table].schema, tables_[block->table].table));
        Held& holding = held_[block->table];
        holding.columns = std::move(block->columns);
        size_t bytes = 0;
        bool kept = process_->read_block([&](std::string_view lines, uint64_t rows) {
            if (held_bytes_ + lines.size() > hold_limit_)
                return false;
            holding.pieces.emplace_back(lines, rows);
            held_bytes_ += lines.size();
            bytes += lines.size();
            return true;
        });
        if (!kept) {
            // The tables already held are whole; the rest go one by one.
            held_bytes_ -= bytes;
            held_.erase(block->table);
            process_.reset();
            abandoned_ = true;
            return Outcome::abandoned;
        }
    }
    // Every table of a group is a plain table, of which pg_dump always
    // writes a block, if only an empty one.
    ended_ = true;
    throw Error(ErrorKind::internal, fmt::format("pg_dump wrote no data for {}.{}", schema, table),
                "It was dumped in a group with other tables.",
                "Run the sync again; if it fails the same way, sync this table on its own with "
                "--tables.");
}

// Every block of a one-table pg_dump is the table's: a partitioned table
// comes as one block per partition, all loaded via the root with the same
// columns.
PgDump::Outcome PgDump::read_whole(const PgDumpReader::OnColumns& on_columns,
                                   const PgDumpReader::OnLines& on_lines) {
    size_t blocks = 0;
    std::vector<std::string> first_columns;
    while (auto block = process_->next_block()) {
        if (blocks++ == 0) {
            first_columns = block->columns.columns;
            on_columns(block->columns);
        } else if (block->columns.columns != first_columns) {
            throw Error(ErrorKind::internal,
                        "pg_dump's blocks of one table have different columns");
        }
        process_->read_block([&](std::string_view lines, uint64_t rows) {
            on_lines(lines, rows);
            return true;
        });
    }
    ended_ = true;
    process_.reset();
    return blocks > 0 ? Outcome::read : Outcome::no_data;
}

PgDump::Outcome PgDump::serve_held(std::map<size_t, Held>::iterator held,
                                   const PgDumpReader::OnColumns& on_columns,
                                   const PgDumpReader::OnLines& on_lines) {
    read_[held->first] = true;
    on_columns(held->second.columns);
    for (const auto& [lines, rows] : held->second.pieces) {
        on_lines(lines, rows);
        held_bytes_ -= lines.size();
    }
    held_.erase(held);
    return Outcome::read;
}

// Once every table is read or held, pg_dump's output is read to its end, so
// that its exit status is checked and the process does not linger.
void PgDump::finish_when_all_out() {
    for (size_t i = 0; i < tables_.size(); i++)
        if (!read_[i] && !held_.count(i))
            return;
    if (process_->next_block())
        throw Error(ErrorKind::internal, "pg_dump wrote more blocks than tables asked for");
    ended_ = true;
    process_.reset();
}

}  // namespace ferry::cli
