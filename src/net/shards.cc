#include "net/shards.h"

#include <pthread.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>
#include <mutex>
#include <string>
#include <thread>

#include "base/check.h"
#include "base/strings.h"
#include "net/asio_access.h"

namespace iothub::net {
namespace asio = boost::asio;

namespace {

thread_local std::optional<size_t> current_shard;

class IoExecutor final : public Executor {
 public:
  explicit IoExecutor(asio::io_context& io) : io_(io) {}
  void Post(std::function<void()> task) override { asio::post(io_, std::move(task)); }

 private:
  asio::io_context& io_;
};

// Runs `fn` on `io`'s thread: at once when already there, else posted.
template <typename Fn>
void RunOn(asio::io_context& io, Fn&& fn) {
  if (io.get_executor().running_in_this_thread()) {
    fn();
  } else {
    asio::post(io, std::forward<Fn>(fn));
  }
}

}  // namespace

struct ShardPool::Impl {
  struct Shard {
    asio::io_context io{1};  // hint: one thread runs it
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    IoExecutor executor{io};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Shard>> shards;
  std::mutex join_mu;
};

ShardPool::ShardPool(size_t shards) : impl_(std::make_unique<Impl>()) {
  HUB_CHECK(shards >= 1);
  for (size_t i = 0; i < shards; ++i) impl_->shards.push_back(std::make_unique<Impl::Shard>());
  for (size_t i = 0; i < shards; ++i) {
    Impl::Shard* shard = impl_->shards[i].get();
    shard->thread = std::thread([shard, i] {
      current_shard = i;
      std::string name = "shard-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      shard->io.run();
      current_shard.reset();
    });
  }
}

ShardPool::~ShardPool() {
  Stop();
  Join();
}

size_t ShardPool::size() const { return impl_->shards.size(); }

size_t ShardPool::ShardOf(std::string_view device_id) const {
  return StableHash(device_id) % impl_->shards.size();
}

Executor& ShardPool::executor(size_t i) {
  HUB_CHECK(i < impl_->shards.size());
  return impl_->shards[i]->executor;
}

std::optional<size_t> ShardPool::CurrentShard() { return current_shard; }

void ShardPool::Stop() {
  for (auto& shard : impl_->shards) {
    shard->work.reset();
    shard->io.stop();
  }
}

void ShardPool::Join() {
  std::lock_guard lock(impl_->join_mu);
  for (auto& shard : impl_->shards) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

asio::io_context& IoContext(ShardPool& pool, size_t shard) {
  HUB_CHECK(shard < pool.size());
  return pool.impl().shards[shard]->io;
}

// --- DeadlineTimer ---

struct DeadlineTimer::State {
  State(asio::io_context& io_in, std::function<void()> fn)
      : io(io_in), timer(io_in), on_fire(std::move(fn)) {}
  asio::io_context& io;
  asio::system_timer timer;  // the wall clock, as Timestamps are
  std::function<void()> on_fire;
  std::atomic<bool> dead{false};
  uint64_t generation = 0;  // shard thread only; stale completions compare unequal
};

DeadlineTimer::DeadlineTimer(ShardPool& pool, size_t shard, std::function<void()> on_fire)
    : state_(std::make_shared<State>(IoContext(pool, shard), std::move(on_fire))) {}

DeadlineTimer::~DeadlineTimer() {
  state_->dead = true;
  Cancel();
}

void DeadlineTimer::Arm(Timestamp when) {
  RunOn(state_->io, [state = state_, when] {
    if (state->dead) return;
    uint64_t generation = ++state->generation;
    state->timer.expires_at(when);
    state->timer.async_wait([state, generation](const boost::system::error_code& ec) {
      if (ec || state->dead || generation != state->generation) return;
      state->on_fire();
    });
  });
}

void DeadlineTimer::Cancel() {
  RunOn(state_->io, [state = state_] {
    ++state->generation;
    state->timer.cancel();
  });
}

// --- PeriodicTask ---

struct PeriodicTask::State {
  State(asio::io_context& io_in, Duration p, std::function<void()> fn)
      : io(io_in), timer(io_in), period(p), task(std::move(fn)) {}
  asio::io_context& io;
  asio::steady_timer timer;
  Duration period;
  std::function<void()> task;
  std::atomic<bool> stopped{false};
};

namespace {

void ScheduleNext(const std::shared_ptr<PeriodicTask::State>& state) {
  auto now = asio::steady_timer::clock_type::now();
  auto next = state->timer.expiry() + state->period;
  // After a long task or a stall, skip the missed runs rather than run them back to back.
  state->timer.expires_at(next < now ? now + state->period : next);
  state->timer.async_wait([state](const boost::system::error_code& ec) {
    if (ec || state->stopped) return;
    state->task();
    if (!state->stopped) ScheduleNext(state);
  });
}

}  // namespace

PeriodicTask::PeriodicTask(ShardPool& pool, size_t shard, Duration period,
                           std::function<void()> task)
    : state_(std::make_shared<State>(IoContext(pool, shard), period, std::move(task))) {
  HUB_CHECK(period.count() > 0);
  RunOn(state_->io, [state = state_] {
    if (state->stopped) return;
    state->timer.expires_at(asio::steady_timer::clock_type::now());
    ScheduleNext(state);
  });
}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Stop() {
  state_->stopped = true;
  RunOn(state_->io, [state = state_] { state->timer.cancel(); });
}

}  // namespace iothub::net
