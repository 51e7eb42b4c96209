// libpq connection wrapper (see pg_connection.hpp).
#include "pg_connection.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"

namespace ferry::cli {
namespace {

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

ErrorKind kind_for_sqlstate(const char* sqlstate) {
    std::string state = sqlstate ? sqlstate : "";
    // 57P01-57P03: the server is shutting down, restarting or not yet
    // accepting connections; like a cut connection, worth a retry.
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03")
        return ErrorKind::connection;
    if (state == "42P01" || state == "42704" || state == "42883" || state == "3F000")
        return ErrorKind::not_found;
    if (state == "55P03")
        return ErrorKind::locked;
    if (state.rfind("22", 0) == 0)
        return ErrorKind::invalid_input;
    return ErrorKind::conflict;
}

void silence_notices(void*, const PGresult*) {}

}  // namespace

PgConnection::PgConnection(const std::string& conninfo)
    : connection_(nullptr, PQfinish),
      redacted_peer_(redact(conninfo)),
      secrets_(peer_secrets(conninfo)) {
    connection_.reset(PQconnectdb(conninfo.c_str()));
    if (!connection_)
        throw Error(ErrorKind::internal, "out of memory while connecting");
    if (PQstatus(connection_.get()) != CONNECTION_OK) {
        throw Error(ErrorKind::connection, fmt::format("cannot connect to {}", redacted_peer_),
                    libpq_message(),
                    "Check the connection string, that the server is up, and .pgpass or "
                    "PGPASSWORD for the password.");
    }
    PQsetNoticeReceiver(connection_.get(), silence_notices, nullptr);
    // Values travel in one form whatever the database or role sets: UTF-8
    // text (what SQLite peers and dump files hold), bytea in hex, dates in
    // ISO (which every DateStyle reads back), intervals in PostgreSQL's own
    // style (which every IntervalStyle reads back, and which the hashes of
    // intervals are taken in: docs/hashing.md).
    // row_security off, as pg_dump sets it: a query that a row-level
    // security policy would cut down fails instead of seeing (or writing)
    // only some rows.
    query(
        "SELECT set_config('client_encoding', 'UTF8', false), "
        "set_config('bytea_output', 'hex', false), set_config('DateStyle', 'ISO', false), "
        "set_config('IntervalStyle', 'postgres', false), set_config('row_security', 'off', false)");
}

namespace {

// libpq's option array as (keyword, value) pairs, unset options left out;
// frees the array.
ConnectionOptions set_options(PQconninfoOption* array) {
    std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(array, PQconninfoFree);
    ConnectionOptions set;
    for (PQconninfoOption* option = options.get(); option->keyword; option++)
        if (option->val)
            set.emplace_back(option->keyword, option->val);
    return set;
}

}  // namespace

ConnectionOptions PgConnection::options_in_effect() const {
    PQconninfoOption* options = PQconninfo(connection_.get());
    if (!options)
        throw Error(ErrorKind::internal, "out of memory reading connection options");
    return set_options(options);
}

ConnectionOptions parse_conninfo(const std::string& conninfo) {
    char* message = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
    if (!options) {
        // libpq quotes the part it cannot read, which may be a password's.
        std::string detail = mask_secrets(trim(message ? message : ""), peer_secrets(conninfo));
        PQfreemem(message);
        throw Error(ErrorKind::invalid_input, "invalid connection string", detail);
    }
    return set_options(options);
}

bool PgConnection::wait_for_notification(int timeout_ms) {
    auto drain = [&] {
        bool any = false;
        while (PGnotify* notify = PQnotifies(connection_.get())) {
            PQfreemem(notify);
            any = true;
        }
        return any;
    };
    if (drain())
        return true;
    pollfd socket{PQsocket(connection_.get()), POLLIN, 0};
    int ready = poll(&socket, 1, timeout_ms);
    if (ready < 0 && errno != EINTR)
        throw Error(ErrorKind::io, "cannot wait for notifications", std::strerror(errno));
    if (ready > 0 && !PQconsumeInput(connection_.get()))
        throw lost_connection();
    return drain();
}

std::string PgConnection::masked(std::string_view text) const {
    return mask_secrets(text, secrets_);
}

std::string PgConnection::libpq_message() const {
    return masked(trim(PQerrorMessage(connection_.get())));
}

Error PgConnection::lost_connection() const {
    return Error(ErrorKind::connection, fmt::format("lost connection to {}", redacted_peer_),
                 libpq_message());
}

PgResult PgConnection::query(const std::string& sql, const std::vector<Param>& params) {
    send(sql, params);
    return receive();
}

void PgConnection::send(const std::string& sql, const std::vector<Param>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params)
        values.push_back(p ? p->c_str() : nullptr);
    if (!PQsendQueryParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0)) {
        throw lost_connection();
    }
}

PgResult PgConnection::receive() {
    // The last result is the one to report; earlier ones (none for a single
    // statement) are dropped.
    PGresult* last = nullptr;
    while (PGresult* next = PQgetResult(connection_.get())) {
        if (last)
            PQclear(last);
        last = next;
    }
    return checked(last);
}

PgResult PgConnection::checked(PGresult* raw) {
    PgResult result(raw);
    ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        constexpr uint64_t row_framing = 7, value_framing = 4;  // DataRow header, lengths
        uint64_t bytes = 0;
        for (int r = 0; r < result.rows(); r++) {
            bytes += row_framing;
            for (int c = 0; c < result.columns(); c++)
                bytes += value_framing + static_cast<uint64_t>(PQgetlength(raw, r, c));
        }
        bytes_received_ += bytes;
        return result;
    }
    if (!raw) {
        throw lost_connection();
    }
    auto field = [&](int code) {
        const char* text = PQresultErrorField(raw, code);
        return std::string(text ? text : "");
    };
    // The server's texts may quote what it was sent; its SQLSTATE stays as is.
    auto text = [&](int code) { return masked(field(code)); };
    std::string message = text(PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty())
        message = libpq_message();
    std::string sqlstate = field(PG_DIAG_SQLSTATE);
    // A connection the server closed (a restart) can fail a query with
    // libpq's own message and no SQLSTATE: still a lost connection.
    ErrorKind kind = PQstatus(connection_.get()) == CONNECTION_BAD
                         ? ErrorKind::connection
                         : kind_for_sqlstate(sqlstate.c_str());
    throw PgError(kind, sqlstate, message, text(PG_DIAG_MESSAGE_DETAIL),
                  text(PG_DIAG_MESSAGE_HINT));
}

void PgConnection::copy_in_start(const std::string& sql) {
    PGresult* raw = PQexec(connection_.get(), sql.c_str());
    if (raw && PQresultStatus(raw) == PGRES_COPY_IN) {
        PQclear(raw);
        return;
    }
    checked(raw);  // throws the server's error
    throw Error(ErrorKind::internal, "COPY FROM STDIN did not start");
}

void PgConnection::copy_in_put(std::string_view data) {
    // PQputCopyData takes an int: a piece of 2 GiB or more would be sent as
    // nothing at all, and reported sent.
    constexpr size_t kPiece = size_t{1} << 30;
    for (size_t at = 0; at < data.size(); at += kPiece) {
        std::string_view piece = data.substr(at, kPiece);
        if (PQputCopyData(connection_.get(), piece.data(), static_cast<int>(piece.size())) != 1)
            throw lost_connection();
    }
}

uint64_t PgConnection::copy_in_end() {
    if (PQputCopyEnd(connection_.get(), nullptr) != 1)
        throw lost_connection();
    PgResult result = receive();
    return std::stoull(PQcmdTuples(result.raw()));
}

void PgConnection::copy_out(
    const std::string& sql, const std::vector<Param>& params,
    const std::function<void(std::string_view lines, uint64_t rows)>& on_lines) {
    send(sql, params);
    PGresult* started = PQgetResult(connection_.get());
    if (!started || PQresultStatus(started) != PGRES_COPY_OUT) {
        checked(started);
        receive();
        throw Error(ErrorKind::internal, "COPY TO STDOUT did not start");
    }
    PQclear(started);
    std::string piece;
    uint64_t rows = 0;
    while (true) {
        char* line = nullptr;
        int size = PQgetCopyData(connection_.get(), &line, 0);
        if (size < 0)
            break;
        piece.append(line, static_cast<size_t>(size));
        PQfreemem(line);
        bytes_received_ += static_cast<uint64_t>(size) + 5;  // CopyData framing
        if (++rows % 1024 == 0 && piece.size() >= (1u << 20)) {
            on_lines(piece, rows);
            piece.clear();
            rows = 0;
        }
    }
    if (rows > 0)
        on_lines(piece, rows);
    receive();  // the command's own result, or its error
}

std::pair<PgResult, PgResult> query_both(PgConnection& a, const std::vector<Param>& params_a,
                                         PgConnection& b, const std::vector<Param>& params_b,
                                         const std::string& sql) {
    a.send(sql, params_a);
    try {
        b.send(sql, params_b);
    } catch (...) {
        try {
            a.receive();  // leave a ready for its next query; b's error wins
        } catch (...) {
        }
        throw;
    }
    std::optional<PgResult> result_a;
    try {
        result_a.emplace(a.receive());
    } catch (...) {
        try {
            b.receive();
        } catch (...) {
        }
        throw;
    }
    PgResult result_b = b.receive();
    return {std::move(*result_a), std::move(result_b)};
}

PgConnection connect_postgres_peer(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine != PeerEngine::postgresql)
        throw Error(ErrorKind::unsupported, "SQLite peers are not supported by this ferry build",
                    {}, "Use a PostgreSQL connection string or URI.");
    return PgConnection(address.target);
}

}  // namespace ferry::cli
