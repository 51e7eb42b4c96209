// Peer parsing and password redaction: no password may reach output.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

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
    // libpq 18's other secrets.
    CHECK(redact("host=h scram_client_key=c2NyYW0= scram_server_key=c2VydmVy dbname=d") ==
          "host=h scram_client_key=******** scram_server_key=******** dbname=d");
    CHECK(redact("postgresql://h/d?oauth_client_id=app&oauth_client_secret=Sh0wNoOne") ==
          "postgresql://h/d?oauth_client_id=app&oauth_client_secret=********");
}

TEST_CASE("peers are classified by engine", "[conninfo]") {
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").engine == ferry::PeerEngine::sqlite);
    CHECK(ferry::parse_peer("sqlite:/tmp/a.db").target == "/tmp/a.db");
    CHECK(ferry::parse_peer("service=hub").engine == ferry::PeerEngine::postgresql);
    CHECK_THROWS_AS(ferry::parse_peer(""), ferry::Error);
    CHECK_THROWS_AS(ferry::parse_peer("sqlite:"), ferry::Error);
}

// Checks that `masked` holds none of `secret` (nor any word of it) and
// still holds each of the `kept` parts.
static void check_masked(const std::string& masked, const std::string& secret,
                         std::initializer_list<std::string> kept) {
    INFO("masked: " << masked);
    CHECK(masked.find(secret) == std::string::npos);
    std::istringstream words(secret);
    for (std::string word; words >> word;)
        CHECK(masked.find(word) == std::string::npos);
    for (const std::string& part : kept)
        CHECK(masked.find(part) != std::string::npos);
}

TEST_CASE("keyword values are read with libpq's escapes", "[conninfo]") {
    // Unquoted values end at an unescaped blank: this password is "open sesame".
    CHECK(redact(R"(host=db1 password=open\ sesame dbname=app)") ==
          "host=db1 password=******** dbname=app");
    CHECK(redact(R"(password='it\'s open\\now' user=u)") == "password=******** user=u");
    CHECK(redact(R"(password=it\'s\\here user=u)") == "password=******** user=u");
    // A trailing backslash escapes nothing; an unterminated quote runs to the end.
    CHECK(redact(R"(user=u password=sesame\)") == "user=u password=********");
    CHECK(redact("user=u password='open sesame") == "user=u password=********");
    check_masked(redact(R"(host=db1 password=open\ sesame dbname=app)"), "open sesame",
                 {"host=db1", "dbname=app"});
}

TEST_CASE("a password libpq cannot read is masked with what follows it", "[conninfo]") {
    // libpq refuses these strings and quotes the stray word in its error,
    // but it is most likely the rest of the password.
    CHECK(redact("host=db1 password=open sesame dbname=app") ==
          "host=db1 password=******** dbname=app");
    CHECK(redact(R"(host=db1 password="a b" port=5432)") == "host=db1 password=******** port=5432");
    // SQL's doubled quote is not libpq's: 'it''s' is 'it' followed by 's'.
    CHECK(redact("password='it''s' user=u") == "password=******** user=u");
    CHECK(redact("password=open sesame=now user=u") == "password=******** user=u");
    check_masked(redact(R"(host=db1 password="open sesame" port=5432)"), R"("open sesame")",
                 {"host=db1", "port=5432"});
}

TEST_CASE("a URI nested in dbname keeps its password masked", "[conninfo]") {
    std::string peer = "host=127.0.0.1 port=1 dbname='postgresql://postgres:hunter2@db1/app'";
    check_masked(redact(peer), "hunter2", {"host=127.0.0.1", "port=1", "postgres:", "@db1/app"});
    CHECK(redact("postgresql://h/postgresql:%2F%2Fu:hunter2@x%2Fy") ==
          "postgresql://h/postgresql:%2F%2Fu:********@x%2Fy");
    CHECK(redact("postgresql://h/?dbname=password%3Dhunter2") ==
          "postgresql://h/?dbname=password%3D********");
}

TEST_CASE("messages about a peer are masked with the peer's secrets", "[conninfo]") {
    using ferry::mask_secrets;
    using ferry::peer_secrets;
    // The server names a database that does not exist as libpq passed it on.
    std::string peer = "host=db1 dbname='postgresql://postgres:hunter2@127.0.0.1:1/postgres'";
    std::string error =
        R"(FATAL:  database "postgresql://postgres:hunter2@127.0.0.1:1/postgres" does not exist)";
    check_masked(mask_secrets(error, peer_secrets(peer)), "hunter2",
                 {"FATAL:  database \"postgresql://postgres:", "does not exist"});
    // libpq quotes the stray word of a password it cannot read.
    check_masked(mask_secrets(R"(missing "=" after "b"" in connection info string)",
                              peer_secrets(R"(host=db1 password="a b")")),
                 R"(b")", {"missing \"=\" after", "in connection info string"});
    check_masked(mask_secrets(R"(missing "=" after "sesame" in connection info string)",
                              peer_secrets("password=open sesame")),
                 "sesame", {"missing \"=\" after"});
    // Secrets as libpq reads them and as written, percent-decoded in a URI.
    CHECK(mask_secrets("a open sesame b", peer_secrets(R"(password=open\ sesame)")) ==
          "a ******** b");
    CHECK(mask_secrets("p@ss and p%40ss", peer_secrets("postgresql://u:p%40ss@h/d")) ==
          "******** and ********");
    CHECK(peer_secrets("host=db1 dbname=app").empty());
    CHECK(peer_secrets("sqlite:/tmp/password=x").empty());
}
