// Peer and table checks (see peer_tables.hpp).
#include "peer_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "ferry/error.hpp"
#include "ferry/sql_identifier.hpp"

namespace ferry::cli {
namespace {

const char* const kTableQuery = R"(
SELECT c.oid::text, format('%I.%I', n.nspname, c.relname), c.relkind::text,
       c.oid < 16384 OR n.nspname IN ('pg_catalog', 'information_schema')
       OR EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1))";

const char* const kColumnsQuery = R"(
SELECT a.attname::text,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)),
       format_type(a.atttypid, a.atttypmod),
       CASE coalesce(nullif(t.typbasetype, 0), a.atttypid)
         WHEN 'timestamptz'::regtype THEN 'timestamptz' WHEN 'timestamp'::regtype THEN 'timestamp'
         WHEN 'date'::regtype THEN 'date' WHEN 'time'::regtype THEN 'time'
         WHEN 'bool'::regtype THEN 'boolean' WHEN 'uuid'::regtype THEN 'uuid'
         WHEN 'json'::regtype THEN 'json' WHEN 'jsonb'::regtype THEN 'json'
         WHEN 'bytea'::regtype THEN 'bytes'
         WHEN 'int2'::regtype THEN 'number' WHEN 'int4'::regtype THEN 'number'
         WHEN 'int8'::regtype THEN 'number' WHEN 'numeric'::regtype THEN 'number'
         WHEN 'float4'::regtype THEN 'number' WHEN 'float8'::regtype THEN 'number'
         ELSE 'text' END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped)";

// reltuples is -1 for a table never vacuumed or analyzed: estimate from its
// size then, at 64 bytes a row. A partitioned table's rows are in its leaves.
// Whether row-level security applies to this role (refuse_row_security),
// and the planner's estimate of the rows, partitions included.
const char* const kSecurityAndEstimateQuery = R"(
SELECT row_security_active($1::oid),
       (SELECT coalesce(sum(CASE WHEN c.reltuples >= 0 THEN c.reltuples
                                 ELSE pg_relation_size(c.oid) / 64 END), 0)::bigint
        FROM pg_class c
        WHERE c.relkind = 'r'
          AND (c.oid = $1::oid
               OR c.oid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass)
                            WHERE isleaf))))";

std::vector<std::string> missing_from(const std::vector<std::string>& wanted,
                                      const std::vector<std::string>& present) {
    std::vector<std::string> missing;
    std::set_difference(wanted.begin(), wanted.end(), present.begin(), present.end(),
                        std::back_inserter(missing));
    return missing;
}

std::string listed(const std::vector<std::string>& names) {
    return names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, ", "));
}

// Versions are "major.minor".
bool older_than(const std::string& version, const std::string& min_version) {
    auto parts = [](const std::string& v) {
        size_t dot = v.find('.');
        return std::make_pair(std::stoi(v.substr(0, dot)),
                              dot == std::string::npos ? 0 : std::stoi(v.substr(dot + 1)));
    };
    return parts(version) < parts(min_version);
}

// Under a row-level security policy the role would copy, compare or write
// only the rows the policy lets it see, and report success. pg_dump refuses
// such a table; so does every ferry command, before it reads or writes.
void refuse_row_security(PgConnection& db, const PeerTable& table, bool security_active) {
    if (!security_active)
        return;
    throw Error(ErrorKind::unsupported,
                fmt::format("table {} in {} has row-level security that applies to this role",
                            table.name, db.peer()),
                "ferry copies, compares and writes whole tables; under the policies it would "
                "see only some rows.",
                fmt::format("Connect as the table's owner or as a role with BYPASSRLS, or run "
                            "ALTER TABLE {} DISABLE ROW LEVEL SECURITY. To sync only some rows, "
                            "use --where.",
                            table.name));
}

}  // namespace

void require_ferry(PgConnection& db, const std::string& min_version) {
    auto installed = db.query("SELECT extversion FROM pg_extension WHERE extname = 'ferry'");
    if (installed.rows() == 0)
        throw Error(ErrorKind::not_found, fmt::format("ferry is not installed in {}", db.peer()),
                    {}, fmt::format("Run: ferry init '{}'", db.peer()));
    std::string version = installed.text(0, 0);
    if (older_than(version, min_version))
        throw Error(
            ErrorKind::unsupported,
            fmt::format("ferry {} in {} is too old for this command", version, db.peer()),
            fmt::format("It needs ferry {} or newer.", min_version),
            fmt::format("Run: ferry init '{}' (updates the extension in place)", db.peer()));
}

PeerTable resolve_table(PgConnection& db, const std::string& table) {
    auto found = db.query(kTableQuery, {table});
    if (found.rows() == 0)
        throw Error(ErrorKind::not_found,
                    fmt::format("table \"{}\" does not exist in {}", table, db.peer()), {},
                    "Name it as in SQL: schema.table, with double quotes around names that "
                    "have upper case or spaces.");
    PeerTable resolved;
    resolved.oid = found.text(0, 0);
    resolved.name = found.text(0, 1);
    std::string kind = found.text(0, 2);
    // A peer names the tables (its tracked list, a dump file's header):
    // never let it name a catalog (pg_authid) or ferry's own state.
    if (found.text(0, 3) == "t")
        throw Error(ErrorKind::unsupported,
                    fmt::format("\"{}\" in {} is a system catalog or belongs to an extension",
                                resolved.name, db.peer()),
                    "ferry reads and writes user tables only: its own state, PostgreSQL's "
                    "catalogs and extensions' tables are never copied, compared or synced.",
                    "Leave the table out (--tables), or untrack it on the peer that lists it.");
    if (kind != "r" && kind != "p")
        throw Error(ErrorKind::unsupported,
                    fmt::format("\"{}\" in {} is not a table", resolved.name, db.peer()), {},
                    "ferry compares and copies tables (plain or partitioned) only.");
    return resolved;
}

PeerTable describe_table(PgConnection& db, const std::string& table) {
    PeerTable described = resolve_table(db, table);
    auto columns = db.query(kColumnsQuery, {described.oid});
    for (int r = 0; r < columns.rows(); r++) {
        described.columns.push_back(columns.text(r, 0));
        described.value_classes[columns.text(r, 0)] = {columns.text(r, 3), columns.text(r, 2)};
        if (columns.text(r, 1) == "t")
            described.key_columns.push_back(columns.text(r, 0));
    }
    std::sort(described.columns.begin(), described.columns.end());
    std::sort(described.key_columns.begin(), described.key_columns.end());
    if (described.key_columns.empty())
        throw Error(
            ErrorKind::unsupported,
            fmt::format("table {} in {} has no primary key", described.name, db.peer()),
            "ferry identifies rows by their primary key.",
            fmt::format("Add one with ALTER TABLE {} ADD PRIMARY KEY (...).", described.name));
    PgResult checked = db.query(kSecurityAndEstimateQuery, {described.oid});
    refuse_row_security(db, described, checked.text(0, 0) == "t");
    described.estimated_rows = std::stoull(checked.text(0, 1));
    return described;
}

std::string record_definition(PgConnection& db, const std::string& oid) {
    PgResult columns = db.query(R"(
WITH RECURSIVE typ(attnum, oid, typmod) AS (
    SELECT attnum, atttypid, atttypmod FROM pg_attribute
    WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped
  UNION ALL
    SELECT typ.attnum, t.typbasetype, t.typtypmod FROM typ JOIN pg_type t ON t.oid = typ.oid
    WHERE t.typtype = 'd')
SELECT a.attname, format_type(typ.oid, typ.typmod)
FROM typ JOIN pg_type t ON t.oid = typ.oid AND t.typtype <> 'd'
JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attnum = typ.attnum
ORDER BY typ.attnum)",
                                {oid});
    std::string definition;
    for (int r = 0; r < columns.rows(); r++)
        definition += fmt::format("{}{} {}", r ? ", " : "(", quote_identifier(columns.text(r, 0)),
                                  columns.text(r, 1));
    return definition + ")";
}

void require_same_columns(const PeerTable& a, const std::string& peer_a, const PeerTable& b,
                          const std::string& peer_b) {
    if (a.columns != b.columns)
        throw Error(ErrorKind::unsupported,
                    fmt::format("table {} has different columns in the two peers", a.name),
                    fmt::format("Only in {}: {}. Only in {}: {}.", peer_a,
                                listed(missing_from(a.columns, b.columns)), peer_b,
                                listed(missing_from(b.columns, a.columns))),
                    "Rows are compared whole: give both tables the same columns first "
                    "(ALTER TABLE ... ADD COLUMN or DROP COLUMN).");
    if (a.key_columns != b.key_columns)
        throw Error(ErrorKind::unsupported,
                    fmt::format("table {} has different primary keys in the two peers", a.name),
                    fmt::format("{}: ({}). {}: ({}).", peer_a, listed(a.key_columns), peer_b,
                                listed(b.key_columns)),
                    "Rows are paired by primary key: make the keys the same on both peers.");
}

std::vector<std::string> tracked_tables(PgConnection& db) {
    return db
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM ferry.tracked_tables t "
            "JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "ORDER BY 1")
        .texts(0);
}

std::vector<std::string> postgres_checkpoint_scopes(PgConnection& db, const std::string& job) {
    return db
        .query(
            "SELECT scope FROM ferry.checkpoints WHERE job = $1 ORDER BY last_attempt_at DESC "
            "NULLS LAST, scope",
            {job})
        .texts(0);
}

// "TABLE:CONDITION", the table written as in SQL; the first colon outside
// double quotes ends it.
std::pair<std::string, std::string> split_table_filter(const std::string& option) {
    bool quoted = false;
    for (size_t i = 0; i < option.size(); i++) {
        if (option[i] == '"')
            quoted = !quoted;
        else if (option[i] == ':' && !quoted && i > 0 && i + 1 < option.size())
            return {option.substr(0, i), option.substr(i + 1)};
    }
    throw Error(ErrorKind::invalid_input, fmt::format("invalid --where \"{}\"", option), {},
                "Write TABLE:CONDITION, e.g. --where 'orders:customer_id = 42'.");
}

namespace {

// Whether values of the two classes hash alike when the peers hold the same
// data (as a full sync writes it). Measured pair by pair: a number kept as
// text (TEXT affinity) hashes as text; blobs hash as bytes in any column;
// a date or a uuid written as text is already in its canonical form, while
// times, timestamps, booleans and JSON are not.
bool hash_alike(const std::string& a, const std::string& b) {
    auto either = [&](const std::string& x, const std::string& y) {
        return (a == x && b == y) || (a == y && b == x);
    };
    return a == b || either("number", "any") || either("text", "any") || either("bytes", "text") ||
           either("bytes", "any") || either("boolean", "number") || either("date", "text") ||
           either("date", "any") || either("uuid", "text") || either("uuid", "any");
}

}  // namespace

std::vector<std::string> value_class_mismatches(const PeerTable& source, const std::string& from,
                                                const PeerTable& target, const std::string& to) {
    std::vector<std::string> warnings;
    for (const auto& [column, source_class] : source.value_classes) {
        auto found = target.value_classes.find(column);
        if (found == target.value_classes.end())
            continue;
        const auto& [a, a_type] = source_class;
        const auto& [b, b_type] = found->second;
        if (!hash_alike(a, b))
            warnings.push_back(fmt::format(
                "column {} of {} is {} ({}) in {} but {} ({}) in {}: its values hash "
                "differently on the two peers, so ferry diff and --verify report such rows and "
                "a sync may take their changes for conflicts. Declare the same kind of type "
                "on both (docs/sqlite.md, \"Declared types\").",
                quote_identifier(column), target.name, a_type, a, from, b_type, b, to));
    }
    return warnings;
}

}  // namespace ferry::cli
