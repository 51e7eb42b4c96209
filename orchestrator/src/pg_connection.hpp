// A libpq connection for the CLI. Values are always sent as bound parameters;
// errors become ferry::Error with PostgreSQL's message, detail and hint, and
// name the peer only in redacted form, with the peer's secrets masked in
// whatever libpq or the server wrote.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/error.hpp"

namespace ferry::cli {

using Param = std::optional<std::string>;  // nullopt is SQL NULL

// Connection options as (keyword, value) pairs, the unset ones left out.
using ConnectionOptions = std::vector<std::pair<std::string, std::string>>;

// The options a connection string sets (no service file or environment
// applied); fails on a malformed one.
ConnectionOptions parse_conninfo(const std::string& conninfo);

// An error the server reported, with its SQLSTATE, for the few callers that
// react to one condition (e.g. 23503, a foreign key violation).
class PgError : public Error {
  public:
    PgError(ErrorKind kind, std::string sqlstate, std::string message, std::string detail,
            std::string hint)
        : Error(kind, std::move(message), std::move(detail), std::move(hint)),
          sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

class PgResult {
  public:
    explicit PgResult(PGresult* result) : result_(result, PQclear) {}
    int rows() const { return PQntuples(result_.get()); }
    int columns() const { return PQnfields(result_.get()); }
    std::string column_name(int column) const { return PQfname(result_.get(), column); }
    bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column); }
    std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
    // The texts of one column, row by row.
    std::vector<std::string> texts(int column) const {
        std::vector<std::string> values;
        for (int r = 0; r < rows(); r++)
            values.push_back(text(r, column));
        return values;
    }
    // The same without a copy; valid while this result lives.
    std::string_view view(int row, int column) const {
        return {PQgetvalue(result_.get(), row, column),
                static_cast<size_t>(PQgetlength(result_.get(), row, column))};
    }
    PGresult* raw() const { return result_.get(); }
    Param value(int row, int column) const {
        return is_null(row, column) ? Param{} : Param{text(row, column)};
    }

  private:
    std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class PgConnection {
  public:
    // Connects with a libpq connection string or URI; PG* variables, service
    // files and .pgpass apply as in psql.
    explicit PgConnection(const std::string& conninfo);

    PgResult query(const std::string& sql, const std::vector<Param>& params = {});
    void execute(const std::string& sql, const std::vector<Param>& params = {}) {
        query(sql, params);
    }

    // query() in two halves, so that several peers can work at once: send()
    // returns as soon as the query is on its way, receive() waits for it.
    void send(const std::string& sql, const std::vector<Param>& params = {});
    PgResult receive();

    // COPY ... FROM STDIN: start() sends the statement, put() passes data
    // through (buffered by libpq), end() finishes and returns the row count.
    void copy_in_start(const std::string& sql);
    void copy_in_put(std::string_view data);
    uint64_t copy_in_end();

    // COPY ... TO STDOUT: calls on_lines with complete lines, as libpq
    // delivers them (one row each), gathered into pieces of about 1 MiB.
    void copy_out(const std::string& sql, const std::vector<Param>& params,
                  const std::function<void(std::string_view lines, uint64_t rows)>& on_lines);

    // Waits up to timeout_ms for a NOTIFY on a channel this connection
    // LISTENs on; true when one (or more) came. Throws when the connection
    // is lost.
    bool wait_for_notification(int timeout_ms);

    const std::string& peer() const { return redacted_peer_; }

    // Every connection option as this connection used it, service-file and
    // environment values resolved. Holds secrets: never for output.
    ConnectionOptions options_in_effect() const;

    // Bytes of result values received so far, plus the protocol's framing of
    // each row and value (what moved over the wire, within a few bytes).
    uint64_t bytes_received() const { return bytes_received_; }

  private:
    PgResult checked(PGresult* raw);

    // Every text libpq or the server sends about this connection goes
    // through masked(): it may quote any part of the connection string,
    // e.g. a database name that is a URI with a password.
    std::string masked(std::string_view text) const;
    std::string libpq_message() const;  // PQerrorMessage, masked
    Error lost_connection() const;

    std::unique_ptr<PGconn, void (*)(PGconn*)> connection_;
    std::string redacted_peer_;
    std::vector<std::string> secrets_;  // of the connection string, for masked()
    uint64_t bytes_received_ = 0;
};

// Runs the same query on two peers at once; returns both results.
std::pair<PgResult, PgResult> query_both(PgConnection& a, const std::vector<Param>& params_a,
                                         PgConnection& b, const std::vector<Param>& params_b,
                                         const std::string& sql);

// Connects to a peer given as the user wrote it; refuses peers that are not
// PostgreSQL with a clear error.
PgConnection connect_postgres_peer(const std::string& peer);

// Runs body inside BEGIN/COMMIT, rolling back if it throws.
template <class Body>
void in_transaction(PgConnection& connection, Body&& body) {
    connection.execute("BEGIN");
    try {
        body();
    } catch (...) {
        try {
            connection.execute("ROLLBACK");
        } catch (...) {
        }
        throw;
    }
    connection.execute("COMMIT");
}

}  // namespace ferry::cli
