// What the CLI needs to know about a peer before it reads a table: that ferry
// is installed there at a version that has the functions to call, and the
// table's name, columns, primary key and size estimate.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pg_connection.hpp"

namespace ferry::cli {

// Fails with a hint to run `ferry init` unless ferry is installed in the
// peer at min_version or newer ("0.2").
void require_ferry(PgConnection& db, const std::string& min_version);

struct PeerTable {
    std::string oid;                       // for $n::oid::regclass in later queries
    std::string name;                      // schema-qualified, quoted where SQL needs it
    std::vector<std::string> columns;      // sorted
    std::vector<std::string> key_columns;  // sorted
    uint64_t estimated_rows = 0;           // planner statistics, all partitions
    // How each column's values hash (docs/hashing.md), by column: "number",
    // "text", "bytes", "boolean", "uuid", "json", "date", "time",
    // "timestamp", "timestamptz"; a SQLite column of no declared kind is
    // "text" with TEXT affinity and "any" otherwise (its values hash by
    // their storage class). With the type as the peer declares it, for
    // messages.
    std::map<std::string, std::pair<std::string, std::string>> value_classes;
};

// Warnings for the columns whose values the two peers hash as different
// classes (a PostgreSQL timestamptz against a SQLite TEXT, say): their rows
// never compare equal. One line each, naming the column and both types.
std::vector<std::string> value_class_mismatches(const PeerTable& source, const std::string& from,
                                                const PeerTable& target, const std::string& to);

// Resolves a table as SQL would in the peer (its search_path applies): only
// oid and name are filled in. Fails for missing tables and for views,
// sequences and the like, naming the peer.
PeerTable resolve_table(PgConnection& db, const std::string& table);

// resolve_table(), then columns, key and size; also fails for a table
// without a primary key.
PeerTable describe_table(PgConnection& db, const std::string& table);

// The column definition list that reads a JSON row of the table:
// jsonb_to_record(json) AS r<this>, e.g. ("id" integer, "note" text). A
// domain column is read as its base type: jsonb_populate_record(NULL::table,
// …) checks every column a key or a deleted row's JSON lacks against its
// domain, and a NOT NULL domain refuses that NULL. The table's own columns
// still check the domain when a row is written.
std::string record_definition(PgConnection& db, const std::string& oid);

// Fails unless both peers' tables have the same column names and primary
// key columns; the error lists what each side lacks.
void require_same_columns(const PeerTable& a, const std::string& peer_a, const PeerTable& b,
                          const std::string& peer_b);

// The tables ferry tracks in the peer, schema-qualified.
std::vector<std::string> tracked_tables(PgConnection& db);

// The scopes of a job's checkpoints in ferry.checkpoints, the one last
// attempted first.
std::vector<std::string> postgres_checkpoint_scopes(PgConnection& db, const std::string& job);

// Keeps the first of the items that name_of() names alike: a table named
// twice (`--tables a,b,a`, or `a` and `public.a`) is read, written and
// reported once, in its first place.
template <class Item, class NameOf>
void drop_repeats(std::vector<Item>& items, NameOf name_of) {
    std::set<std::string> seen;
    std::vector<Item> kept;
    for (auto& item : items)
        if (seen.insert(name_of(item)).second)
            kept.push_back(std::move(item));
    items = std::move(kept);
}

// Splits a --where option, "TABLE:CONDITION"; the first colon outside double
// quotes ends the table name.
std::pair<std::string, std::string> split_table_filter(const std::string& option);

}  // namespace ferry::cli
