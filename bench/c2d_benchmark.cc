// Cost of one C2D message's life on the embedded store: enqueue (durable) -> receive-and-lock ->
// complete (durable), on RocksDB, with real syncs and with syncs turned off (kSync downgraded to
// kAsync), one message at a time and with many devices in flight (where group commit shares syncs).
//
//   scripts/bench c2d          (or build/bin/c2d_benchmark)
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/c2d/c2d_queues.h"
#include "storage/rocksdb/rocksdb_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/temp_dir.h"

namespace iothub {
namespace {

// One worker thread draining a queue: the shard thread the C2D queues live on.
class ThreadExecutor final : public Executor {
 public:
  ThreadExecutor() : thread_([this] { Run(); }) {}
  ~ThreadExecutor() override {
    Post(nullptr);
    thread_.join();
  }
  void Post(std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    cv_.notify_one();
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      if (!task) return;
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
};

// Forwards to a store but never asks it to sync: the "without sync" side of the comparison.
class NoSyncStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void Commit(storage::WriteBatch b, storage::Durability, storage::CommitCallback done) override {
    inner_.Commit(std::move(b), storage::Durability::kAsync, std::move(done));
  }
};

// Counts down on the shard thread; the benchmark thread waits for zero.
class Latch {
 public:
  void Reset(int n) {
    std::lock_guard lock(mu_);
    n_ = n;
  }
  void CountDown() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return n_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// Args: {sync (0/1), devices in flight}.
void BM_C2dEnqueueLockComplete(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const int in_flight = static_cast<int>(state.range(1));
  testing::TempDir dir;
  auto opened = storage::OpenRocksDbStore({.path = dir.str() + "/store"});
  if (!opened) {
    state.SkipWithError(opened.error().ToString().c_str());
    return;
  }
  std::unique_ptr<storage::Store> rocks = std::move(*opened);
  NoSyncStore no_sync(*rocks);
  storage::Store& store = sync ? *rocks : static_cast<storage::Store&>(no_sync);
  ThreadExecutor shard;
  auto lookup = [](std::string_view) {
    return std::optional<core::DeviceInfo>(core::DeviceInfo{"1"});
  };
  core::C2dQueues queues(store, SystemClock::Instance(), shard, lookup);
  std::vector<std::string> devices;
  for (int i = 0; i < in_flight; ++i) devices.push_back("device-" + std::to_string(i));

  core::Message message;
  message.body = std::string(256, 'x');
  message.message_id = "benchmark";
  message.ack = core::AckMode::kFull;  // the full cost: a feedback record with each completion
  Latch latch;
  bool failed = false;
  for (auto _ : state) {
    latch.Reset(in_flight);
    shard.Post([&] {
      for (const auto& d : devices) {
        queues.Enqueue(d, message, [&](Result<uint64_t> r) {
          if (!r) failed = true;
          latch.CountDown();
        });
      }
    });
    latch.Wait();
    latch.Reset(in_flight);
    shard.Post([&] {
      for (const auto& d : devices) {
        auto locked = queues.ReceiveAndLock(d);
        if (!locked) {
          failed = true;
          latch.CountDown();
          continue;
        }
        queues.Complete(d, locked->lock_token, [&](Status s) {
          if (!s.ok()) failed = true;
          latch.CountDown();
        });
      }
    });
    latch.Wait();
  }
  if (failed) state.SkipWithError("a C2D operation failed");
  state.SetItemsProcessed(state.iterations() * in_flight);
  auto stats = rocks->stats();
  state.counters["syncs_per_msg"] = benchmark::Counter(
      static_cast<double>(stats.syncs) / static_cast<double>(state.iterations() * in_flight));
  // Drain feedback records' commits before the queues go away.
  rocks->Close();
  Latch drained;
  drained.Reset(1);
  shard.Post([&] { drained.CountDown(); });
  drained.Wait();
}

BENCHMARK(BM_C2dEnqueueLockComplete)
    ->ArgNames({"sync", "in_flight"})
    ->Args({1, 1})
    ->Args({1, 64})
    ->Args({0, 1})
    ->Args({0, 64})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace iothub

BENCHMARK_MAIN();
