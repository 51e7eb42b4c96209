// Named peers, from ferry's config file (docs/config.md):
//
//   local = "laptop"
//   [peers.laptop]
//   url = "sqlite:shop.db"            # relative to the config file
//   [peers.hub]
//   url = "service=hub"
//
// Wherever a command takes a peer, a bare name (letters, digits, _ . -) is
// looked up here; connection strings, URIs and sqlite:PATH pass unchanged.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "job_config.hpp"

namespace ferry::cli {

// The file --config named; without it FERRY_CONFIG, then ./ferry.toml,
// ~/.config/ferry/ferry.toml and /etc/ferry/ferry.toml, the first that exists.
void set_config_path(const std::string& path);

// Fails when --config or FERRY_CONFIG names a file that does not exist: a
// typo there must not make ferry run without the config it was given.
void require_named_config();

// A peer name's address; anything else unchanged. Throws Error(invalid_input)
// for an unknown name or a broken config file.
std::string resolve_peer(const std::string& peer);

// The config's local peer (pull and push are relative to it), resolved.
std::string local_peer();

// The config's jobs (for ferry run), checked; throws when there are none.
bool config_has_jobs();
const JobSpec* find_job(const std::string& name);  // nullptr: no such job
const std::vector<JobSpec>& configured_jobs();
const JobSpec& configured_job(const std::string& name);

}  // namespace ferry::cli
