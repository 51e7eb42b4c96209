// Eponymous virtual tables for table-valued functions (see table_function.hpp).
// Every callback catches everything: no exception may unwind into SQLite.
#include "table_function.hpp"

#include <cstring>
#include <memory>

namespace ferry::sqlite {
namespace {

// What a module is registered with: the function and the connection's state.
struct ModuleBinding {
    const TableFunctionSpec* spec;
    std::shared_ptr<ConnectionState> state;
};

struct Table {
    sqlite3_vtab base;  // must come first: SQLite sees only this
    const TableFunctionSpec* spec;
    sqlite3* db;
    ConnectionState* state;
};

struct Cursor {
    sqlite3_vtab_cursor base;  // must come first
    Rows rows;
    size_t next = 0;
};

void set_error(sqlite3_vtab* vtab, const std::string& message) {
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = sqlite3_mprintf("%s", message.c_str());
}

int connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char** error) {
    const auto* binding = static_cast<const ModuleBinding*>(aux);
    const TableFunctionSpec* spec = binding->spec;
    int rc = sqlite3_declare_vtab(db, spec->schema);
    if (rc != SQLITE_OK) {
        *error = sqlite3_mprintf("%s: %s", spec->name, sqlite3_errmsg(db));
        return rc;
    }
    auto table = std::make_unique<Table>();
    std::memset(&table->base, 0, sizeof table->base);
    table->spec = spec;
    table->db = db;
    table->state = binding->state.get();
    *out = &table.release()->base;  // SQLite owns it until disconnect()
    return SQLITE_OK;
}

int disconnect(sqlite3_vtab* vtab) {
    std::unique_ptr<Table> owned(reinterpret_cast<Table*>(vtab));
    return SQLITE_OK;
}

// The arguments are equality constraints on the hidden columns; they must be
// given in order, the first min_args of them at least.
int best_index(sqlite3_vtab* vtab, sqlite3_index_info* info) {
    const TableFunctionSpec* spec = reinterpret_cast<Table*>(vtab)->spec;
    int constraint_of[16];
    for (int& c : constraint_of)
        c = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const auto& constraint = info->aConstraint[i];
        int arg = constraint.iColumn - spec->result_columns;
        if (arg < 0 || arg >= spec->max_args || constraint.op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (!constraint.usable)
            return SQLITE_CONSTRAINT;
        constraint_of[arg] = i;
    }
    int given = 0;
    while (given < spec->max_args && constraint_of[given] >= 0) {
        info->aConstraintUsage[constraint_of[given]].argvIndex = given + 1;
        info->aConstraintUsage[constraint_of[given]].omit = 1;
        given++;
    }
    if (given < spec->min_args) {
        set_error(vtab, std::string(spec->name) + "() needs at least " +
                            std::to_string(spec->min_args) + " argument" +
                            (spec->min_args == 1 ? "" : "s") + ", as in SELECT * FROM " +
                            spec->name + "(...)");
        return SQLITE_ERROR;
    }
    info->idxNum = given;
    info->estimatedCost = 1e6;
    return SQLITE_OK;
}

int open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
    auto cursor = std::make_unique<Cursor>();
    std::memset(&cursor->base, 0, sizeof cursor->base);
    *out = &cursor.release()->base;  // SQLite owns it until close()
    return SQLITE_OK;
}

int close(sqlite3_vtab_cursor* base) {
    std::unique_ptr<Cursor> owned(reinterpret_cast<Cursor*>(base));
    return SQLITE_OK;
}

int filter(sqlite3_vtab_cursor* base, int given, const char*, int argc, sqlite3_value** argv) {
    auto* cursor = reinterpret_cast<Cursor*>(base);
    auto* table = reinterpret_cast<Table*>(base->pVtab);
    (void)given;
    try {
        Args args(table->spec->name, argc, argv);
        cursor->rows = table->spec->produce(Call{table->db, *table->state}, args);
        cursor->next = 0;
        return SQLITE_OK;
    } catch (const ferry::Error& e) {
        set_error(base->pVtab, error_text(e));
    } catch (const std::bad_alloc&) {
        return SQLITE_NOMEM;
    } catch (const std::exception& e) {
        set_error(base->pVtab, std::string(table->spec->name) + "(): internal error: " + e.what());
    } catch (...) {
        set_error(base->pVtab, std::string(table->spec->name) + "(): internal error");
    }
    return SQLITE_ERROR;
}

int next(sqlite3_vtab_cursor* base) {
    reinterpret_cast<Cursor*>(base)->next++;
    return SQLITE_OK;
}

int eof(sqlite3_vtab_cursor* base) {
    auto* cursor = reinterpret_cast<Cursor*>(base);
    return cursor->next >= cursor->rows.size();
}

int column(sqlite3_vtab_cursor* base, sqlite3_context* context, int index) {
    auto* cursor = reinterpret_cast<Cursor*>(base);
    const auto& row = cursor->rows[cursor->next];
    if (index >= static_cast<int>(row.size())) {
        sqlite3_result_null(context);  // a hidden argument column
        return SQLITE_OK;
    }
    const Cell& cell = row[index];
    if (const auto* integer = std::get_if<int64_t>(&cell))
        sqlite3_result_int64(context, *integer);
    else if (const auto* text = std::get_if<std::string>(&cell))
        sqlite3_result_text64(context, text->data(), text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    else
        sqlite3_result_null(context);
    return SQLITE_OK;
}

int rowid(sqlite3_vtab_cursor* base, sqlite_int64* out) {
    *out = static_cast<sqlite_int64>(reinterpret_cast<Cursor*>(base)->next);
    return SQLITE_OK;
}

sqlite3_module make_module() {
    sqlite3_module module;
    std::memset(&module, 0, sizeof module);
    module.xConnect = connect;  // no xCreate: eponymous only
    module.xBestIndex = best_index;
    module.xDisconnect = disconnect;
    module.xOpen = open;
    module.xClose = close;
    module.xFilter = filter;
    module.xNext = next;
    module.xEof = eof;
    module.xColumn = column;
    module.xRowid = rowid;
    return module;
}

const sqlite3_module kModule = make_module();

}  // namespace

int register_table_functions(sqlite3* db, const std::shared_ptr<ConnectionState>& state,
                             const std::vector<TableFunctionSpec>& specs) {
    for (const TableFunctionSpec& spec : specs) {
        // SQLite owns the binding from here and destroys it with the module.
        auto binding = std::make_unique<ModuleBinding>(ModuleBinding{&spec, state});
        int rc = sqlite3_create_module_v2(db, spec.name, &kModule, binding.release(),
                                          [](void* p) { delete static_cast<ModuleBinding*>(p); });
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

}  // namespace ferry::sqlite
