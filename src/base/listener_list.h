#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace iothub {

// Listeners that one thread notifies while another may add or remove them (a front-end
// registering with a shard's queue while that shard already runs). Notify calls a snapshot: a
// listener added or removed meanwhile (also by a listener itself) takes effect from the next
// Notify. Thread-safe; the lock is held only to take or replace the snapshot.
template <typename... Args>
class ListenerList {
 public:
  using Listener = std::function<void(Args...)>;

  // Returns an id for Remove.
  uint64_t Add(Listener listener) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<Entries>(*entries_);
    next->emplace_back(next_id_, std::move(listener));
    entries_ = std::move(next);
    return next_id_++;
  }
  void Remove(uint64_t id) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<Entries>(*entries_);
    std::erase_if(*next, [id](const auto& entry) { return entry.first == id; });
    entries_ = std::move(next);
  }
  bool empty() const { return Snapshot()->empty(); }
  void Notify(Args... args) const {
    for (const auto& [id, listener] : *Snapshot()) listener(args...);
  }

 private:
  using Entries = std::vector<std::pair<uint64_t, Listener>>;
  std::shared_ptr<const Entries> Snapshot() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

  mutable std::mutex mu_;
  std::shared_ptr<const Entries> entries_ = std::make_shared<const Entries>();
  uint64_t next_id_ = 1;
};

}  // namespace iothub
