#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/executor.h"

namespace iothub {

// A fixed set of threads running posted tasks in FIFO order: where work that blocks (control-plane
// calls that wait for the store) runs, off the shard threads.
//
// Thread-safe. Stop() finishes the tasks already running, drops the queued ones (they are
// destroyed on the calling thread) and joins; posts after Stop() are dropped. The destructor stops.
class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(size_t threads);
  ~ThreadPoolExecutor() override;
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  void Post(std::function<void()> task) override;
  void Stop();

  // Tasks waiting for a thread.
  size_t queued() {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace iothub
