// Rows to jsonb (see row_json.hpp).
#include "row_json.hpp"

#include <cmath>
#include <string>

#include "boundary.hpp"
#include "canonical_row.hpp"

namespace ferry::pg {
namespace {

JsonbValue json_string(const char* data, size_t length) {
    JsonbValue v;
    v.type = jbvString;
    v.val.string.val = const_cast<char*>(data);
    v.val.string.len = static_cast<int>(length);
    return v;
}

// A palloc'd copy, so the text outlives this frame until the jsonb is built.
JsonbValue json_string(const std::string& text) {
    char* copy = pg::value([&]() noexcept { return pnstrdup(text.data(), text.size()); });
    return json_string(copy, text.size());
}

JsonbValue json_numeric(Numeric n) {
    JsonbValue v;
    v.type = jbvNumeric;
    v.val.numeric = n;
    return v;
}

JsonbValue json_float(double d, const std::string& shortest_text) {
    if (!std::isfinite(d))
        return json_string(std::isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
    std::string text = shortest_text;
    Datum n = pg::value([&]() noexcept {
        return DirectFunctionCall3(numeric_in, CStringGetDatum(text.c_str()),
                                   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    });
    return json_numeric(DatumGetNumeric(n));
}

std::string hex_bytes(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out = "\\x";
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

JsonbValue json_value(const ColumnInfo& column, Datum value) {
    switch (column.type_class) {
        case TypeClass::integer: {
            Datum as_numeric = pg::value([&]() noexcept {
                Oid output = column.output.fn_oid;
                int64 n = output == F_INT2OUT   ? DatumGetInt16(value)
                          : output == F_INT4OUT ? DatumGetInt32(value)
                          : output == F_OIDOUT  ? static_cast<int64>(DatumGetObjectId(value))
                                                : DatumGetInt64(value);
                return NumericGetDatum(int64_to_numeric(n));
            });
            return json_numeric(DatumGetNumeric(as_numeric));
        }
        case TypeClass::numeric: {
            Numeric n = pg::value([&]() noexcept { return DatumGetNumeric(value); });
            if (numeric_is_nan(n) || numeric_is_inf(n))
                return json_string(canonical_value(column, value).text);
            return json_numeric(n);
        }
        case TypeClass::float4:
        case TypeClass::float8: {
            double d = column.type_class == TypeClass::float4 ? DatumGetFloat4(value)
                                                              : DatumGetFloat8(value);
            return json_float(d, canonical_value(column, value).text);
        }
        case TypeClass::boolean: {
            JsonbValue v;
            v.type = jbvBool;
            v.val.boolean = DatumGetBool(value);
            return v;
        }
        case TypeClass::jsonb: {
            Jsonb* jb = pg::value([&]() noexcept { return DatumGetJsonbP(value); });
            JsonbValue v;
            v.type = jbvBinary;
            v.val.binary.data = &jb->root;
            v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
            return v;
        }
        case TypeClass::json:
            // Kept as its text in a JSON string: converting to jsonb would
            // reject valid json (\u0000) and fold duplicate keys, and capture
            // must never make a valid write fail.
            return json_string(output_text(column, value));
        case TypeClass::bytea:
            return json_string(hex_bytes(canonical_value(column, value).text));
        default:
            return json_string(canonical_value(column, value).text);
    }
}

// The JSON value of column in row (null included).
JsonbValue column_value(const ColumnInfo& column, const DeformedRow& row) {
    int index = column.attnum - 1;
    if (!row.nulls[index])
        return json_value(column, row.values[index]);
    JsonbValue null_value;
    null_value.type = jbvNull;
    return null_value;
}

// Pushes name: value into an object under construction. PostgreSQL calls only.
void push_member(JsonbParseState** state, const ColumnInfo& column, JsonbValue* value) noexcept {
    JsonbValue name;
    name.type = jbvString;
    name.val.string.val = const_cast<char*>(column.name);
    name.val.string.len = static_cast<int>(strlen(column.name));
    pushJsonbValue(state, WJB_KEY, &name);
    pushJsonbValue(state, WJB_VALUE, value);
}

Datum finish_object(JsonbParseState** state) noexcept {
    return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(state, WJB_END_OBJECT, nullptr)));
}

JsonbValue* allocate_values(int count) {
    return pg::value(
        [&]() noexcept { return static_cast<JsonbValue*>(palloc(sizeof(JsonbValue) * count)); });
}

}  // namespace

Datum key_to_jsonb(const TableInfo& table, const DeformedRow& row) {
    JsonbValue* values = allocate_values(table.key_count);
    for (int k = 0; k < table.key_count; k++)
        values[k] = column_value(table.columns[table.key_columns[k]], row);
    return pg::value([&]() noexcept {
        JsonbParseState* state = nullptr;
        pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
        for (int k = 0; k < table.key_count; k++)
            push_member(&state, table.columns[table.key_columns[k]], &values[k]);
        return finish_object(&state);
    });
}

KeyAndRow key_and_row_to_jsonb(const TableInfo& table, const DeformedRow& row) {
    JsonbValue* values = allocate_values(table.column_count);
    for (int c = 0; c < table.column_count; c++)
        values[c] = column_value(table.columns[c], row);
    return pg::value([&]() noexcept {
        JsonbParseState* key_state = nullptr;
        JsonbParseState* row_state = nullptr;
        pushJsonbValue(&key_state, WJB_BEGIN_OBJECT, nullptr);
        pushJsonbValue(&row_state, WJB_BEGIN_OBJECT, nullptr);
        for (int c = 0; c < table.column_count; c++) {
            const ColumnInfo& column = table.columns[c];
            if (column.is_key)
                push_member(&key_state, column, &values[c]);
            push_member(&row_state, column, &values[c]);
        }
        return KeyAndRow{finish_object(&key_state), finish_object(&row_state)};
    });
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
