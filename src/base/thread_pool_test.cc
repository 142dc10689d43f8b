#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace iothub {
namespace {

TEST(ThreadPoolExecutorTest, RunsEveryPostedTaskOffTheCallingThread) {
  ThreadPoolExecutor pool(2);
  std::atomic<int> ran = 0;
  std::promise<void> all;
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> on_caller = false;
  for (int i = 0; i < 100; ++i) {
    pool.Post([&] {
      if (std::this_thread::get_id() == caller) on_caller = true;
      if (++ran == 100) all.set_value();
    });
  }
  all.get_future().wait();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_FALSE(on_caller.load());
}

TEST(ThreadPoolExecutorTest, StopFinishesTheRunningTaskAndDropsQueuedOnes) {
  ThreadPoolExecutor pool(1);
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> finished = false, queued_ran = false;
  pool.Post([&] {
    started.set_value();
    released.wait();
    finished = true;
  });
  pool.Post([&] { queued_ran = true; });
  started.get_future().wait();
  ASSERT_EQ(pool.queued(), 1u);
  std::thread stopper([&] { pool.Stop(); });
  // The only thread is held by the first task, so the queue empties only by Stop dropping it.
  while (pool.queued() != 0) std::this_thread::yield();
  release.set_value();
  stopper.join();
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(queued_ran.load());
  pool.Post([&] { queued_ran = true; });  // after Stop: dropped
  EXPECT_FALSE(queued_ran.load());
}

}  // namespace
}  // namespace iothub
