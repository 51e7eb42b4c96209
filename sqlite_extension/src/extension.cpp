// The extension's entry points (see extension.hpp).
#include "extension.hpp"

#include <memory>

#include "hashing.hpp"
#include "state.hpp"
#include "tracking.hpp"
#include "upsert.hpp"

SQLITE_EXTENSION_INIT1

namespace ferry::sqlite {
namespace {

const std::vector<FunctionSpec>& function_specs() {
    static const std::vector<FunctionSpec> specs = [] {
        std::vector<FunctionSpec> all;
        add_state_functions(all);
        add_tracking_functions(all);
        add_hashing_functions(all);
        add_upsert_functions(all);
        return all;
    }();
    return specs;
}

const std::vector<TableFunctionSpec>& table_function_specs() {
    static const std::vector<TableFunctionSpec> specs = [] {
        std::vector<TableFunctionSpec> all;
        add_hashing_table_functions(all);
        return all;
    }();
    return specs;
}

}  // namespace

int register_ferry(sqlite3* db, char** error) {
    int rc = SQLITE_OK;
    try {
        auto state = std::make_shared<ConnectionState>();
        rc = register_functions(db, state, function_specs());
        if (rc == SQLITE_OK)
            rc = register_table_functions(db, state, table_function_specs());
    } catch (...) {
        rc = SQLITE_NOMEM;
    }
    if (rc != SQLITE_OK && error)
        *error = sqlite3_mprintf("ferry: cannot register its functions: %s", sqlite3_errstr(rc));
    return rc;
}

}  // namespace ferry::sqlite

// The loadable extension's entry point: `.load ferry` in sqlite3 finds it by
// the file name (ferry.so → sqlite3_ferry_init).
extern "C" int sqlite3_ferry_init(sqlite3* db, char** error, const sqlite3_api_routines* api) {
    SQLITE_EXTENSION_INIT2(api);
    return ferry::sqlite::register_ferry(db, error);
}
