// The SQLite extension compiled into the test (SQLITE_CORE): what needs two
// connections in one process, which the sqlite3 shell cannot show — the
// origin belongs to the applying connection only.
#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>

#include "extension.hpp"

namespace {

struct Database {
    explicit Database(const std::string& path) {
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
        db.reset(raw);
        sqlite3_busy_timeout(raw, 5000);
        REQUIRE(ferry::sqlite::register_ferry(raw, nullptr) == SQLITE_OK);
    }
    // Runs SQL; returns the error message, or "" on success.
    std::string exec(const std::string& sql) {
        char* message = nullptr;
        int rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &message);
        std::string text = message ? message : "";
        sqlite3_free(message);
        return rc == SQLITE_OK ? "" : (text.empty() ? "error" : text);
    }
    std::string scalar(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        REQUIRE(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
        std::string value;
        if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
            value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        return value;
    }
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db{nullptr, sqlite3_close_v2};
};

struct TempFile {
    TempFile() {
        char name[] = "/tmp/ferry-sqlite-unit-XXXXXX";
        int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        close(fd);
        path = name;
    }
    ~TempFile() {
        for (const char* suffix : {"", "-wal", "-shm"})
            std::remove((path + suffix).c_str());
    }
    std::string path;
};

}  // namespace

TEST_CASE("the origin tags only the applying connection's changes", "[sqlite]") {
    TempFile file;
    Database applier(file.path);
    Database app(file.path);
    REQUIRE(
        applier.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                     "SELECT ferry_track('t');") == "");
    REQUIRE(applier.exec("BEGIN; SELECT ferry_set_origin('peer-b'); INSERT INTO t VALUES (1, 'b');"
                         "SELECT ferry_set_origin(NULL); COMMIT;") == "");
    REQUIRE(app.exec("INSERT INTO t VALUES (2, 'local')") == "");
    CHECK(app.scalar("SELECT group_concat(key || '=' || coalesce(origin, 'local'), ' ') FROM "
                     "(SELECT * FROM ferry_changes ORDER BY position)") ==
          "{\"id\":1}=peer-b {\"id\":2}=local");
    // The other connection's write stays local.
    CHECK(app.scalar("SELECT count(*) FROM ferry_changes WHERE origin IS NULL") == "1");
}

TEST_CASE("a transaction cannot commit while its origin is set", "[sqlite]") {
    TempFile file;
    Database applier(file.path);
    REQUIRE(applier.exec("CREATE TABLE t (id INTEGER PRIMARY KEY); SELECT ferry_track('t');") ==
            "");
    REQUIRE(applier.exec("BEGIN; SELECT ferry_set_origin('peer-b'); INSERT INTO t VALUES (1);") ==
            "");
    CHECK(applier.exec("COMMIT") != "");
    // The refused COMMIT rolled everything back, the log included.
    CHECK(applier.scalar("SELECT count(*) FROM t") == "0");
    CHECK(applier.scalar("SELECT count(*) FROM ferry_changes") == "0");
    // And the connection is usable again, its changes local.
    REQUIRE(applier.exec("INSERT INTO t VALUES (2)") == "");
    CHECK(applier.scalar("SELECT coalesce(origin, 'local') FROM ferry_changes") == "local");
}

TEST_CASE("a rolled back origin leaves the connection normal", "[sqlite]") {
    TempFile file;
    Database applier(file.path);
    REQUIRE(applier.exec("CREATE TABLE t (id INTEGER PRIMARY KEY); SELECT ferry_track('t');") ==
            "");
    REQUIRE(applier.exec("BEGIN; SELECT ferry_set_origin('peer-b'); INSERT INTO t VALUES (1); "
                         "ROLLBACK;") == "");
    REQUIRE(applier.exec("BEGIN; INSERT INTO t VALUES (3); COMMIT;") == "");
    CHECK(applier.scalar(
              "SELECT count(*) || ' ' || coalesce(max(origin), 'local') FROM ferry_changes") ==
          "1 local");
}

TEST_CASE("the origin needs a transaction and a name", "[sqlite]") {
    Database db(":memory:");
    REQUIRE(db.exec("SELECT ferry_init()") == "");
    CHECK(db.exec("SELECT ferry_set_origin('peer-b')").find("must run inside a transaction") !=
          std::string::npos);
    CHECK(db.exec("BEGIN; SELECT ferry_set_origin('');").find("origin peer must be named") !=
          std::string::npos);
}

TEST_CASE("functions that write cannot be called from a view or trigger", "[sqlite]") {
    Database db(":memory:");
    REQUIRE(db.exec("SELECT ferry_init(); CREATE TABLE t (id INTEGER PRIMARY KEY);"
                    "CREATE VIEW v AS SELECT ferry_purge() AS n;") == "");
    CHECK(db.exec("SELECT * FROM v").find("unsafe use of ferry_purge") != std::string::npos);
}

TEST_CASE("bucket rows read through the key hash cache equal a fresh scan", "[sqlite]") {
    TempFile file;
    Database db(file.path);
    REQUIRE(db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)"
                    " INSERT INTO t SELECT i, 'v' || i FROM s;") == "");
    const std::string rows =
        "SELECT group_concat(bucket || key || row_hash, ',') FROM "
        "(SELECT * FROM ferry_bucket_rows('t', 64, '[1, 7, 63]') ORDER BY key)";
    std::string scanned = db.scalar(rows);  // outside a transaction: no cache
    REQUIRE(!scanned.empty());
    REQUIRE(db.exec("BEGIN") == "");
    REQUIRE(db.scalar("SELECT count(*) FROM ferry_bucket_hashes('t', 64)") == "64");
    CHECK(db.scalar(rows) == scanned);
    // A write in between makes the cache stale: the rows are scanned again.
    REQUIRE(db.exec("UPDATE t SET v = 'changed' WHERE id IN (SELECT id FROM t)") == "");
    std::string after = db.scalar(rows);
    CHECK(after != scanned);
    REQUIRE(db.exec("COMMIT") == "");
    CHECK(db.scalar(rows) == after);
    // Another filter is another scan.
    REQUIRE(db.exec("BEGIN") == "");
    REQUIRE(db.scalar("SELECT count(*) > 0 FROM ferry_bucket_hashes('t', 64, 'id < 100')") == "1");
    CHECK(db.scalar(rows) == after);
    REQUIRE(db.exec("COMMIT") == "");
}

TEST_CASE("savepoints neither leak an origin nor lose work", "[sqlite]") {
    TempFile file;
    Database db(file.path);
    Database other(file.path);
    REQUIRE(db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY); SELECT ferry_track('t');") == "");
    // A close undone by ROLLBACK TO is redone by closing again.
    REQUIRE(db.exec("BEGIN; SELECT ferry_set_origin('peer-b'); INSERT INTO t VALUES (1);"
                    "SAVEPOINT s; SELECT ferry_set_origin(NULL); ROLLBACK TO s; RELEASE s;") == "");
    REQUIRE(db.exec("SELECT ferry_set_origin(NULL); COMMIT;") == "");
    REQUIRE(other.exec("INSERT INTO t VALUES (2)") == "");
    CHECK(db.scalar("SELECT group_concat(key || '=' || coalesce(origin, 'local'), ' ') FROM "
                    "(SELECT * FROM ferry_changes ORDER BY position)") ==
          "{\"id\":1}=peer-b {\"id\":2}=local");
    // An origin opened inside a rolled-back savepoint tags nothing it did not see.
    REQUIRE(db.exec("BEGIN; INSERT INTO t VALUES (3); SAVEPOINT s; SELECT ferry_set_origin('p');"
                    "ROLLBACK TO s; RELEASE s; SELECT ferry_set_origin(NULL); COMMIT;") == "");
    CHECK(
        db.scalar("SELECT coalesce(origin, 'local') FROM ferry_changes WHERE key = '{\"id\":3}'") ==
        "local");
}

TEST_CASE("a sqlite3 .dump converted by ferry_to_upsert applies once", "[sqlite]") {
    // What sqlite3 .dump prints for two rows.
    const std::string dump =
        "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"
        "INSERT INTO t VALUES(1,'it''s',X'00ff',1.5);\n"
        "INSERT INTO t VALUES(2,'two',NULL,NULL);\nCOMMIT;\n";
    Database target(":memory:");
    REQUIRE(target.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB, r REAL);"
                        "CREATE TABLE dump (sql TEXT); SELECT ferry_init();") == "");
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(target.db.get(), "INSERT INTO dump VALUES (?1)", -1, &stmt,
                               nullptr) == SQLITE_OK);
    sqlite3_bind_text(stmt, 1, dump.c_str(), -1, SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(stmt) == SQLITE_DONE);
    sqlite3_finalize(stmt);
    std::string upserts = target.scalar("SELECT ferry_to_upsert(sql) FROM dump");
    REQUIRE(upserts.find("ON CONFLICT (\"id\") DO UPDATE") != std::string::npos);

    auto apply = [&] {
        int64_t before = sqlite3_total_changes64(target.db.get());
        REQUIRE(target.exec(upserts) == "");
        return sqlite3_total_changes64(target.db.get()) - before;
    };
    CHECK(apply() == 2);
    CHECK(apply() == 0);  // the same dump again writes nothing
    REQUIRE(target.exec("UPDATE t SET name = 'changed' WHERE id = 2") == "");
    CHECK(apply() == 1);  // only the row that differs
    CHECK(target.scalar("SELECT group_concat(id || name || quote(data) || quote(r), ',') FROM t") ==
          "1it'sX'00FF'1.5,2twoNULLNULL");
    // Anything but data is refused, and nothing runs.
    CHECK(target.exec("SELECT ferry_to_upsert('DELETE FROM t;')").find("is not allowed") !=
          std::string::npos);
    CHECK(target.exec("SELECT ferry_to_upsert('INSERT INTO t VALUES (3, lower(''X''), NULL, 1);')")
              .find("lower") != std::string::npos);
    CHECK(target.scalar("SELECT count(*) FROM t") == "2");
}
