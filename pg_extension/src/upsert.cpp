// ferry.to_upsert(sql [, options]): the data INSERTs of a dump as idempotent
// upserts for this database (SPEC §2.4), over core's streaming converter
// (core/include/ferry/upsert.hpp). The PostgreSQL twin of the SQLite
// extension's ferry_to_upsert.
//
// Tables are resolved in the catalog as the caller would resolve them in a
// statement: qualified names in their schema (which needs USAGE), unqualified
// ones along search_path. The table stays locked (ACCESS SHARE) until the
// transaction ends, so output applied in the same transaction meets the
// columns and key it was written for. The converter works in UTF-8; names
// and text cross to and from the database encoding here.
#include "boundary.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/upsert.hpp"
#include "table_info.hpp"

namespace ferry::pg {
namespace {

namespace upsert = ferry::upsert;

constexpr const char* kOptionsHint =
    "Options: {\"source\": \"postgresql\" | \"sqlite\", \"skip_other_statements\": true | false}.";

// The converter reads and writes UTF-8; a UTF-8 database needs no conversion.
bool database_is_utf8() {
    return GetDatabaseEncoding() == PG_UTF8;
}

// Text in the database encoding as UTF-8, for the converter: the text
// itself in a UTF-8 database, else a palloc'd conversion.
std::string_view utf8_view(const char* text, size_t length) {
    if (database_is_utf8())
        return std::string_view(text, length);
    const char* converted = pg::value([&]() noexcept {
        return static_cast<const char*>(pg_server_to_any(text, static_cast<int>(length), PG_UTF8));
    });
    return converted == text ? std::string_view(text, length) : std::string_view(converted);
}

std::string to_utf8(const char* text) {
    return std::string(utf8_view(text, std::strlen(text)));
}

// A name from the dump (UTF-8) in the database encoding, cut to NAMEDATALEN
// as the parser cuts identifiers, palloc'd for the catalog lookups.
char* catalog_name(const std::string& name) {
    return pg::value([&]() noexcept {
        char* converted = pg_any_to_server(name.c_str(), static_cast<int>(name.size()), PG_UTF8);
        char* copy = converted == name.c_str() ? pstrdup(name.c_str()) : converted;
        truncate_identifier(copy, static_cast<int>(std::strlen(copy)), false);
        return copy;
    });
}

// ---------------------------------------------------------------------------
// Options

[[noreturn]] void bad_option_value(const std::string& key, const char* expected) {
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                   "invalid value for upsert option \"" + key + "\"", expected, kOptionsHint);
}

void apply_option(upsert::Options& options, const std::string& key, const JsonbValue& value) {
    if (key == "source") {
        std::string_view source =
            value.type == jbvString
                ? std::string_view(value.val.string.val, static_cast<size_t>(value.val.string.len))
                : std::string_view();
        if (source == "postgresql")
            options.source = upsert::Dialect::postgresql;
        else if (source == "sqlite")
            options.source = upsert::Dialect::sqlite;
        else
            bad_option_value(key,
                             "Expected \"postgresql\" (pg_dump) or \"sqlite\" (sqlite3 .dump).");
    } else if (key == "skip_other_statements") {
        if (value.type != jbvBool)
            bad_option_value(key, "Expected true or false.");
        options.skip_other_statements = value.val.boolean;
    } else {
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "unrecognized upsert option \"" + key + "\"", "", kOptionsHint);
    }
}

// The options object; a dump is PostgreSQL's unless it says otherwise.
upsert::Options read_options(FunctionCallInfo fcinfo) {
    upsert::Options options;
    options.source = upsert::Dialect::postgresql;
    if (PG_NARGS() < 2 || PG_ARGISNULL(1))
        return options;
    Jsonb* jb = pg::value([&]() noexcept { return PG_GETARG_JSONB_P(1); });
    if (!JB_ROOT_IS_OBJECT(jb))
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "upsert options must be a JSON object", "",
                       kOptionsHint);
    JsonbIterator* it = pg::value([&]() noexcept { return JsonbIteratorInit(&jb->root); });
    JsonbValue value;
    std::string key;
    while (true) {
        // skipNested: an object or array value comes back whole, as one value.
        JsonbIteratorToken token =
            pg::value([&]() noexcept { return JsonbIteratorNext(&it, &value, true); });
        if (token == WJB_DONE)
            break;
        if (token == WJB_KEY)
            key.assign(value.val.string.val, static_cast<size_t>(value.val.string.len));
        else if (token == WJB_VALUE)
            apply_option(options, key, value);
    }
    return options;
}

// ---------------------------------------------------------------------------
// Tables

// What the catalog says of one relation; palloc'd, filled by PostgreSQL calls
// only.
struct CatalogTable {
    Oid relid;
    char relkind;
    bool system;     // a catalog or TOAST table of PostgreSQL's
    bool temporary;  // in this session's temporary schema
    Oid schema_oid;
    const char* schema;
    const char* name;
    int column_count;
    const char** columns;  // in attnum order, dropped columns left out
    bool* by_text;         // per column: compared_by_text() of its base type
    int key_count;
    AttrNumber* key_attnums;   // the primary key, in key order
    const char** key_columns;  // their names
};

// The relation the name resolves to, as a statement naming it would resolve
// it, locked ACCESS SHARE; InvalidOid if there is none.
Oid find_relation(const char* schema, const char* name) {
    return pg::value([&]() noexcept {
        RangeVar* range = makeRangeVar(const_cast<char*>(schema), const_cast<char*>(name), -1);
        return RangeVarGetRelidExtended(range, AccessShareLock, RVR_MISSING_OK, nullptr, nullptr);
    });
}

CatalogTable* read_catalog(Oid relid) {
    return pg::value([&]() noexcept {
        auto* table = static_cast<CatalogTable*>(palloc0(sizeof(CatalogTable)));
        Relation rel = relation_open(relid, NoLock);  // locked by find_relation
        TupleDesc desc = RelationGetDescr(rel);
        table->relid = relid;
        table->relkind = rel->rd_rel->relkind;
        table->system = IsSystemRelation(rel);
        table->schema_oid = RelationGetNamespace(rel);
        table->temporary = isTempNamespace(table->schema_oid);
        table->schema = get_namespace_name(table->schema_oid);
        table->name = pstrdup(RelationGetRelationName(rel));
        table->columns = static_cast<const char**>(palloc(sizeof(char*) * (desc->natts + 1)));
        table->by_text = static_cast<bool*>(palloc(sizeof(bool) * (desc->natts + 1)));
        for (int i = 0; i < desc->natts; i++) {
            Form_pg_attribute attr = TupleDescAttr(desc, i);
            if (attr->attisdropped)
                continue;
            table->by_text[table->column_count] =
                compared_by_text(classify(getBaseType(attr->atttypid)));
            table->columns[table->column_count++] = pstrdup(NameStr(attr->attname));
        }
        Oid key_index = RelationGetPrimaryKeyIndex(rel);
        if (OidIsValid(key_index)) {
            Relation index = index_open(key_index, AccessShareLock);
            int count = index->rd_index->indnkeyatts;
            table->key_attnums = static_cast<AttrNumber*>(palloc(sizeof(AttrNumber) * count));
            table->key_columns = static_cast<const char**>(palloc(sizeof(char*) * count));
            for (int k = 0; k < count; k++) {
                AttrNumber attnum = index->rd_index->indkey.values[k];
                table->key_attnums[k] = attnum;
                table->key_columns[k] = pstrdup(NameStr(TupleDescAttr(desc, attnum - 1)->attname));
            }
            table->key_count = count;
            index_close(index, AccessShareLock);
        }
        relation_close(rel, NoLock);
        return table;
    });
}

std::string display_name(const CatalogTable& table) {
    return std::string(table.schema) + "." + table.name;
}

// A superuser may write the catalogs with plain INSERTs; a peer's dump is
// never allowed to (an upsert into pg_authid could make any role superuser).
void check_not_system(const CatalogTable& table) {
    if (!table.system)
        return;
    throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                   "table \"" + display_name(table) + "\" is a system catalog",
                   "A dump holds the data of user tables; it never writes PostgreSQL's catalogs.",
                   "Leave its rows out of the dump.");
}

void check_is_table(const CatalogTable& table) {
    if (table.relkind == RELKIND_RELATION || table.relkind == RELKIND_PARTITIONED_TABLE)
        return;
    throw SqlError(ERRCODE_WRONG_OBJECT_TYPE, "\"" + display_name(table) + "\" is not a table",
                   "Upserts are written for tables and partitioned tables with a primary key.",
                   "Apply the dump's rows to the table behind it.");
}

bool has_column_privilege(Oid relid, AttrNumber attnum, AclMode mode) {
    return pg::value([&]() noexcept {
        Oid user = GetUserId();
        return pg_class_aclcheck(relid, user, mode) == ACLCHECK_OK ||
               pg_attribute_aclcheck(relid, attnum, user, mode) == ACLCHECK_OK;
    });
}

// Every statement written for the table inserts its key columns and names
// them as the conflict target, which needs INSERT and SELECT on them. A role
// without those cannot use the table at all and is told so now; the other
// privileges the statements need (UPDATE, SELECT on the columns they
// compare) are checked by PostgreSQL when they run.
void check_key_privileges(const CatalogTable& table) {
    for (int k = 0; k < table.key_count; k++) {
        AttrNumber attnum = table.key_attnums[k];
        for (AclMode mode : {ACL_SELECT, ACL_INSERT}) {
            if (has_column_privilege(table.relid, attnum, mode))
                continue;
            throw SqlError(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "permission denied for table \"" + display_name(table) + "\"",
                std::string("The upserts insert key column \"") + table.key_columns[k] +
                    "\" and find existing rows by it, which needs " +
                    (mode == ACL_SELECT ? "SELECT" : "INSERT") + " on it.",
                "Convert and apply the dump as a role granted SELECT, INSERT and UPDATE on the "
                "table.");
        }
    }
}

// Looks the dump's tables up in this database. The output names the table
// found, schema-qualified (pg_temp for a temporary table), so the statements
// mean the same table whatever search_path they run under. ferry's own
// tables (pg_dump --data-only dumps its configuration tables) are this
// peer's state, not data: an INSERT into one is treated as any statement
// other than data.
upsert::TableLookup lookup_tables(upsert::Dialect source, Oid ferry_schema) {
    return [source,
            ferry_schema](const upsert::TableName& name) -> std::optional<upsert::TableColumns> {
        char* schema = name.schema ? catalog_name(*name.schema) : nullptr;
        Oid relid = find_relation(schema, catalog_name(name.name));
        if (!OidIsValid(relid) && source == upsert::Dialect::sqlite) {
            // SQLite keeps names as written and compares them
            // case-insensitively; the same CREATE TABLE run in PostgreSQL
            // folded them to lower case.
            std::string folded = name.name;
            for (char& c : folded)
                c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            if (folded != name.name)
                relid = find_relation(schema, catalog_name(folded));
        }
        if (!OidIsValid(relid))
            return std::nullopt;  // the converter says which table, and where
        const CatalogTable& table = *read_catalog(relid);
        upsert::TableColumns columns;
        if (table.schema_oid == ferry_schema) {
            columns.internal = true;
            return columns;
        }
        check_not_system(table);
        check_is_table(table);
        check_key_privileges(table);
        for (int i = 0; i < table.column_count; i++) {
            columns.columns.push_back(to_utf8(table.columns[i]));
            if (table.by_text[i])
                columns.compared_by_text.push_back(columns.columns.back());
        }
        for (int k = 0; k < table.key_count; k++)
            columns.key_columns.push_back(to_utf8(table.key_columns[k]));
        columns.output_name = upsert::TableName{
            table.temporary ? std::string("pg_temp") : to_utf8(table.schema), to_utf8(table.name)};
        return columns;
    };
}

// ---------------------------------------------------------------------------
// Output

// The result text, built in place: a StringInfo whose first VARHDRSZ bytes
// become the varlena header, so a large result is not copied again.
class TextBuilder {
  public:
    TextBuilder() {
        pg::call([&]() noexcept {
            initStringInfo(&buffer_);
            appendStringInfoSpaces(&buffer_, VARHDRSZ);
        });
    }

    void add_statement(std::string_view statement) {
        pg::call([&]() noexcept {
            if (buffer_.len > VARHDRSZ)
                appendStringInfoChar(&buffer_, '\n');
            appendBinaryStringInfo(&buffer_, statement.data(), static_cast<int>(statement.size()));
        });
    }

    Datum finish() {
        return pg::value([&]() noexcept {
            if (!database_is_utf8()) {
                const char* utf8 = buffer_.data + VARHDRSZ;
                int length = buffer_.len - VARHDRSZ;
                char* converted = pg_any_to_server(utf8, length, PG_UTF8);
                return PointerGetDatum(converted == utf8 ? cstring_to_text_with_len(utf8, length)
                                                         : cstring_to_text(converted));
            }
            SET_VARSIZE(buffer_.data, buffer_.len);
            return PointerGetDatum(buffer_.data);
        });
    }

  private:
    StringInfoData buffer_;
};

// The dump is fed in pieces so that a long conversion can be cancelled.
constexpr size_t kFeedBytes = size_t{1} << 20;

Datum convert(std::string_view dump, const upsert::Options& options, Oid ferry_schema) {
    TextBuilder out;
    upsert::UpsertConverter converter(
        upsert::Dialect::postgresql, lookup_tables(*options.source, ferry_schema), options,
        [&](std::string_view statement) { out.add_statement(statement); });
    while (!dump.empty()) {
        pg::call([]() noexcept { CHECK_FOR_INTERRUPTS(); });
        size_t piece = std::min(dump.size(), kFeedBytes);
        converter.feed(dump.substr(0, piece));
        dump.remove_prefix(piece);
    }
    converter.finish();
    return out.finish();
}

// UTF-8 text of a converter error in the database encoding, which is what
// ereport expects. The text quotes the dump, which came from this database,
// so every character has a spelling in its encoding.
std::string from_utf8(const std::string& text) {
    return pg::value([&]() noexcept {
        return static_cast<const char*>(
            pg_any_to_server(text.c_str(), static_cast<int>(text.size()), PG_UTF8));
    });
}

}  // namespace
}  // namespace ferry::pg

using namespace ferry::pg;

// ferry.to_upsert(sql text, options jsonb) → text: the INSERTs of a dump
// (pg_dump --inserts, or sqlite3 .dump with {"source": "sqlite"}) as upserts
// that write only rows that differ, one statement a line. Anything else in
// the dump is refused, or dropped with {"skip_other_statements": true}: a
// peer's dump is data, never SQL to run.
FERRY_FUNCTION(to_upsert) {
    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();
    ferry::upsert::Options options = read_options(fcinfo);
    text* sql = ferry::pg::value([&]() noexcept { return PG_GETARG_TEXT_PP(0); });
    Oid ferry_schema =
        ferry::pg::value([&]() noexcept { return get_func_namespace(fcinfo->flinfo->fn_oid); });
    try {
        return convert(utf8_view(VARDATA_ANY(sql), VARSIZE_ANY_EXHDR(sql)), options, ferry_schema);
    } catch (const SqlError&) {
        throw;  // ours, written in the database encoding already
    } catch (const ferry::Error& e) {
        if (database_is_utf8())
            throw;
        throw ferry::Error(e.kind(), from_utf8(e.what()), from_utf8(e.detail()),
                           from_utf8(e.hint()));
    }
}
