// ferry_to_upsert(sql [, options]) over core's converter (core/include/ferry/upsert.hpp).
#include "upsert.hpp"

#include <nlohmann/json.hpp>

#include "ferry/upsert.hpp"
#include "table_shape.hpp"

namespace ferry::sqlite {
namespace {

upsert::Options parse_options(const std::optional<std::string>& text) {
    upsert::Options options;
    options.source = upsert::Dialect::sqlite;
    if (!text)
        return options;
    nlohmann::json parsed = nlohmann::json::parse(*text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object())
        throw ferry::Error(ErrorKind::invalid_input, "options must be a JSON object");
    for (const auto& [key, value] : parsed.items()) {
        if (key == "skip_other_statements" && value.is_boolean()) {
            options.skip_other_statements = value.get<bool>();
        } else if (key == "source" && value == "postgresql") {
            options.source = upsert::Dialect::postgresql;
        } else if (key == "source" && value == "sqlite") {
            options.source = upsert::Dialect::sqlite;
        } else {
            throw ferry::Error(ErrorKind::invalid_input, "invalid upsert option \"" + key + "\"",
                               "",
                               "Options: {\"source\": \"sqlite\" | \"postgresql\", "
                               "\"skip_other_statements\": true | false}.");
        }
    }
    return options;
}

std::string lower_ascii(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return text;
}

// Tables of the main database, found as SQLite finds them. A schema in the
// dump (a PostgreSQL dump's "public") is dropped from the output: SQLite has
// one namespace per file.
upsert::TableLookup lookup_in(sqlite3* db) {
    return [db](const upsert::TableName& name) -> std::optional<upsert::TableColumns> {
        // ferry's own state (a .dump of a tracked file has it): not data.
        if (lower_ascii(name.name).rfind("ferry_", 0) == 0) {
            upsert::TableColumns state;
            state.internal = true;
            return state;
        }
        TableShape shape;
        try {
            shape = describe_table(db, name.name);
        } catch (const ferry::Error& e) {
            if (e.kind() == ErrorKind::not_found)
                return std::nullopt;  // the converter says which table, and where
            throw;
        }
        upsert::TableColumns columns;
        for (const Column& column : shape.columns)
            columns.columns.push_back(column.name);
        for (size_t i : shape.key)
            columns.key_columns.push_back(shape.columns[i].name);
        columns.output_name = upsert::TableName{std::nullopt, shape.name};
        return columns;
    };
}

// ferry_to_upsert(sql [, options]) → the data INSERTs of a dump (sqlite3
// .dump, or pg_dump --inserts with {"source": "postgresql"}) as upserts that
// write only rows that differ. Anything else in the dump is refused, or
// dropped with {"skip_other_statements": true}: a peer's dump is data.
void to_upsert(const Call& call, const Args& args, Result& result) {
    // A dump read with readfile() is a blob: its bytes are the text (the
    // converter refuses invalid UTF-8).
    sqlite3_value* value = args.raw(0);
    if (sqlite3_value_type(value) == SQLITE_NULL) {
        result.null();
        return;
    }
    std::string dump = sqlite3_value_type(value) == SQLITE_BLOB
                           ? std::string(static_cast<const char*>(sqlite3_value_blob(value)),
                                         static_cast<size_t>(sqlite3_value_bytes(value)))
                           : args.text(0, "sql");
    upsert::Options options = parse_options(args.optional_text(1));
    result.text(upsert::convert_dump(dump, upsert::Dialect::sqlite, lookup_in(call.db), options));
}

}  // namespace

void add_upsert_functions(std::vector<FunctionSpec>& specs) {
    specs.push_back({"ferry_to_upsert", 1, 2, to_upsert, 0});
}

}  // namespace ferry::sqlite
