// The --tables (and --track) option every command shares: a list of table
// names, comma-separated and repeatable, split only at commas outside double
// quotes so that a quoted name holding a comma ("c,d") can be named.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace ferry::cli {

CLI::Option* add_table_list_option(CLI::App* command, const std::string& name,
                                   std::vector<std::string>& tables,
                                   const std::string& description);

}  // namespace ferry::cli
