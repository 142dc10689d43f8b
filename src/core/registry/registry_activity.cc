// The runtime half of the Registry: connection state and last activity. These change on hot-ish
// paths (every connect, every telemetry message), so they update the cache at once and reach the
// store lazily: one kAsync commit in flight at a time, later updates coalesced into the next one.
// A crash may lose the newest of them, which only skews times: connection states restart as
// Disconnected anyway.

#include "base/log.h"
#include "core/registry/registry.h"

namespace iothub::core {

void Registry::SetConnectionState(std::string_view id, bool connected) {
  std::optional<storage::WriteBatch> batch;
  std::vector<std::string> ids;
  {
    std::unique_lock lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return;
    Device& d = it->second.device;
    ConnectionState state =
        connected ? ConnectionState::kConnected : ConnectionState::kDisconnected;
    if (d.connection_state != state) {
      Count(d, -1);
      d.connection_state = state;
      d.connection_state_updated_time = clock_.Now();
      Count(d, +1);
      dirty_.insert(it->first);
    }
    batch = TakeActivityBatch(&ids);
  }
  if (batch) CommitActivity(std::move(*batch), std::move(ids));
}

void Registry::TouchActivity(std::string_view id) {
  std::optional<storage::WriteBatch> batch;
  std::vector<std::string> ids;
  {
    std::unique_lock lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return;
    it->second.device.last_activity_time = clock_.Now();
    dirty_.insert(it->first);
    batch = TakeActivityBatch(&ids);
  }
  if (batch) CommitActivity(std::move(*batch), std::move(ids));
}

std::optional<storage::WriteBatch> Registry::TakeActivityBatch(std::vector<std::string>* ids) {
  if (activity_in_flight_ || dirty_.empty()) return std::nullopt;
  storage::WriteBatch batch;
  for (const std::string& id : dirty_) {
    auto it = devices_.find(id);
    if (it == devices_.end()) continue;
    const Device& d = it->second.device;
    DeviceActivity activity{d.generation_id, d.connection_state, d.connection_state_updated_time,
                            d.last_activity_time};
    batch.Put(kDeviceActivityTable, id, EncodeDeviceActivity(activity));
    ids->push_back(id);
  }
  dirty_.clear();
  if (batch.empty()) return std::nullopt;
  activity_in_flight_ = true;
  return batch;
}

void Registry::CommitActivity(storage::WriteBatch batch, std::vector<std::string> ids) {
  // The callback may run on a store thread: it only settles state, it never commits again.
  store_.Commit(std::move(batch), storage::Durability::kAsync,
                [this, ids = std::move(ids)](Result<storage::CommitResult> r) {
                  std::unique_lock lock(mu_);
                  if (!r) {
                    HUB_LOG_WARN("registry", "activity commit failed: {}", r.error().ToString());
                    for (const std::string& id : ids) {
                      if (devices_.contains(id)) dirty_.insert(id);
                    }
                  }
                  activity_in_flight_ = false;
                  activity_done_.notify_all();
                });
}

Status Registry::FlushActivity() {
  std::vector<std::string> ids;
  std::optional<storage::WriteBatch> batch;
  {
    std::unique_lock lock(mu_);
    activity_done_.wait(lock, [this] { return !activity_in_flight_; });
    batch = TakeActivityBatch(&ids);
  }
  if (!batch) return Status::Ok();
  Result<storage::CommitResult> r =
      store_.CommitAndWait(std::move(*batch), storage::Durability::kSync);
  std::unique_lock lock(mu_);
  if (!r) {
    for (const std::string& id : ids) {
      if (devices_.contains(id)) dirty_.insert(id);
    }
  }
  activity_in_flight_ = false;
  activity_done_.notify_all();
  return r ? Status::Ok() : r.error();
}

}  // namespace iothub::core
