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

TEST_CASE("passwords are masked wherever libpq would find them", "[conninfo]") {
    // libpq's user info runs to the first '@' before any '/': '?' and '#'
    // belong to the password.
    CHECK(redact("postgresql://u:S3cr?tPw@host/db") == "postgresql://u:********@host/db");
    CHECK(redact("postgresql://u:a#b?c@host:5432/db?sslmode=require") ==
          "postgresql://u:********@host:5432/db?sslmode=require");
    CHECK(redact("postgresql://u@host/db?x=1@2") == "postgresql://u@host/db?x=1@2");
    // Query keywords are percent-decoded by libpq.
    CHECK(redact("postgresql://u@host/db?pass%77ord=PlainSecret1") ==
          "postgresql://u@host/db?pass%77ord=********");
    CHECK(redact("postgresql://u@host/db?%70assword=x&sslmode=disable") ==
          "postgresql://u@host/db?%70assword=********&sslmode=disable");
    // The SSL key's passphrase is a secret too, in both forms.
    CHECK(redact("host=h sslpassword=KeyPassphrase9 dbname=d") ==
          "host=h sslpassword=******** dbname=d");
    CHECK(redact("postgresql://h/d?sslpassword=KeyPassphrase9") ==
          "postgresql://h/d?sslpassword=********");
}

TEST_CASE("peers are classified by engine", "[conninfo]") {
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").engine == ferry::PeerEngine::sqlite);
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").target == "/tmp/a.db");
    CHECK(ferry::parse_peer("service=hub").engine == ferry::PeerEngine::postgresql);
    CHECK_THROWS_AS(ferry::parse_peer(""), ferry::Error);
    CHECK_THROWS_AS(ferry::parse_peer("sqlite:"), ferry::Error);
}
