// One setup function per CLI command group (cmd_<verb>.cpp). Each adds its
// subcommand to the app; when the subcommand runs, its exit code is stored in
// *exit_code.
#pragma once

#include <CLI/CLI.hpp>

namespace ferry::cli {

void setup_init(CLI::App& app, int* exit_code);
void setup_status(CLI::App& app, int* exit_code);
void setup_diff(CLI::App& app, int* exit_code);
void setup_full_sync(CLI::App& app, int* exit_code);  // full-sync, pull, push
void setup_control(CLI::App& app, int* exit_code);    // unlock, cancel
void setup_history(CLI::App& app, int* exit_code);
void setup_dump(CLI::App& app, int* exit_code);  // dump, restore
void setup_sync(CLI::App& app, int* exit_code);
void setup_run(CLI::App& app, int* exit_code);  // run, pause, resume
void setup_conflicts(CLI::App& app, int* exit_code);

// ferry sync without --from and --to: every incremental and bidirectional
// job of the config file, now (cmd_run.cpp).
int run_config_links(bool json);

}  // namespace ferry::cli
