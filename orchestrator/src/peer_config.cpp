// ferry's config file: named peers (see peer_config.hpp).
#include "peer_config.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <toml++/toml.h>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "ferry/text.hpp"
#include "job_config.hpp"

namespace ferry::cli {
namespace {

namespace fs = std::filesystem;

struct Config {
    std::string path;  // empty when there is no config file
    std::map<std::string, std::string> peers;
    std::optional<std::string> local;
    std::vector<JobSpec> jobs;
};

std::optional<std::string> g_explicit_path;

std::vector<std::string> default_paths() {
    std::vector<std::string> paths;
    if (const char* env = std::getenv("FERRY_CONFIG"); env && *env)
        return {env};
    paths.push_back("ferry.toml");
    if (const char* home = std::getenv("HOME"); home && *home)
        paths.push_back(std::string(home) + "/.config/ferry/ferry.toml");
    paths.push_back("/etc/ferry/ferry.toml");
    return paths;
}

Error config_error(const std::string& path, const std::string& message,
                   const std::string& hint = "See docs/config.md for the format.") {
    return Error(ErrorKind::invalid_input, fmt::format("{}: {}", path, message), {}, hint);
}

// A relative sqlite:PATH is relative to the config file, not to wherever
// ferry happens to run (cron runs in $HOME).
std::string anchor_sqlite_path(const std::string& url, const fs::path& config_dir) {
    PeerAddress address = parse_peer(url);
    if (address.engine != PeerEngine::sqlite || fs::path(address.target).is_absolute())
        return url;
    return "sqlite:" + (config_dir / address.target).lexically_normal().string();
}

bool is_peer_name(const std::string& peer);

// A peer name's address in `config`; anything else unchanged.
std::string resolve_in(const Config& config, const std::string& peer) {
    if (!is_peer_name(peer))
        return peer;
    auto found = config.peers.find(peer);
    if (found == config.peers.end())
        throw Error(ErrorKind::invalid_input,
                    fmt::format("no peer named \"{}\" in {}", peer, config.path), {},
                    fmt::format("Define it: [peers.{}] url = \"...\"", peer));
    return found->second;
}

Config read_config(const std::string& path) {
    Config config;
    config.path = path;
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        throw config_error(path,
                           fmt::format("line {}: {}", e.source().begin.line, e.description()));
    }
    fs::path dir = fs::absolute(path).parent_path();
    for (const auto& [key, value] : root) {
        std::string name(key.str());
        if (name == "local") {
            if (!value.is_string())
                throw config_error(path, "local must be a peer name (a string)");
            config.local = value.as_string()->get();
        } else if (name == "peers") {
            if (!value.is_table())
                throw config_error(path, "peers must be a table of [peers.NAME] sections");
            for (const auto& [peer_key, peer] : *value.as_table()) {
                std::string peer_name(peer_key.str());
                const toml::table* section = peer.as_table();
                if (!section)
                    throw config_error(path,
                                       fmt::format("line {}: peers.{} must be a [peers.{}] section",
                                                   peer.source().begin.line, peer_name, peer_name));
                for (const auto& [setting, setting_value] : *section)
                    if (setting.str() != "url")
                        throw config_error(
                            path,
                            fmt::format("line {}: unknown setting \"{}\" of peer \"{}\"",
                                        setting_value.source().begin.line, setting.str(),
                                        peer_name),
                            "A peer has one setting, url; connection options (sslmode=..., "
                            "port=...) go into the url itself.");
                const toml::node* url_node = section->get("url");
                if (url_node && !url_node->is_string())
                    throw config_error(path, fmt::format("line {}: peers.{}.url must be a string",
                                                         url_node->source().begin.line, peer_name));
                auto url = (*section)["url"].value<std::string>();
                if (!url || url->empty())
                    throw config_error(path, fmt::format("peer \"{}\" has no url", peer_name),
                                       fmt::format("Add: [peers.{}] url = \"host=... dbname=...\" "
                                                   "or url = \"sqlite:/path/file.db\"",
                                                   peer_name));
                // A password in a file that is copied around, backed up and
                // read by cron: refused (docs/config.md).
                if (redact(*url) != *url)
                    throw config_error(
                        path, fmt::format("peers.{}.url holds a password", peer_name),
                        "Keep passwords out of ferry.toml: in ~/.pgpass, a service file "
                        "(url = \"service=NAME\") or PGPASSWORD.");
                config.peers[peer_name] = anchor_sqlite_path(*url, dir);
            }
        } else if (name == "jobs") {
            if (!value.is_table())
                throw config_error(path, "jobs must be a table of [jobs.NAME] sections");
        } else {
            throw config_error(path, fmt::format("line {}: unknown setting \"{}\"",
                                                 value.source().begin.line, name));
        }
    }
    // After every peer is known: a job may name one defined further down.
    if (const toml::table* jobs = root["jobs"].as_table())
        config.jobs = parse_jobs(*jobs, path, [&](const std::string& peer) {
            return anchor_sqlite_path(resolve_in(config, peer), dir);
        });
    if (config.local && !config.peers.count(*config.local))
        throw config_error(path, fmt::format("local = \"{}\" names no [peers.{}] section",
                                             *config.local, *config.local));
    return config;
}

const Config& config() {
    static const Config loaded = [] {
        if (g_explicit_path) {
            if (!fs::exists(*g_explicit_path))
                throw Error(ErrorKind::not_found,
                            fmt::format("config file {} does not exist", *g_explicit_path));
            return read_config(*g_explicit_path);
        }
        for (const auto& path : default_paths())
            if (fs::exists(path))
                return read_config(path);
        return Config{};
    }();
    return loaded;
}

bool is_peer_name(const std::string& peer) {
    return text::is_plain_name(peer, "_.-");
}

}  // namespace

void set_config_path(const std::string& path) {
    g_explicit_path = path;
}

void require_named_config() {
    const char* env = std::getenv("FERRY_CONFIG");
    std::optional<std::string> named = g_explicit_path;
    if (!named && env && *env)
        named = env;
    if (named && !fs::exists(*named))
        throw Error(ErrorKind::not_found, fmt::format("config file {} does not exist", *named),
                    g_explicit_path ? "named by --config" : "named by FERRY_CONFIG",
                    g_explicit_path ? "Give the path of an existing file (docs/config.md)."
                                    : "Fix or unset FERRY_CONFIG (docs/config.md).");
}

std::string resolve_peer(const std::string& peer) {
    if (!is_peer_name(peer))
        return peer;
    const Config& loaded = config();
    if (loaded.path.empty())
        throw Error(ErrorKind::invalid_input,
                    fmt::format("\"{}\" is not a peer address, and there is no config file to "
                                "name it",
                                peer),
                    {},
                    "Write a connection string (\"host=... dbname=...\"), a URI, sqlite:PATH, or "
                    "define the name in ferry.toml (--config PATH; docs/config.md).");
    return resolve_in(loaded, peer);
}

bool config_has_jobs() {
    return !config().jobs.empty();
}

const JobSpec* find_job(const std::string& name) {
    for (const auto& job : config().jobs)
        if (job.name == name)
            return &job;
    return nullptr;
}

const std::vector<JobSpec>& configured_jobs() {
    const Config& loaded = config();
    if (loaded.path.empty())
        throw Error(ErrorKind::invalid_input, "no config file, so no jobs to run", {},
                    "Give --config PATH or set FERRY_CONFIG; docs/scheduling.md shows one.");
    if (loaded.jobs.empty())
        throw Error(ErrorKind::invalid_input, fmt::format("{} defines no jobs", loaded.path), {},
                    "Add [jobs.NAME] sections (docs/scheduling.md).");
    return loaded.jobs;
}

const JobSpec& configured_job(const std::string& name) {
    for (const auto& job : configured_jobs())
        if (job.name == name)
            return job;
    throw Error(ErrorKind::invalid_input,
                fmt::format("no job named \"{}\" in {}", name, config().path), {},
                "ferry status lists the jobs of the config file.");
}

std::string local_peer() {
    const Config& loaded = config();
    if (loaded.path.empty() || !loaded.local)
        throw Error(ErrorKind::invalid_input,
                    loaded.path.empty() ? "pull and push need a config file with a local peer"
                                        : fmt::format("{} names no local peer", loaded.path),
                    {},
                    "Add to ferry.toml: local = \"NAME\" and [peers.NAME] url = \"...\" "
                    "(docs/config.md), or use ferry full-sync --from A --to B.");
    return loaded.peers.at(*loaded.local);
}

}  // namespace ferry::cli
