// The shared table-list option (see table_list_option.hpp).
#include "table_list_option.hpp"

#include "ferry/sql_identifier.hpp"

namespace ferry::cli {

CLI::Option* add_table_list_option(CLI::App* command, const std::string& name,
                                   std::vector<std::string>& tables,
                                   const std::string& description) {
    // CLI11's delimiter() splits at every comma, quoted or not; the values
    // are taken whole here and split by the same rule as checkpoint scopes.
    auto split_into_tables = [&tables](const std::vector<std::string>& values) {
        tables.clear();
        for (const auto& value : values)
            for (auto& table : split_name_list(value))
                tables.push_back(std::move(table));
    };
    return command->add_option_function<std::vector<std::string>>(name, split_into_tables,
                                                                  description);
}

}  // namespace ferry::cli
