// A libpq connection for the CLI. Values are always sent as bound parameters;
// errors become ferry::Error with PostgreSQL's message, detail and hint, and
// name the peer only in redacted form.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ferry::cli {

using Param = std::optional<std::string>;  // nullopt is SQL NULL

class PgResult {
  public:
    explicit PgResult(PGresult* result) : result_(result, PQclear) {}
    int rows() const { return PQntuples(result_.get()); }
    int columns() const { return PQnfields(result_.get()); }
    std::string column_name(int column) const { return PQfname(result_.get(), column); }
    bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column); }
    std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
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
    const std::string& peer() const { return redacted_peer_; }

  private:
    std::unique_ptr<PGconn, void (*)(PGconn*)> connection_;
    std::string redacted_peer_;
};

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
