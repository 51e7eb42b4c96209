// Quoting of SQL identifiers and literals for statements that ferry builds
// itself (the CLI, the SQLite extension). Values from users are bound as
// parameters wherever the engine allows; these are for names, which cannot be.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ferry {

// "name" with embedded double quotes doubled; always quoted, so upper case,
// spaces, keywords and non-ASCII letters survive. Throws Error(invalid_input)
// for an empty name or one containing a NUL byte.
std::string quote_identifier(std::string_view name);

// 'text' with embedded single quotes doubled (standard_conforming_strings).
std::string quote_literal(std::string_view text);

// A comma-separated list of table names, split at the commas outside double
// quotes, so that `a,"c,d"` is the two names `a` and `"c,d"` (quotes kept;
// a doubled quote inside a quoted name stays part of it). Names are not
// trimmed, and an empty list is one empty name, as a caller that reports
// empty names expects.
std::vector<std::string> split_name_list(std::string_view list);

}  // namespace ferry
