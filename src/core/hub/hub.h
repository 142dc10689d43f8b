#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "base/result.h"
#include "core/auth/authenticator.h"
#include "core/auth/policy.h"
#include "core/c2d/c2d_queues.h"
#include "core/c2d/feedback_queue.h"
#include "core/hub/presence.h"
#include "core/hub/session_store.h"
#include "core/message.h"
#include "core/registry/registry.h"
#include "core/telemetry/telemetry_log.h"
#include "storage/store.h"

namespace iothub::core {

struct HubOptions {
  std::string host_name;  // the HostName of connection strings and token audiences
  C2dLimits c2d;
  FeedbackLimits feedback;
  TelemetryOptions telemetry;
  // A persistent device session (MQTT clean session 0) whose device stays away this long is
  // dropped; zero: never.
  Duration session_expiry = std::chrono::hours(24 * 7);
};

// The whole protocol-neutral hub, as the front-ends see it: the registry, shared access policies
// and authenticator, one C2dQueues and one Presence per shard, the feedback queue, and the
// telemetry log, wired together (a deleted device loses its queue; a deleted, disabled or re-keyed
// device loses its connection; the queues' feedback records reach the feedback queue; the
// registry reports queue depths).
//
// Threads: share-nothing shards (ARCHITECTURE.md, "Threading"). Device `d` belongs to shard
// ShardOf(d); c2d(i) is used only on shard i's executor, feedback() only on feedback_executor()
// (shard 0). The registry, policies, authenticator and telemetry log are thread-safe. Open() and
// Close() run on a control thread while no shard runs a task of the hub's: before the shards
// serve anything, and after they stopped.
class Hub {
 public:
  // `store`, `clock` and the executors must outlive the Hub. `shards` is not empty.
  Hub(HubOptions options, storage::Store& store, Clock& clock, std::vector<Executor*> shards);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Loads (on first start: creates) the policies, loads the registry and the telemetry log,
  // recovers the feedback queue and every shard's C2D queues, resuming their timers, and drops the
  // queues of devices deleted while the hub was down. Blocks on the store.
  Status Open();
  // Persists pending registry runtime state. Call after the shards stopped; then close the store.
  void Close();

  const HubOptions& options() const { return options_; }
  const std::string& host_name() const { return options_.host_name; }

  size_t shard_count() const { return shards_.size(); }
  // The shard owning a device: StableHash(device_id) % shard_count(). Every layer routes by this.
  size_t ShardOf(std::string_view device_id) const;
  Executor& shard_executor(size_t shard) { return *shards_[shard]; }
  Executor& feedback_executor() { return *shards_[0]; }

  Registry& registry() { return *registry_; }
  auth::PolicyStore& policies() { return *policies_; }
  const auth::Authenticator& authenticator() const { return *authenticator_; }
  TelemetryLog& telemetry() { return *telemetry_; }
  // Only on shard `shard`'s executor.
  C2dQueues& c2d(size_t shard) { return *c2d_[shard]; }
  // Only on feedback_executor().
  FeedbackQueue& feedback() { return *feedback_; }
  // Only on shard `shard`'s executor: for front-end objects that live on a device's shard.
  Presence& presence(size_t shard) { return *presence_[shard]; }

  // Device presence (presence.h), from any thread. ConnectDevice attaches `link` for the device
  // on its shard, taking its session as `mode` says, and calls `done` on `reply_to` with the
  // session (or a refusal that says why: the link was not attached). DisconnectDevice detaches
  // it (ignored unless it is the current link). SaveSession stores the front-end's state of the
  // device's session and calls `done` once it is durable (Presence::SaveSession).
  void ConnectDevice(std::string device_id, auth::Principal principal,
                     std::shared_ptr<DeviceLink> link, SessionMode mode, Executor& reply_to,
                     std::function<void(Result<SessionView>)> done);
  void DisconnectDevice(std::string device_id, std::shared_ptr<DeviceLink> link);
  void SaveSession(std::string device_id, std::shared_ptr<DeviceLink> link, std::string state,
                   Executor& reply_to, std::function<void(Status)> done);
  // C2D delivery to a connected device (Presence::Grant, Presence::StopC2d), from any thread:
  // `link` takes `credit` more messages, which reach it through DeviceLink::Deliver; or it takes
  // none until it grants again. Calls from one thread take effect in order. StopC2d calls `done`
  // on `reply_to` once the stop took effect: a front-end whose link posts deliveries to
  // `reply_to` has then seen every delivery made before the stop.
  void GrantC2d(std::string device_id, std::shared_ptr<DeviceLink> link, uint32_t credit);
  void StopC2d(std::string device_id, std::shared_ptr<DeviceLink> link, Executor& reply_to,
               std::function<void()> done);

  // A device's C2D operations, from any thread: each runs on the device's shard and calls `done`
  // on `reply_to` (see C2dQueues for their semantics and errors). ReceiveC2d is for devices that
  // poll (HTTPS); connected devices are delivered to (GrantC2d).
  void ReceiveC2d(std::string device_id, std::optional<Duration> lock_timeout, Executor& reply_to,
                  std::function<void(std::optional<Message>)> done);
  void CompleteC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                   std::function<void(Status)> done);
  void RejectC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                 std::function<void(Status)> done);
  void AbandonC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                  std::function<void(Status)> done);
  // A delivery that never reached the device goes back without counting (C2dQueues::Release).
  void ReleaseC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                  std::function<void(Status)> done);

  // Sends a C2D message from any thread: runs on the device's shard and calls `done` on
  // `reply_to` with the sequence number once the message is durable, or with the error.
  void SendC2d(std::string device_id, Message message, Executor& reply_to,
               std::function<void(Result<uint64_t>)> done);
  // Purges a device's C2D queue from any thread; `done` runs on `reply_to` with the count.
  void PurgeC2d(std::string device_id, Executor& reply_to,
                std::function<void(Result<uint64_t>)> done);

  // Runs every lock and TTL expiry due on shard `shard` (and, on shard 0, the feedback queue's
  // batching and expiries). Call on that shard's executor, periodically (the daemon: every
  // 100 ms) — the core keeps no timers of its own.
  void ProcessTimers(size_t shard);
  // Gauges for metrics, from any thread: C2D messages held over all shards, and feedback messages
  // held plus records waiting to be batched. As of each shard's last ProcessTimers (the queues
  // live on their shards; these are published copies).
  uint64_t C2dQueuedTotal() const;
  uint64_t FeedbackMessages() const { return feedback_messages_.load(std::memory_order_relaxed); }
  uint64_t FeedbackPendingRecords() const {
    return feedback_pending_.load(std::memory_order_relaxed);
  }

  // Trims telemetry by age and size. Blocks on the store: run it off the shards, e.g. once a
  // minute.
  Result<uint64_t> ApplyRetention();

 private:
  Status DropOrphanQueues(size_t shard);
  enum class Settlement { kComplete, kReject, kAbandon, kRelease };
  void SettleC2d(std::string device_id, std::string lock_token, Settlement settlement,
                 Executor& reply_to, std::function<void(Status)> done);

  HubOptions options_;
  storage::Store& store_;
  Clock& clock_;
  std::vector<Executor*> shards_;
  std::unique_ptr<auth::PolicyStore> policies_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<TelemetryLog> telemetry_;
  std::unique_ptr<FeedbackQueue> feedback_;
  std::unique_ptr<SessionStore> sessions_;
  std::vector<std::unique_ptr<C2dQueues>> c2d_;
  std::vector<std::unique_ptr<Presence>> presence_;
  std::unique_ptr<std::atomic<uint64_t>[]> c2d_depths_;  // per shard, written by ProcessTimers
  std::vector<Timestamp> next_session_check_;            // per shard, on its shard
  std::atomic<uint64_t> feedback_messages_{0};
  std::atomic<uint64_t> feedback_pending_{0};
};

}  // namespace iothub::core
