// ferry: the command-line orchestrator. main() only wires the subcommands
// (one cmd_<verb>.cpp each) and maps errors to documented exit codes.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "output.hpp"

int main(int argc, char** argv) {
    using namespace ferry::cli;
    CLI::App app{"ferry: keep tables in sync between PostgreSQL and SQLite peers"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "ferry " FERRY_VERSION);
    int exit_code = exit_ok;
    setup_init(app, &exit_code);
    setup_status(app, &exit_code);
    setup_diff(app, &exit_code);
    setup_full_sync(app, &exit_code);
    setup_control(app, &exit_code);
    setup_history(app, &exit_code);
    try {
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
