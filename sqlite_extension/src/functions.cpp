// The function boundary and argument checks (see functions.hpp).
#include "functions.hpp"

#include <cmath>
#include <exception>
#include <memory>

#include "ferry/duration.hpp"

namespace ferry::sqlite {
namespace {

const char* type_name(int type) {
    switch (type) {
        case SQLITE_INTEGER:
            return "an integer";
        case SQLITE_FLOAT:
            return "a real";
        case SQLITE_TEXT:
            return "text";
        case SQLITE_BLOB:
            return "a blob";
        default:
            return "NULL";
    }
}

// What SQLite hands back to every call: the function and the connection's
// state, which lives as long as any of its functions is registered.
struct Binding {
    const FunctionSpec* spec;
    std::shared_ptr<ConnectionState> state;
};

void call_function(sqlite3_context* context, int argc, sqlite3_value** argv) {
    const auto* binding = static_cast<const Binding*>(sqlite3_user_data(context));
    const FunctionSpec* spec = binding->spec;
    std::string error;
    int code = SQLITE_ERROR;
    try {
        if (argc < spec->min_args || argc > spec->max_args) {
            std::string expected =
                spec->min_args == spec->max_args
                    ? std::to_string(spec->min_args)
                    : std::to_string(spec->min_args) + " to " + std::to_string(spec->max_args);
            throw ferry::Error(ErrorKind::invalid_input, std::string(spec->name) + "() takes " +
                                                             expected + " argument" +
                                                             (spec->max_args == 1 ? "" : "s") +
                                                             ", not " + std::to_string(argc));
        }
        Args args(spec->name, argc, argv);
        Result result(context);
        Call call{sqlite3_context_db_handle(context), *binding->state};
        spec->body(call, args, result);
        return;
    } catch (const ferry::Error& e) {
        error = error_text(e);
        if (e.kind() == ErrorKind::locked)
            code = SQLITE_BUSY;
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(context);
        return;
    } catch (const std::exception& e) {
        error = std::string(spec->name) + "(): internal error: " + e.what();
    } catch (...) {
        error = std::string(spec->name) + "(): internal error";
    }
    sqlite3_result_error(context, error.c_str(), static_cast<int>(error.size()));
    sqlite3_result_error_code(context, code);
}

}  // namespace

std::string error_text(const ferry::Error& error) {
    std::string text = error.what();
    if (!error.detail().empty())
        text += "\nDETAIL:  " + error.detail();
    if (!error.hint().empty())
        text += "\nHINT:  " + error.hint();
    return text;
}

void Args::wrong(int i, const char* name, const char* expected) const {
    throw ferry::Error(ErrorKind::invalid_input,
                       std::string(function_) + "(): " + name + " must be " + expected + ", not " +
                           type_name(i < count_ ? sqlite3_value_type(values_[i]) : SQLITE_NULL));
}

std::string Args::text(int i, const char* name) const {
    if (!has(i) || sqlite3_value_type(values_[i]) == SQLITE_BLOB)
        wrong(i, name, "text");
    const unsigned char* text = sqlite3_value_text(values_[i]);
    return std::string(reinterpret_cast<const char*>(text), sqlite3_value_bytes(values_[i]));
}

std::optional<std::string> Args::optional_text(int i) const {
    if (!has(i))
        return std::nullopt;
    const unsigned char* text = sqlite3_value_text(values_[i]);
    return std::string(reinterpret_cast<const char*>(text), sqlite3_value_bytes(values_[i]));
}

int64_t Args::integer(int i, const char* name) const {
    if (!has(i))
        wrong(i, name, "an integer");
    sqlite3_value* value = values_[i];
    // Numeric text ('42') is accepted as SQLite itself accepts it.
    if (sqlite3_value_numeric_type(value) != SQLITE_INTEGER)
        wrong(i, name, "an integer");
    return sqlite3_value_int64(value);
}

std::optional<int64_t> Args::optional_integer(int i, const char* name) const {
    if (!has(i))
        return std::nullopt;
    return integer(i, name);
}

double Args::seconds(int i, const char* name) const {
    if (!has(i))
        wrong(i, name, "a duration");
    sqlite3_value* value = values_[i];
    int type = sqlite3_value_numeric_type(value);
    double seconds = 0;
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        seconds = sqlite3_value_double(value);
    } else if (type == SQLITE_TEXT) {
        try {
            seconds = ferry::parse_duration(text(i, name));
        } catch (const ferry::Error& e) {
            throw ferry::Error(e.kind(), std::string(function_) + "(): " + name + ": " + e.what(),
                               e.detail(), e.hint());
        }
    } else {
        wrong(i, name, "a duration (seconds, or text such as '5 minutes')");
    }
    // SQLite's date arithmetic gives NULL past the year 9999: keep well inside.
    constexpr double kHundredYears = 100 * 365.25 * 86400;
    if (!(seconds <= kHundredYears))
        throw ferry::Error(ErrorKind::invalid_input,
                           std::string(function_) + "(): " + name + " must be at most 100 years");
    return seconds;
}

void Result::json(std::string_view value) {
    text(value);
    sqlite3_result_subtype(context_, 'J');  // the subtype SQLite's JSON functions use
}

int register_functions(sqlite3* db, const std::shared_ptr<ConnectionState>& state,
                       const std::vector<FunctionSpec>& specs) {
    for (const FunctionSpec& spec : specs) {
        // SQLite owns the binding from here, and destroys it with the
        // function (also when registration fails).
        auto binding = std::make_unique<Binding>(Binding{&spec, state});
        int rc = sqlite3_create_function_v2(db, spec.name, -1, SQLITE_UTF8 | spec.flags,
                                            binding.release(), call_function, nullptr, nullptr,
                                            [](void* p) { delete static_cast<Binding*>(p); });
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

}  // namespace ferry::sqlite
