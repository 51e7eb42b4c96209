#include "peer_identity.hpp"

namespace ferry::cli {

std::string postgres_peer_id(PgConnection& db) {
    return db
        .query(
            "SELECT 'pg:' || s.system_identifier || ':' || d.oid FROM pg_control_system() s, "
            "pg_database d WHERE d.datname = current_database()")
        .text(0, 0);
}

std::string sqlite_peer_id(SqliteConnection& db) {
    // Read first: an INSERT takes the write lock even when it inserts
    // nothing, and would wait for another ferry's write transaction.
    auto known = db.query("SELECT value FROM ferry_meta WHERE key = 'peer_id'");
    if (!known.empty() && known.at(0).at(0))
        return *known.at(0).at(0);
    db.execute(
        "INSERT INTO ferry_meta (key, value) SELECT 'peer_id', 'sqlite:' || "
        "lower(hex(randomblob(8))) WHERE NOT EXISTS (SELECT 1 FROM ferry_meta WHERE key = "
        "'peer_id')");
    return db.query("SELECT value FROM ferry_meta WHERE key = 'peer_id'").at(0).at(0).value_or("");
}

}  // namespace ferry::cli
