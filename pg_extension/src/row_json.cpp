// Rows to jsonb (see row_json.hpp).
#include "row_json.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "boundary.hpp"
#include "canonical_row.hpp"
#include "ferry/change_set.hpp"

namespace ferry::pg {
namespace {

// jsonb's on-disk numeric format (utils/adt/numeric.c; fixed by pg_upgrade
// compatibility): the short form, which every integer of up to 64 bits fits.
constexpr uint16 numeric_short = 0x8000;
constexpr uint16 numeric_short_sign = 0x2000;
constexpr int numeric_base = 10000;

// One column value in jsonb's binary form: the JEntry type bits and the bytes
// that go to the object's data area. Numerics and containers start at a
// 4-byte boundary of the jsonb value. The bytes live at least until the row
// context is reset.
struct JsonbScalar {
    uint32 type = JENTRY_ISNULL;
    bool aligned = false;
    const char* data = nullptr;
    uint32 length = 0;
};

JsonbScalar string_scalar(std::string_view text) {
    return {JENTRY_ISSTRING, false, text.data(), static_cast<uint32>(text.size())};
}

// A palloc'd copy, so the text outlives this frame until the jsonb is built.
JsonbScalar string_scalar(const std::string& text) {
    char* copy = pg::value([&]() noexcept { return pnstrdup(text.data(), text.size()); });
    return string_scalar(std::string_view(copy, text.size()));
}

JsonbScalar numeric_scalar(Numeric n) {
    return {JENTRY_ISNUMERIC, true, reinterpret_cast<const char*>(n),
            static_cast<uint32>(VARSIZE(n))};
}

// n as a short-form numeric (4-byte varlena header, then base-10000 digits,
// most significant first, without trailing zero digits), as int64_to_numeric
// makes it, without its function-call and arbitrary-precision overhead.
JsonbScalar integer_scalar(int64 n) {
    uint64 magnitude = n < 0 ? static_cast<uint64>(-(n + 1)) + 1 : static_cast<uint64>(n);
    int16 reversed[5];
    int count = 0;
    for (; magnitude != 0; magnitude /= numeric_base)
        reversed[count++] = static_cast<int16>(magnitude % numeric_base);
    int weight = count - 1;
    int first = 0;
    while (first < count && reversed[first] == 0)  // trailing zero digits
        first++;
    int digits = count - first;
    size_t size = VARHDRSZ + sizeof(uint16) + digits * sizeof(int16);
    char* bytes = static_cast<char*>(pg::value([&]() noexcept { return palloc(size); }));
    SET_VARSIZE(bytes, size);
    uint16 header = numeric_short | (n < 0 ? numeric_short_sign : 0) |
                    static_cast<uint16>(count == 0 ? 0 : weight);
    std::memcpy(bytes + VARHDRSZ, &header, sizeof header);
    auto* out = reinterpret_cast<int16*>(bytes + VARHDRSZ + sizeof header);
    for (int i = 0; i < digits; i++)
        out[i] = reversed[count - 1 - i];
    return {JENTRY_ISNUMERIC, true, bytes, static_cast<uint32>(size)};
}

JsonbScalar float_scalar(double d, const std::string& shortest_text) {
    if (!std::isfinite(d))
        return string_scalar(std::string(std::isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity"));
    Datum n = pg::value([&]() noexcept {
        return DirectFunctionCall3(numeric_in, CStringGetDatum(shortest_text.c_str()),
                                   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    });
    return numeric_scalar(DatumGetNumeric(n));
}

// A jsonb column's value: its root container, or the scalar a raw-scalar
// root wraps (as jsonb itself unwraps it when nesting).
JsonbScalar jsonb_scalar(Datum value) {
    Jsonb* jb = pg::value([&]() noexcept { return DatumGetJsonbP(value); });
    if (!JB_ROOT_IS_SCALAR(jb))
        return {JENTRY_ISCONTAINER, true, reinterpret_cast<const char*>(&jb->root),
                static_cast<uint32>(VARSIZE(jb) - VARHDRSZ)};
    JEntry entry = jb->root.children[0];
    uint32 type = entry & JENTRY_TYPEMASK;
    return {type, type == JENTRY_ISNUMERIC, reinterpret_cast<const char*>(&jb->root.children[1]),
            JBE_OFFLENFLD(entry)};
}

std::string hex_bytes(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out = "\\x";
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

JsonbScalar json_value(const ColumnInfo& column, Datum value) {
    switch (column.type_class) {
        case TypeClass::integer: {
            Oid output = column.output.fn_oid;
            return integer_scalar(output == F_INT2OUT   ? DatumGetInt16(value)
                                  : output == F_INT4OUT ? DatumGetInt32(value)
                                  : output == F_OIDOUT ? static_cast<int64>(DatumGetObjectId(value))
                                                       : DatumGetInt64(value));
        }
        case TypeClass::numeric: {
            // Detoasted: jsonb keeps numerics with a 4-byte header.
            Numeric n = pg::value([&]() noexcept { return DatumGetNumeric(value); });
            if (numeric_is_nan(n) || numeric_is_inf(n))
                return string_scalar(canonical_value(column, value).text);
            return numeric_scalar(n);
        }
        case TypeClass::float4:
        case TypeClass::float8: {
            double d = column.type_class == TypeClass::float4 ? DatumGetFloat4(value)
                                                              : DatumGetFloat8(value);
            return float_scalar(d, canonical_value(column, value).text);
        }
        case TypeClass::boolean:
            return {
                static_cast<uint32>(DatumGetBool(value) ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE),
                false, nullptr, 0};
        case TypeClass::jsonb:
            return jsonb_scalar(value);
        case TypeClass::json:
            // Kept as its text in a JSON string: converting to jsonb would
            // reject valid json (\u0000) and fold duplicate keys, and capture
            // must never make a valid write fail.
            return string_scalar(output_text(column, value));
        case TypeClass::bytea:
            return string_scalar(hex_bytes(varlena_view(value)));
        case TypeClass::text:
            if (column.output.fn_oid == F_TEXTOUT)
                return string_scalar(varlena_view(value));
            break;
        case TypeClass::bpchar: {
            std::string_view text = varlena_view(value);
            return string_scalar(canonical::without_trailing_blanks(text));
        }
        default:
            break;
    }
    return string_scalar(canonical_value(column, value).text);
}

void encode_columns(const TableInfo& table, const DeformedRow& row, const int* order, int count,
                    JsonbScalar* out) {
    for (int i = 0; i < count; i++) {
        const ColumnInfo& column = table.columns[order[i]];
        int index = column.attnum - 1;
        out[order[i]] = row.nulls[index] ? JsonbScalar{} : json_value(column, row.values[index]);
    }
}

// Writes a jsonb object straight in its on-disk form (utils/jsonb.h): a
// container header, the JEntries of all keys and then of all values, then
// the keys' bytes and the values' bytes. order lists the members in jsonb's
// key order (see TableInfo::json_order); every JB_OFFSET_STRIDE-th JEntry
// holds an end offset instead of a length, as jsonb's own writer does.
// json_nulls, when given, is the value of one more member, kJsonNullsMember,
// which jsonb's order puts last (it is longer than any column's name).
Datum build_object(const TableInfo& table, const int* order, int count, const JsonbScalar* values,
                   const JsonbScalar* json_nulls = nullptr) {
    int members = count + (json_nulls ? 1 : 0);
    auto name_of = [&](int i) {
        return i < count ? table.columns[order[i]].name : changes::kJsonNullsMember;
    };
    auto value_of = [&](int i) -> const JsonbScalar& {
        return i < count ? values[order[i]] : *json_nulls;
    };
    uint32 data_start = VARHDRSZ + sizeof(uint32) + 2 * members * sizeof(JEntry);
    uint64 end = data_start;
    for (int i = 0; i < members; i++)
        end += strlen(name_of(i));
    for (int i = 0; i < members; i++) {
        const JsonbScalar& value = value_of(i);
        if (value.aligned)
            end = INTALIGN(end);
        end += value.length;
    }
    if (end - data_start > JENTRY_OFFLENMASK)
        throw SqlError(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED, "row of table too large for the change log",
            "A jsonb object holds at most " + std::to_string(JENTRY_OFFLENMASK) + " bytes.");
    char* out = static_cast<char*>(pg::value([&]() noexcept { return palloc0(end); }));
    SET_VARSIZE(out, end);
    uint32 header = JB_FOBJECT | static_cast<uint32>(members);
    std::memcpy(out + VARHDRSZ, &header, sizeof header);
    auto* entries = reinterpret_cast<JEntry*>(out + VARHDRSZ + sizeof header);
    uint32 offset = data_start;  // from the start of the varlena
    auto add_entry = [&](int index, uint32 type, uint32 start) {
        uint32 length = offset - start;
        uint32 data_end = offset - data_start;
        entries[index] =
            index % JB_OFFSET_STRIDE == 0 ? (type | data_end | JENTRY_HAS_OFF) : (type | length);
    };
    for (int i = 0; i < members; i++) {
        const char* name = name_of(i);
        uint32 start = offset;
        size_t length = strlen(name);
        std::memcpy(out + offset, name, length);
        offset += length;
        add_entry(i, JENTRY_ISSTRING, start);
    }
    for (int i = 0; i < members; i++) {
        const JsonbScalar& value = value_of(i);
        uint32 start = offset;
        if (value.aligned)
            offset = INTALIGN(offset);  // the padding counts in the value's length
        if (value.length > 0)
            std::memcpy(out + offset, value.data, value.length);
        offset += value.length;
        add_entry(members + i, value.type, start);
    }
    return PointerGetDatum(out);
}

// The names of the jsonb columns of `row` that hold JSON null, as a jsonb
// array, or nullopt when none does (nearly every row: it costs a look at
// each jsonb column's encoded value).
std::optional<JsonbScalar> json_null_columns(const TableInfo& table, const DeformedRow& row,
                                             const JsonbScalar* values) {
    std::optional<std::string> names;
    for (int i = 0; i < table.column_count; i++) {
        const ColumnInfo& column = table.columns[i];
        if (column.type_class != TypeClass::jsonb || row.nulls[column.attnum - 1] ||
            values[i].type != JENTRY_ISNULL)
            continue;
        names = names ? *names + "," : "[";
        pg::call([&]() noexcept {
            StringInfoData quoted;
            initStringInfo(&quoted);
            escape_json(&quoted, column.name);
            names->append(quoted.data, quoted.len);
            pfree(quoted.data);
        });
    }
    if (!names)
        return std::nullopt;
    *names += "]";
    Datum array = pg::value(
        [&]() noexcept { return DirectFunctionCall1(jsonb_in, CStringGetDatum(names->c_str())); });
    return jsonb_scalar(array);
}

JsonbScalar* allocate_values(int count) {
    return pg::value([&]() noexcept {
        return static_cast<JsonbScalar*>(palloc(sizeof(JsonbScalar) * std::max(count, 1)));
    });
}

}  // namespace

Datum key_to_jsonb(const TableInfo& table, const DeformedRow& row) {
    JsonbScalar* values = allocate_values(table.column_count);
    encode_columns(table, row, table.json_key_order, table.key_count, values);
    return build_object(table, table.json_key_order, table.key_count, values);
}

KeyAndRow key_and_row_to_jsonb(const TableInfo& table, const DeformedRow& row) {
    JsonbScalar* values = allocate_values(table.column_count);
    encode_columns(table, row, table.json_order, table.column_count, values);
    std::optional<JsonbScalar> json_nulls;
    if (table.has_jsonb)
        json_nulls = json_null_columns(table, row, values);
    return {build_object(table, table.json_key_order, table.key_count, values),
            build_object(table, table.json_order, table.column_count, values,
                         json_nulls ? &*json_nulls : nullptr)};
}

bool same_key(const TableInfo& table, const DeformedRow& a, const DeformedRow& b, TupleDesc desc) {
    for (int i = 0; i < table.key_count; i++) {
        int index = table.columns[table.key_columns[i]].attnum - 1;
        Form_pg_attribute attr = TupleDescAttr(desc, index);
        if (a.nulls[index] != b.nulls[index])
            return false;
        if (a.nulls[index])
            continue;
        bool equal = pg::value([&]() noexcept {
            return datumIsEqual(a.values[index], b.values[index], attr->attbyval, attr->attlen);
        });
        if (!equal)
            return false;
    }
    return true;
}

}  // namespace ferry::pg
