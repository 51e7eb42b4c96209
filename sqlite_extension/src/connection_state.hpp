// What ferry remembers per SQLite connection. SQLite functions are per
// connection, which is what lets the applying connection be told apart from
// every other writer (docs/sqlite.md, "Origin").
#pragma once

#include <string>

namespace ferry::sqlite {

struct ConnectionState {
    // Set while ferry_set_origin() holds a marker row in this connection's
    // open transaction; the commit hook refuses to commit it.
    bool origin_active = false;
    std::string origin;
};

}  // namespace ferry::sqlite
