// Quoting of SQL identifiers and literals for statements that ferry builds
// itself (the CLI, the SQLite extension). Values from users are bound as
// parameters wherever the engine allows; these are for names, which cannot be.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// "name" with embedded double quotes doubled; always quoted, so upper case,
// spaces, keywords and non-ASCII letters survive. Throws Error(invalid_input)
// for an empty name or one containing a NUL byte.
std::string quote_identifier(std::string_view name);

// 'text' with embedded single quotes doubled (standard_conforming_strings).
std::string quote_literal(std::string_view text);

}  // namespace ferry
