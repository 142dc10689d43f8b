#pragma once

#include <deque>
#include <functional>
#include <mutex>

#include "base/executor.h"

namespace iothub::testing {

// Queues posted tasks until the test runs them, so a test decides exactly when callbacks happen.
// Post is thread-safe; RunAll runs on the test's thread.
class ManualExecutor final : public Executor {
 public:
  void Post(std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }

  // Runs queued tasks, including ones they post, until none is left. Returns how many ran.
  size_t RunAll() {
    size_t n = 0;
    while (true) {
      std::function<void()> task;
      {
        std::lock_guard lock(mu_);
        if (tasks_.empty()) return n;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      ++n;
    }
  }

  // Drops every queued task unrun: what a crash does to work not yet done.
  void Clear() {
    std::lock_guard lock(mu_);
    tasks_.clear();
  }

  size_t pending() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
};

}  // namespace iothub::testing
