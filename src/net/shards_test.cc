#include "net/shards.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/strings.h"

namespace iothub::net {
namespace {

using namespace std::chrono_literals;

// Runs `fn` on shard `shard` and waits for it.
template <typename Fn>
auto RunOnShard(ShardPool& pool, size_t shard, Fn fn) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  auto shared = std::make_shared<decltype(task)>(std::move(task));
  pool.executor(shard).Post([shared] { (*shared)(); });
  return result.get();
}

// Counts events and lets a test wait for a count with a generous real-time bound: the timers under
// test run on the wall clock, as the daemon's do.
class Counter {
 public:
  void Increment() {
    std::lock_guard lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  bool WaitFor(int n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

Timestamp Now() { return SystemClock::Instance().Now(); }

TEST(ShardPoolTest, EachShardRunsOnItsOwnThread) {
  ShardPool pool(3);
  ASSERT_EQ(pool.size(), 3u);
  std::set<std::thread::id> threads;
  for (size_t i = 0; i < pool.size(); ++i) {
    auto [id, current] = RunOnShard(pool, i, [] {
      return std::make_pair(std::this_thread::get_id(), ShardPool::CurrentShard());
    });
    EXPECT_NE(id, std::this_thread::get_id());
    ASSERT_TRUE(current.has_value());
    EXPECT_EQ(*current, i);
    threads.insert(id);
  }
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_FALSE(ShardPool::CurrentShard().has_value());
}

TEST(ShardPoolTest, PostsRunInOrder) {
  ShardPool pool(2);
  std::vector<int> order;  // touched only by shard 1
  for (int i = 0; i < 100; ++i) pool.executor(1).Post([&order, i] { order.push_back(i); });
  RunOnShard(pool, 1, [] { return 0; });
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(ShardPoolTest, ShardOfIsTheStableHashModuloShards) {
  ShardPool pool(4);
  for (std::string id : {"device-1", "device-2", "a", "", "\xff\xfe"}) {
    EXPECT_EQ(pool.ShardOf(id), StableHash(id) % 4) << id;
  }
  ShardPool single(1);
  EXPECT_EQ(single.ShardOf("anything"), 0u);
}

TEST(ShardPoolTest, StopAndJoinAreIdempotentAndLaterPostsAreDropped) {
  ShardPool pool(2);
  pool.Stop();
  pool.Join();
  bool ran = false;
  pool.executor(0).Post([&ran] { ran = true; });
  pool.Stop();
  pool.Join();
  EXPECT_FALSE(ran);
}

TEST(DeadlineTimerTest, FiresOnItsShardWhenTheDeadlineHasPassed) {
  ShardPool pool(2);
  Counter fired;
  std::atomic<int> shard_seen{-1};
  DeadlineTimer timer(pool, 1, [&] {
    shard_seen = static_cast<int>(ShardPool::CurrentShard().value_or(99));
    fired.Increment();
  });
  timer.Arm(Now() - 1s);
  ASSERT_TRUE(fired.WaitFor(1));
  EXPECT_EQ(shard_seen.load(), 1);
}

TEST(DeadlineTimerTest, FiresAtAFutureDeadlineOnce) {
  ShardPool pool(1);
  Counter fired;
  DeadlineTimer timer(pool, 0, [&] { fired.Increment(); });
  Timestamp deadline = Now() + 30ms;
  timer.Arm(deadline);
  ASSERT_TRUE(fired.WaitFor(1));
  EXPECT_GE(Now(), deadline);
  // A later round trip through the shard shows no second firing was queued.
  RunOnShard(pool, 0, [] { return 0; });
  EXPECT_EQ(fired.count(), 1);
}

TEST(DeadlineTimerTest, ArmReplacesTheEarlierDeadline) {
  ShardPool pool(1);
  Counter fired;
  DeadlineTimer timer(pool, 0, [&] { fired.Increment(); });
  // Both on the shard thread, so the replacement happens before the first could fire.
  RunOnShard(pool, 0, [&] {
    timer.Arm(Now() - 1s);
    timer.Arm(Now() + 1h);
    return 0;
  });
  RunOnShard(pool, 0, [&] {
    timer.Arm(Now() + 10ms);
    return 0;
  });
  ASSERT_TRUE(fired.WaitFor(1));
  RunOnShard(pool, 0, [] { return 0; });
  EXPECT_EQ(fired.count(), 1);
}

TEST(DeadlineTimerTest, CancelAndDestructionPreventFiring) {
  ShardPool pool(1);
  Counter fired;
  {
    DeadlineTimer cancelled(pool, 0, [&] { fired.Increment(); });
    RunOnShard(pool, 0, [&] {
      cancelled.Arm(Now() - 1s);
      cancelled.Cancel();
      return 0;
    });
    auto destroyed = std::make_unique<DeadlineTimer>(pool, 0, [&] { fired.Increment(); });
    RunOnShard(pool, 0, [&] {
      destroyed->Arm(Now() - 1s);
      destroyed.reset();
      return 0;
    });
  }
  // Give a wrongly pending handler every chance to run.
  std::this_thread::sleep_for(50ms);
  RunOnShard(pool, 0, [] { return 0; });
  EXPECT_EQ(fired.count(), 0);
}

TEST(PeriodicTaskTest, RunsRepeatedlyUntilStopped) {
  ShardPool pool(2);
  Counter runs;
  std::atomic<bool> off_shard{false};
  PeriodicTask task(pool, 1, 5ms, [&] {
    if (ShardPool::CurrentShard() != std::optional<size_t>(1)) off_shard = true;
    runs.Increment();
  });
  ASSERT_TRUE(runs.WaitFor(3));
  task.Stop();
  RunOnShard(pool, 1, [] { return 0; });
  int after_stop = runs.count();
  std::this_thread::sleep_for(30ms);
  RunOnShard(pool, 1, [] { return 0; });
  EXPECT_EQ(runs.count(), after_stop);
  EXPECT_FALSE(off_shard);
}

}  // namespace
}  // namespace iothub::net
