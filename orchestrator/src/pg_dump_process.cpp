// pg_dump as a child process (see pg_dump_process.hpp).
#include "pg_dump_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
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

// Columns of "COPY schema.table (a, "B") FROM stdin;".
std::vector<std::string> copy_header_columns(std::string_view line) {
    sql::Lexer lexer(line, sql::Dialect::postgresql);
    auto malformed = [&] {
        return Error(ErrorKind::internal, "unexpected COPY header in pg_dump's output",
                     std::string(line.substr(0, 200)));
    };
    sql::Token token = lexer.next();
    while (token.kind != sql::TokenKind::end && !token.is("("))
        token = lexer.next();
    std::vector<std::string> columns;
    while (token.is("(") || token.is(",")) {
        token = lexer.next();
        if (token.kind != sql::TokenKind::word && token.kind != sql::TokenKind::quoted_identifier)
            throw malformed();
        columns.push_back(sql::identifier_value(token, sql::Dialect::postgresql));
        token = lexer.next();
    }
    if (!token.is(")") || columns.empty())
        throw malformed();
    return columns;
}

// Stops a child still running when the reader leaves early (an error on the
// target, a cancel), so that no pg_dump outlives its sync.
struct ChildGuard {
    bp::child& child;
    ~ChildGuard() {
        if (child.running()) {
            std::error_code ignored;
            child.terminate(ignored);
        }
    }
};

}  // namespace

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

bool PgDumpReader::dump_table(const std::string& snapshot, const std::vector<std::string>& patterns,
                              const std::string& schema, const std::string& table,
                              const OnColumns& on_columns, const OnLines& on_lines) {
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
    std::optional<InMemoryFile> service_file;
    KeepOpenInChild keep_service_file;
    if (ssl_passphrase_) {
        service_file.emplace(
            fmt::format("[{}]\nsslpassword={}\n", kPassphraseService, *ssl_passphrase_));
        env["PGSERVICEFILE"] = service_file->path();
        keep_service_file.fd = service_file->fd();
    }
    std::vector<std::string> args{"--data-only",
                                  "--no-password",
                                  "--encoding=UTF8",
                                  "--strict-names",
                                  "--load-via-partition-root",
                                  "--snapshot=" + snapshot,
                                  "--dbname=" + dbname_};
    for (const auto& pattern : patterns)
        args.push_back("--table=" + pattern);
    bp::pipe out;
    bp::ipstream err;
    bp::child child(pg_dump_, bp::args(args), bp::std_out > out, bp::std_err > err,
                    bp::std_in < bp::null, env, keep_service_file);
    auto errors = std::async(std::launch::async, [&err] {
        return std::string(std::istreambuf_iterator<char>(err), {});
    });
    // Declared after `errors`, so destroyed before it: a child stopped early
    // closes its stderr, and only then can the reading thread be joined.
    ChildGuard guard{child};

    enum class State { framing, data } state = State::framing;
    size_t blocks = 0;
    std::vector<std::string> first_columns;
    constexpr size_t kChunk = 1 << 20;
    std::string buffer;
    while (true) {
        // Read straight behind the unfinished line kept from the last chunk.
        size_t kept = buffer.size();
        buffer.resize(kept + kChunk);
        int got = out.read(buffer.data() + kept, static_cast<int>(kChunk));
        buffer.resize(kept + static_cast<size_t>(std::max(got, 0)));
        if (got <= 0)
            break;
        size_t start = 0;
        size_t data_start = 0;
        uint64_t rows = 0;
        while (true) {
            const char* newline = static_cast<const char*>(
                std::memchr(buffer.data() + start, '\n', buffer.size() - start));
            if (!newline)
                break;
            size_t end = static_cast<size_t>(newline - buffer.data());
            std::string_view line(buffer.data() + start, end - start);
            if (state == State::framing) {
                if (line.rfind("COPY ", 0) == 0) {
                    // A partitioned table comes as one block per partition,
                    // all loaded via the root with the same columns.
                    DumpedTable block{copy_header_columns(line)};
                    if (blocks++ == 0)
                        on_columns(block);
                    else if (block.columns != first_columns)
                        throw Error(ErrorKind::internal,
                                    "pg_dump's blocks of one table have different columns");
                    first_columns = block.columns;
                    state = State::data;
                    data_start = end + 1;
                }
            } else if (state == State::data) {
                if (line == copy_text::kEndOfData) {
                    if (rows > 0)
                        on_lines({buffer.data() + data_start, start - data_start}, rows);
                    rows = 0;
                    state = State::framing;
                } else {
                    rows++;
                }
            }
            start = end + 1;
        }
        if (state == State::data && rows > 0) {
            on_lines({buffer.data() + data_start, start - data_start}, rows);
        }
        buffer.erase(0, start);
    }
    child.wait();
    std::string messages = errors.get();
    while (!messages.empty() && messages.back() == '\n')
        messages.pop_back();
    // pg_dump's (libpq's, the server's) messages may quote the connection
    // string, e.g. a database name that holds a password.
    messages = mask_secrets(messages, secrets_);
    if (child.exit_code() != 0)
        throw Error(ErrorKind::connection, fmt::format("pg_dump failed on {}", peer_), messages,
                    "Check that the source is reachable and that the role may read the table.");
    if (state != State::framing)
        throw Error(ErrorKind::io,
                    fmt::format("pg_dump's output for {}.{} ended before the end of its data",
                                schema, table),
                    messages);
    return blocks > 0;
}

}  // namespace ferry::cli
