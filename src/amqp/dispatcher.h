#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/message.h"

namespace iothub::amqp {

// Hands queued messages to the AMQP links that receive them, as their credit allows, on the
// shard of their queues: today the feedback queue (key ""), which service clients may read over
// several links at once. (A device's C2D messages reach its one link through the core's
// presence instead: core::Presence.) Links live on their connections' shards; a link's `deliver`
// posts there. The dispatcher only keeps, per link, the credit the link has handed over and not
// yet used, and pulls (locks) messages when a link has credit and its queue says messages are
// available.
//
// Thread: every method on the dispatcher's shard.
class Dispatcher {
 public:
  // Locks up to `max` visible messages of queue `key`, oldest first.
  using Pull = std::function<std::vector<core::Message>(const std::string& key, size_t max)>;
  // Takes locked messages to a link. Must not call back into the dispatcher synchronously.
  using Deliver = std::function<void(std::vector<core::Message>)>;

  explicit Dispatcher(Pull pull) : pull_(std::move(pull)) {}

  // A link starts receiving queue `key`; `link_id` is unique per endpoint.
  void Attach(const std::string& key, uint64_t link_id, Deliver deliver);
  // The link is gone: its unused credit is dropped.
  void Detach(const std::string& key, uint64_t link_id);
  // The link grants `credit` more messages; pulls at once if messages are visible.
  void AddCredit(const std::string& key, uint64_t link_id, uint32_t credit);
  // Queue `key` may have visible messages (the queue's available listener).
  void OnAvailable(const std::string& key);

  size_t link_count() const;

 private:
  struct Link {
    uint64_t id = 0;
    uint64_t credit = 0;
    Deliver deliver;
  };

  std::vector<Link>* Find(const std::string& key);

  Pull pull_;
  std::unordered_map<std::string, std::vector<Link>> links_;
  size_t next_ = 0;  // rotates which link of a key is served first
};

}  // namespace iothub::amqp
