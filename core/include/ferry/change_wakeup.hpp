// How a PostgreSQL source wakes whoever waits for its changes (ferry
// follow): shared by the extension, which sends the wake-up, and the
// orchestrator, which listens for it.
#pragma once

#include <cstdint>

namespace ferry::wakeup {

// A transaction that logged changes sends NOTIFY on this channel at commit.
constexpr const char* kChannel = "ferry_changes";

// ...but only while a session of the database holds this advisory lock
// (pg_advisory_lock_shared(kListenerLockClass, kListenerLockId)), as a
// listener does: NOTIFY serializes the commits of every transaction that
// sends one, which costs a busy server a tenth of its throughput when
// nobody listens.
constexpr int32_t kListenerLockClass = 1181053554;  // "Ferr"
constexpr int32_t kListenerLockId = 2034659180;     // "yFol"

}  // namespace ferry::wakeup
