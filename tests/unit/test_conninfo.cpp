// Peer parsing and password redaction: no password may reach output.
#include <catch2/catch.hpp>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"

using ferry::redact;

TEST_CASE("keyword/value passwords are masked", "[conninfo]") {
    CHECK(redact("host=db1 password=s3cret dbname=app") == "host=db1 password=******** dbname=app");
    // libpq escapes quotes and backslashes inside quoted values with a backslash
    CHECK(redact(R"(password = 'it\'s a \\secret' user=x)") == "password = ******** user=x");
    CHECK(redact("host=db1 dbname=app") == "host=db1 dbname=app");
    CHECK(redact("passwordfile=x") == "passwordfile=x");
    // libpq expands a dbname that is itself a connection string or URI
    CHECK(redact("dbname=postgresql://u:s3cret@db1/app") ==
          "dbname='postgresql://u:********@db1/app'");
    CHECK(redact("host=x dbname='user=u password=s3cret'") ==
          "host=x dbname='user=u password=********'");
    CHECK(redact("dbname=app") == "dbname=app");
}

TEST_CASE("URI passwords are masked", "[conninfo]") {
    CHECK(redact("postgresql://alice:s3cret@db1:5432/app") ==
          "postgresql://alice:********@db1:5432/app");
    CHECK(redact("postgres://alice@db1/app?password=s3cret&sslmode=require") ==
          "postgres://alice@db1/app?password=********&sslmode=require");
    CHECK(redact("postgresql://db1/app") == "postgresql://db1/app");
    CHECK(redact("postgresql://a:p@ss@db1/app") == "postgresql://a:********@db1/app");
}

TEST_CASE("peers are classified by engine", "[conninfo]") {
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").engine == ferry::PeerEngine::sqlite);
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").target == "/tmp/a.db");
    CHECK(ferry::parse_peer("service=hub").engine == ferry::PeerEngine::postgresql);
    CHECK_THROWS_AS(ferry::parse_peer(""), ferry::Error);
    CHECK_THROWS_AS(ferry::parse_peer("sqlite:"), ferry::Error);
}
