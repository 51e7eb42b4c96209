// RAII over the SQLite C API (see database.hpp).
#include "database.hpp"

namespace ferry::sqlite {

ferry::Error sqlite_error(sqlite3* db, std::string_view doing) {
    int code = sqlite3_extended_errcode(db);
    ErrorKind kind = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED
                         ? ErrorKind::locked
                         : ErrorKind::invalid_input;
    return ferry::Error(kind, std::string(doing) + ": " + sqlite3_errmsg(db));
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
        throw sqlite_error(db, "preparing a statement");
    stmt_.reset(raw);
}

Statement& Statement::bind(int index, std::nullopt_t) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
}

Statement& Statement::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_.get(), index, value);
    return *this;
}

Statement& Statement::bind(int index, double value) {
    sqlite3_bind_double(stmt_.get(), index, value);
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                        SQLITE_UTF8);
    return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind(index, std::nullopt);
}

Statement& Statement::bind_value(int index, sqlite3_value* value) {
    sqlite3_bind_value(stmt_.get(), index, value);
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    throw sqlite_error(db_, "running a statement");
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

int64_t Statement::integer(int column) const {
    return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::real(int column) const {
    return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
    int length = sqlite3_column_bytes(stmt_.get(), column);
    return text ? std::string(reinterpret_cast<const char*>(text), length) : std::string();
}

std::optional<std::string> Statement::optional_text(int column) const {
    if (is_null(column))
        return std::nullopt;
    return text(column);
}

sqlite3_value* Statement::value(int column) const {
    return sqlite3_column_value(stmt_.get(), column);
}

int Statement::column_count() const {
    return sqlite3_column_count(stmt_.get());
}

void exec(sqlite3* db, const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw ferry::Error(ErrorKind::invalid_input, text);
    }
}

Savepoint::Savepoint(sqlite3* db) : db_(db) {
    exec(db_, "SAVEPOINT ferry");
}

Savepoint::~Savepoint() {
    if (open_) {
        sqlite3_exec(db_, "ROLLBACK TO ferry; RELEASE ferry", nullptr, nullptr, nullptr);
    }
}

void Savepoint::release() {
    exec(db_, "RELEASE ferry");
    open_ = false;
}

}  // namespace ferry::sqlite
