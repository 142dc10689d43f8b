#pragma once

#include <cstdint>

namespace iothub::core {
class Hub;
}

namespace iothub::server {

// Publishes the hub's state as gauges at every /metrics scrape: devices by status and connected,
// C2D messages queued, feedback messages and records waiting to be batched, and per telemetry
// partition the records and bytes held and the next offset. Values the shards own come from the
// copies they publish every timer tick (Hub::C2dQueuedTotal and friends), so a scrape never waits
// for a shard.
//
// Owner: the daemon, on its control thread. The hub must outlive this object; the scrape hook is
// removed by the destructor, which waits for a scrape under way.
class HubMetrics {
 public:
  explicit HubMetrics(core::Hub& hub);
  ~HubMetrics();
  HubMetrics(const HubMetrics&) = delete;
  HubMetrics& operator=(const HubMetrics&) = delete;

  // What the scrape hook does; public for tests.
  void Update();

 private:
  core::Hub& hub_;
  uint64_t hook_id_ = 0;
};

}  // namespace iothub::server
