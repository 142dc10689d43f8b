#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"

namespace iothub::net {

// The daemon's share-nothing threads (ARCHITECTURE.md, "Threading"): N event loops, each run by
// its own thread. State of a device lives on shard ShardOf(device id); other shards reach it by
// posting to that shard's Executor.
//
// Lifecycle: construct (threads start at once), post work, Stop(), Join() (the destructor does
// both). Tasks still queued at Stop() are dropped without running. Thread-safety: every method may
// be called from any thread, except Join() and the destructor, which must not run on a shard
// thread.
class ShardPool {
 public:
  // `shards` must be at least 1.
  explicit ShardPool(size_t shards);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  size_t size() const;

  // The shard that owns `device_id`: StableHash(device_id) % size(). The same on every run.
  size_t ShardOf(std::string_view device_id) const;

  // An Executor whose Post runs the task on shard `i`'s thread, in posting order. Valid as long as
  // the pool lives; posts after Stop() are dropped. `i` < size().
  Executor& executor(size_t i);

  // The shard whose thread is calling, or nullopt off the pool's threads.
  static std::optional<size_t> CurrentShard();

  // Asks every shard's loop to return; does not wait. Idempotent.
  void Stop();
  // Waits for every shard thread to finish. Idempotent.
  void Join();

  // Implementation handle for the timer and listener code of src/net (holds the Asio loops).
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// A re-armable one-shot timer on one shard: `on_fire` runs on that shard's thread once the wall
// clock reaches the armed deadline. Made to drive the core's NextDeadline()/ProcessTimers(): after
// each call, Arm(NextDeadline()).
//
// Thread-safety: Arm and Cancel may be called from any thread; calls from the owning shard take
// effect at once, others are posted to it (in order). The destructor cancels: once it returns,
// `on_fire` will not start on behalf of this timer (destroy it on its own shard, or after the pool
// has stopped, if `on_fire` must not be running concurrently).
class DeadlineTimer {
 public:
  DeadlineTimer(ShardPool& pool, size_t shard, std::function<void()> on_fire);
  ~DeadlineTimer();
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Fires at `when` (at once if it has passed), replacing any earlier deadline.
  void Arm(Timestamp when);
  // Forgets the armed deadline, if any.
  void Cancel();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Runs `task` on one shard every `period` (measured on the monotonic clock, first run one period
// after construction) until Stop() or destruction. For housekeeping: retention trims, feedback
// batching, metrics. Thread-safety as DeadlineTimer.
class PeriodicTask {
 public:
  PeriodicTask(ShardPool& pool, size_t shard, Duration period, std::function<void()> task);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace iothub::net
