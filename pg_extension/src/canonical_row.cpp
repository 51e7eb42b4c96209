// Canonical values and row hashes of PostgreSQL tuples (see canonical_row.hpp).
#include "canonical_row.hpp"

#include <cstdio>

#include "boundary.hpp"

namespace ferry::pg {
namespace {

// The integer value of an integer or boolean column.
int64_t integer_value(const ColumnInfo& column, Datum value) {
    if (column.type_class == TypeClass::boolean)
        return DatumGetBool(value) ? 1 : 0;
    switch (column.output.fn_oid) {
        case F_INT2OUT:
            return DatumGetInt16(value);
        case F_INT4OUT:
            return DatumGetInt32(value);
        case F_OIDOUT:
            return DatumGetObjectId(value);
        default:
            return DatumGetInt64(value);
    }
}

std::string varlena_bytes(Datum value) {
    return std::string(varlena_view(value));
}

// YYYY-MM-DD of a year of the proleptic Gregorian calendar; a year before 1
// is printed as PostgreSQL prints it, counted back from 1 BC (year 0), and
// era_suffix() then ends the canonical text.
std::string format_year_month_day(int year, int month, int day) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year > 0 ? year : 1 - year, month, day);
    return buf;
}

const char* era_suffix(int year) {
    return year > 0 ? "" : " BC";
}

std::string format_date(DateADT date) {
    if (DATE_IS_NOBEGIN(date))
        return "-infinity";
    if (DATE_IS_NOEND(date))
        return "infinity";
    int year, month, day;
    j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    return format_year_month_day(year, month, day) + era_suffix(year);
}

std::string format_time_of_day(int hour, int minute, int second, fsec_t fraction) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06d", hour, minute, second,
                  static_cast<int>(fraction));
    return buf;
}

// ISO 8601 with microseconds; with utc, the instant in UTC with a Z suffix.
std::string format_timestamp(Timestamp ts, bool utc) {
    if (TIMESTAMP_IS_NOBEGIN(ts))
        return "-infinity";
    if (TIMESTAMP_IS_NOEND(ts))
        return "infinity";
    struct pg_tm tm;
    fsec_t fraction;
    // With a null time zone pointer timestamp2tm does no zone conversion, so a
    // timestamptz comes out in UTC.
    if (timestamp2tm(ts, nullptr, &tm, &fraction, nullptr, nullptr) != 0)
        throw SqlError(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "timestamp out of range");
    return format_year_month_day(tm.tm_year, tm.tm_mon, tm.tm_mday) + "T" +
           format_time_of_day(tm.tm_hour, tm.tm_min, tm.tm_sec, fraction) + (utc ? "Z" : "") +
           era_suffix(tm.tm_year);
}

std::string format_time(TimeADT time) {
    int64 usec = time % USECS_PER_SEC;
    int64 seconds = time / USECS_PER_SEC;
    return format_time_of_day(static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60 % 60),
                              static_cast<int>(seconds % 60), static_cast<fsec_t>(usec));
}

std::string strip_trailing_blanks(std::string text) {
    text.resize(canonical::without_trailing_blanks(text).size());
    return text;
}

}  // namespace

// The bytes of a text-like or bytea value, detoasted but not copied.
std::string_view varlena_view(Datum value) {
    struct varlena* detoasted = pg::value([&]() noexcept {
        return pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(value)));
    });
    return std::string_view(VARDATA_ANY(detoasted), VARSIZE_ANY_EXHDR(detoasted));
}

namespace {

// While it lives, output functions print in one form whatever the session
// sets (docs/hashing.md): dates in ISO, intervals in PostgreSQL's style, as
// pg_dump prints them. Arrays, ranges and other types logged and hashed by
// their text then read and hash alike in every session. (The settings are
// the GUC variables themselves; each is put back also when the output
// function fails, as that comes here as an exception.) TimeZone stays: a
// full sync writes such values in the server's zone, as pg_dump does.
class PinnedOutputStyles {
  public:
    PinnedOutputStyles()
        : date_style_(DateStyle), date_order_(DateOrder), interval_style_(IntervalStyle) {
        DateStyle = USE_ISO_DATES;
        DateOrder = DATEORDER_YMD;
        IntervalStyle = INTSTYLE_POSTGRES;
    }
    ~PinnedOutputStyles() {
        DateStyle = date_style_;
        DateOrder = date_order_;
        IntervalStyle = interval_style_;
    }
    PinnedOutputStyles(const PinnedOutputStyles&) = delete;
    PinnedOutputStyles& operator=(const PinnedOutputStyles&) = delete;

  private:
    int date_style_;
    int date_order_;
    int interval_style_;
};

}  // namespace

std::string output_text(const ColumnInfo& column, Datum value) {
    PinnedOutputStyles pinned;
    char* text = pg::value([&]() noexcept {
        return OutputFunctionCall(const_cast<FmgrInfo*>(&column.output), value);
    });
    return std::string(text);
}

CanonicalValue canonical_value(const ColumnInfo& column, Datum value) {
    using canonical::ValueClass;
    switch (column.type_class) {
        case TypeClass::integer:
            return {ValueClass::number, canonical::number_from_int(integer_value(column, value))};
        case TypeClass::numeric:
            return {ValueClass::number, canonical::normalize_number(output_text(column, value))};
        case TypeClass::float4:
            return {ValueClass::number, canonical::number_from_float(DatumGetFloat4(value))};
        case TypeClass::float8:
            return {ValueClass::number, canonical::number_from_double(DatumGetFloat8(value))};
        case TypeClass::boolean:
            return {ValueClass::number, canonical::number_from_int(integer_value(column, value))};
        case TypeClass::text:
            if (column.output.fn_oid == F_CHAROUT || column.output.fn_oid == F_NAMEOUT)
                return {ValueClass::text, output_text(column, value)};
            return {ValueClass::text, varlena_bytes(value)};
        case TypeClass::bpchar:
            return {ValueClass::text, strip_trailing_blanks(varlena_bytes(value))};
        case TypeClass::bytea:
            return {ValueClass::bytes, varlena_bytes(value)};
        case TypeClass::json:
        case TypeClass::jsonb:
            return {ValueClass::text, canonical::normalize_json(output_text(column, value))};
        case TypeClass::date:
            return {ValueClass::text, format_date(DatumGetDateADT(value))};
        case TypeClass::time:
            return {ValueClass::text, format_time(DatumGetTimeADT(value))};
        case TypeClass::timestamp:
            return {ValueClass::text, format_timestamp(DatumGetTimestamp(value), false)};
        case TypeClass::timestamptz:
            return {ValueClass::text, format_timestamp(DatumGetTimestampTz(value), true)};
        case TypeClass::other:
            return {ValueClass::text, output_text(column, value)};
    }
    return {ValueClass::text, output_text(column, value)};
}

namespace {

// Hashes are of UTF-8 text whatever the database's encoding, so that a row
// hashes alike in a LATIN1 database, a UTF-8 one and SQLite.
bool text_needs_conversion() {
    int encoding = GetDatabaseEncoding();
    return encoding != PG_UTF8 && encoding != PG_SQL_ASCII;
}

std::string to_utf8(const std::string& text) {
    const char* converted = pg::value([&]() noexcept {
        return pg_server_to_any(text.data(), static_cast<int>(text.size()), PG_UTF8);
    });
    return converted == text.data() ? text : std::string(converted);
}

}  // namespace

void encode_row(const TableInfo& table, const DeformedRow& row, canonical::RowEncoder& encoder,
                bool key_only) {
    const bool convert = text_needs_conversion();
    encoder.clear();
    for (int i = 0; i < table.column_count; i++) {
        const ColumnInfo& column = table.columns[table.name_order[i]];
        if (key_only && !column.is_key)
            continue;
        std::string_view name(column.name, column.name_length);
        int index = column.attnum - 1;
        if (row.nulls[index]) {
            encoder.add_null(name);
            continue;
        }
        Datum value = row.values[index];
        // The common types go straight into the encoder, without a string.
        switch (column.type_class) {
            case TypeClass::integer:
            case TypeClass::boolean:
                encoder.add_int(name, integer_value(column, value));
                continue;
            case TypeClass::text:
                if (column.output.fn_oid != F_TEXTOUT || convert)
                    break;
                encoder.add_text(name, varlena_view(value));
                continue;
            case TypeClass::bpchar: {
                if (convert)
                    break;
                std::string_view bytes = varlena_view(value);
                encoder.add_text(name, canonical::without_trailing_blanks(bytes));
                continue;
            }
            case TypeClass::bytea:
                encoder.add_bytes(name, varlena_view(value));
                continue;
            default:
                break;
        }
        CanonicalValue canonical = canonical_value(column, value);
        switch (canonical.value_class) {
            case canonical::ValueClass::number:
                encoder.add_number(name, canonical.text);
                break;
            case canonical::ValueClass::bytes:
                encoder.add_bytes(name, canonical.text);
                break;
            default:
                encoder.add_text(name, convert ? to_utf8(canonical.text) : canonical.text);
                break;
        }
    }
}

namespace {
// One encoder per backend: its buffer keeps its capacity from row to row.
canonical::RowEncoder shared_encoder;
}  // namespace

int64_t canonical_row_hash(const TableInfo& table, const DeformedRow& row) {
    encode_row(table, row, shared_encoder, false);
    return static_cast<int64_t>(shared_encoder.hash());
}

canonical::Hash128 canonical_row_hash128(const TableInfo& table, const DeformedRow& row) {
    encode_row(table, row, shared_encoder, false);
    return shared_encoder.hash128();
}

uint64_t canonical_key_hash(const TableInfo& table, const DeformedRow& row) {
    encode_row(table, row, shared_encoder, true);
    return shared_encoder.hash();
}

}  // namespace ferry::pg
