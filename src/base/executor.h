#pragma once

#include <functional>

namespace iothub {

// Somewhere to run a task later: a shard's io_context in the daemon, a manual queue in tests.
// Post may be called from any thread; the task runs on the executor's own thread.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Post(std::function<void()> task) = 0;
};

// Runs each task at once on the calling thread. For single-threaded tests and tools.
class InlineExecutor final : public Executor {
 public:
  void Post(std::function<void()> task) override { task(); }
};

}  // namespace iothub
