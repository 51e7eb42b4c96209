// ferry: the command-line orchestrator. main() only wires the subcommands
// (one cmd_<verb>.cpp each) and maps errors to documented exit codes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstring>

#include "commands.hpp"
#include "output.hpp"
#include "peer_config.hpp"

namespace {

// --config is read before the arguments are parsed: peer names in them are
// resolved while parsing, wherever --config stands.
void find_config_option(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            ferry::cli::set_config_path(argv[i + 1]);
        else if (std::strncmp(argv[i], "--config=", 9) == 0)
            ferry::cli::set_config_path(argv[i] + 9);
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ferry::cli;
    CLI::App app{"ferry: keep tables in sync between PostgreSQL and SQLite peers"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "ferry " FERRY_VERSION);
    std::string config_path;
    app.add_option("--config", config_path,
                   "Config file with named peers (default: FERRY_CONFIG, ./ferry.toml, "
                   "~/.config/ferry/ferry.toml, /etc/ferry/ferry.toml)");
    app.fallthrough();  // --config may come after the command
    try {
        find_config_option(argc, argv);
        require_named_config();
    } catch (const ferry::Error& e) {
        report_error(e);
        return exit_code_for(e);
    }
    int exit_code = exit_ok;
    setup_init(app, &exit_code);
    setup_status(app, &exit_code);
    setup_diff(app, &exit_code);
    setup_full_sync(app, &exit_code);
    setup_control(app, &exit_code);
    setup_history(app, &exit_code);
    setup_dump(app, &exit_code);
    setup_sync(app, &exit_code);
    setup_run(app, &exit_code);
    setup_conflicts(app, &exit_code);
    try {
        // CLI11 reports an unknown command as a missing one.
        if (argc > 1 && argv[1][0] != '-') {
            const auto known = app.get_subcommands(
                [&](CLI::App* command) { return command->check_name(argv[1]); });
            if (known.empty())
                throw CLI::ValidationError(fmt::format(
                    "unknown command \"{}\" (ferry --help lists the commands)", argv[1]));
        }
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? exit_ok : exit_usage;
    } catch (const ferry::Error& e) {
        report_error(e);
        return exit_code_for(e);
    } catch (const std::exception& e) {
        report_error(ferry::Error(ferry::ErrorKind::internal, e.what()));
        return exit_error;
    }
    return exit_code;
}
