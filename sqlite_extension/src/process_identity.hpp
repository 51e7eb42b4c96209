// Who records a session in a SQLite file: enough to tell later, from another
// process on the same machine, whether that process still runs. A SQLite
// file has no server whose connections end with their client (PostgreSQL's
// sessions use that instead), so ferry asks the operating system.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ferry::sqlite {

struct ProcessIdentity {
    // Host name, boot and PID namespace: a pid means something only where
    // all three are the same as when it was recorded.
    std::string host;
    std::string boot;
    std::string pid_namespace;
    int64_t pid = 0;
    // Kernel start time in clock ticks since boot: tells a reused pid apart.
    uint64_t start_ticks = 0;
};

// This process, or nothing where the system does not say (not Linux).
std::optional<ProcessIdentity> this_process();

// Whether the process `recorded` names is still running, as seen by `self`
// (this_process()): nothing when it cannot tell (another machine or
// container, a pid out of range, not Linux).
std::optional<bool> still_running(const ProcessIdentity& recorded, const ProcessIdentity& self);

}  // namespace ferry::sqlite
