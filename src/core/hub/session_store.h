#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "storage/store.h"

namespace iothub::core {

// Table of the durable device sessions: key device id.
inline constexpr std::string_view kDeviceSessionsTable = "device_sessions";

// One device's protocol session, as a front-end keeps it across connections and restarts (an
// MQTT clean-session-0 client's subscriptions and unacknowledged deliveries).
struct StoredSession {
  std::string device_id;
  // The incarnation of the device it belongs to: a device deleted (and perhaps created again
  // under the same id) never inherits its predecessor's session.
  std::string generation_id;
  Timestamp updated;  // last change, or the end of its last connection (for expiry)
  std::string state;  // the front-end's own encoding
};

// Durable device sessions, as opaque state the front-end encodes; one per device. The hub drops a
// deleted device's session.
//
// Thread-safe (the store is). LoadAll blocks on the store.
class SessionStore {
 public:
  explicit SessionStore(storage::Store& store) : store_(store) {}

  // Every stored session whose device still exists as the same incarnation
  // (`generation_of(id)` returns its generation id, nullopt when it is gone) and that changed at
  // or after `not_before`; the others are deleted. For start-up, before the shards serve.
  Result<std::vector<StoredSession>> LoadAll(
      const std::function<std::optional<std::string>(std::string_view)>& generation_of,
      Timestamp not_before);
  // Writes the device's session (replacing it). `done` runs on a store thread once it is as
  // durable as asked: it must only hand off (post).
  void Save(const StoredSession& session, storage::Durability durability,
            std::function<void(Status)> done);
  // Deletes the device's session, if any (kAsync); `done` as for Save, may be empty.
  void Remove(std::string_view device_id, std::function<void(Status)> done);

 private:
  storage::Store& store_;
};

}  // namespace iothub::core
