// The one boundary between C++ and PostgreSQL (docs/design.md, "Errors").
//
// PostgreSQL -> C++: every SQL-callable and trigger function is defined with
// FERRY_FUNCTION. Its C++ body runs inside try/catch; whatever it throws is
// copied out, the try scope closes (destroying every C++ object), and only then
// is the error raised with ereport, keeping SQLSTATE, detail and hint.
//
// C++ -> PostgreSQL: a PostgreSQL function that can raise an error is called
// only inside pg::call([&]() noexcept { ... }). The lambda runs under PG_TRY;
// an error is copied and re-thrown as pg::PgError once PG_TRY has been left.
// The lambda may hold only trivially destructible locals, so the longjmp that
// brings PostgreSQL's error to PG_TRY skips no destructor.
#pragma once

#include "pg_headers.hpp"

#include <exception>
#include <string>
#include <type_traits>

#include "ferry/error.hpp"

namespace ferry::pg {

// A PostgreSQL error caught by pg::call. It must reach the boundary: the
// transaction is in an error state and only re-raising it is safe.
class PgError : public std::exception {
  public:
    explicit PgError(ErrorData* data) : data_(data) {}
    ErrorData* data() const noexcept { return data_; }
    const char* what() const noexcept override;

  private:
    ErrorData* data_;  // palloc'd copy, freed with the error's memory context
};

// A ferry error that knows the exact SQLSTATE to report (made with
// MAKE_SQLSTATE / the ERRCODE_ macros); plain ferry::Error maps by kind.
class SqlError : public ferry::Error {
  public:
    SqlError(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : ferry::Error(ErrorKind::invalid_input, std::move(message), std::move(detail),
                       std::move(hint)),
          sqlstate_(sqlstate) {}
    int sqlstate() const noexcept { return sqlstate_; }

  private:
    int sqlstate_;
};

namespace detail {
// Runs fn(arg) under PG_TRY; returns the copied error, or nullptr.
ErrorData* run_under_pg_try(void (*fn)(void*), void* arg) noexcept;
}  // namespace detail

// Calls PostgreSQL code; a PostgreSQL error becomes a PgError exception.
template <class F>
void call(F&& body) {
    static_assert(noexcept(body()), "pg::call takes a noexcept lambda: no C++ under PG_TRY");
    using Body = std::remove_reference_t<F>;
    ErrorData* error = detail::run_under_pg_try(
        [](void* p) noexcept { (*static_cast<Body*>(p))(); }, static_cast<void*>(&body));
    if (error)
        throw PgError(error);
}

// The same, for a call that returns a value.
template <class F>
auto value(F&& body) {
    static_assert(noexcept(body()), "pg::value takes a noexcept lambda: no C++ under PG_TRY");
    decltype(body()) result{};
    call([&]() noexcept { result = body(); });
    return result;
}

// Runs C++ code with `context` as CurrentMemoryContext, and switches back
// whether the code returns or throws.
template <class Body>
void in_context(MemoryContext context, Body&& body) {
    MemoryContext previous = MemoryContextSwitchTo(context);
    try {
        body();
    } catch (...) {
        MemoryContextSwitchTo(previous);
        throw;
    }
    MemoryContextSwitchTo(previous);
}

// Runs a C++ function body for PostgreSQL; see FERRY_FUNCTION.
Datum run_boundary(Datum (*body)(FunctionCallInfo), FunctionCallInfo fcinfo) noexcept;

}  // namespace ferry::pg

// Defines the SQL-callable C function `name` whose C++ body follows the macro.
#define FERRY_FUNCTION(name)                                   \
    static Datum name##_body(FunctionCallInfo fcinfo);         \
    extern "C" {                                               \
    PG_FUNCTION_INFO_V1(name);                                 \
    }                                                          \
    extern "C" Datum name(PG_FUNCTION_ARGS) {                  \
        return ::ferry::pg::run_boundary(name##_body, fcinfo); \
    }                                                          \
    static Datum name##_body(FunctionCallInfo fcinfo)
