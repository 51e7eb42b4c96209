// Implementation of the C++/PostgreSQL error boundary (see boundary.hpp).
#include "boundary.hpp"

#include <cstdio>
#include <new>

namespace ferry::pg {

const char* PgError::what() const noexcept {
    return data_ && data_->message ? data_->message : "PostgreSQL error";
}

namespace detail {

ErrorData* run_under_pg_try(void (*fn)(void*), void* arg) noexcept {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData* volatile error = nullptr;
    PG_TRY();
    { fn(arg); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        error = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    return error;
}

}  // namespace detail

namespace {

int sqlstate_for(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_input:
            return ERRCODE_INVALID_PARAMETER_VALUE;
        case ErrorKind::not_found:
            return ERRCODE_UNDEFINED_OBJECT;
        case ErrorKind::unsupported:
            return ERRCODE_FEATURE_NOT_SUPPORTED;
        case ErrorKind::conflict:
            return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
        case ErrorKind::locked:
            return ERRCODE_LOCK_NOT_AVAILABLE;
        case ErrorKind::connection:
            return ERRCODE_CONNECTION_FAILURE;
        case ErrorKind::io:
            return ERRCODE_IO_ERROR;
        case ErrorKind::internal:
            return ERRCODE_INTERNAL_ERROR;
    }
    return ERRCODE_INTERNAL_ERROR;
}

// The error text is copied here while the exception is alive, so that no C++
// object exists when ereport longjmps. Backends are single-threaded.
struct PendingError {
    int sqlstate;
    char message[2048];
    char detail[2048];
    char hint[1024];
};
PendingError pending;

void copy_text(char* dest, size_t size, const char* text) {
    std::snprintf(dest, size, "%s", text ? text : "");
}

void set_pending(int sqlstate, const char* message, const char* detail, const char* hint) {
    pending.sqlstate = sqlstate;
    copy_text(pending.message, sizeof pending.message, message);
    copy_text(pending.detail, sizeof pending.detail, detail);
    copy_text(pending.hint, sizeof pending.hint, hint);
}

}  // namespace

Datum run_boundary(Datum (*body)(FunctionCallInfo), FunctionCallInfo fcinfo) noexcept {
    ErrorData* postgres_error = nullptr;
    try {
        return body(fcinfo);
    } catch (const PgError& e) {
        postgres_error = e.data();
    } catch (const SqlError& e) {
        set_pending(e.sqlstate(), e.what(), e.detail().c_str(), e.hint().c_str());
    } catch (const ferry::Error& e) {
        set_pending(sqlstate_for(e.kind()), e.what(), e.detail().c_str(), e.hint().c_str());
    } catch (const std::bad_alloc&) {
        set_pending(ERRCODE_OUT_OF_MEMORY, "out of memory", nullptr, nullptr);
    } catch (const std::exception& e) {
        set_pending(ERRCODE_INTERNAL_ERROR, e.what(), nullptr, nullptr);
    } catch (...) {
        set_pending(ERRCODE_INTERNAL_ERROR, "unknown C++ exception in ferry", nullptr, nullptr);
    }
    // The try scope is closed: no C++ object is alive in this frame any more.
    if (postgres_error)
        ReThrowError(postgres_error);
    ereport(ERROR, (errcode(pending.sqlstate), errmsg_internal("%s", pending.message),
                    pending.detail[0] ? errdetail_internal("%s", pending.detail) : 0,
                    pending.hint[0] ? errhint("%s", pending.hint) : 0));
    pg_unreachable();
}

}  // namespace ferry::pg
