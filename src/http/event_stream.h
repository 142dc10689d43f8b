#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/executor.h"
#include "core/message.h"
#include "core/telemetry/telemetry_log.h"
#include "http/message.h"

namespace iothub::http {

struct EventStreamOptions {
  // The partitions to follow, each with the first offset to send (a resolved start position).
  std::map<uint32_t, uint64_t> start;
  // When set, only events whose iothub-connection-device-id is this id are sent (their offsets are
  // still consumed, so a filter never stalls the stream).
  std::string device_id;
  // Per partition and read: at most this many records, and beyond the first about this many
  // stored bytes (TelemetryLog::Read's limits).
  size_t max_events_per_read = 100;
  size_t max_bytes_per_read = size_t{256} * 1024;
  // A piece (one Pull's answer) stops reading further partitions once it holds this many bytes;
  // the partitions not read come first in the next read, so none starves.
  size_t max_piece_bytes = size_t{1} << 20;
};

// One Server-Sent Events answer following the telemetry log live (docs/rest.md, "Streams"). Each
// event is "id: <partition>:<offset>\nevent: message\ndata: <Event JSON>\n\n" (event_json.h).
//
// Each Pull answers with every event read in one round over the partitions that may hold new
// records (several events per piece), or waits: the stream subscribes to TelemetryLog::Subscribe,
// and a notification of a partition's new end wakes a waiting Pull. Reads touch the store, so
// they run on `blocking`, one at a time; only a finished read moves the per-partition positions,
// so an event is sent exactly once and in offset order within its partition, whatever the timing
// of pulls and notifications. A read error (store failure, corrupt record) ends the body: the
// client reconnects with Last-Event-ID.
//
// Threads: Pull and Cancel come from the session; notifications from store threads; reads run on
// `blocking`; `next` is called from the read's thread, holding an internal lock that Cancel also
// takes (so once Cancel returns `next` is never called): `next` must not wait for a thread that
// may be inside Cancel. The log and `blocking` must outlive the stream and the reads it posted.
class EventStream final : public BodyStream, public std::enable_shared_from_this<EventStream> {
 public:
  // Creates the stream and subscribes it to `log`. Does not read yet: the first Pull does.
  static std::shared_ptr<EventStream> Start(core::TelemetryLog& log, Executor& blocking,
                                            EventStreamOptions options);
  ~EventStream() override;

  void Pull(std::function<void(std::optional<std::string>)> next) override;
  // ": keep-alive\n\n", an SSE comment.
  std::string Heartbeat() const override;
  void Cancel() override;

  // The SSE text of one event.
  static std::string FormatEvent(uint32_t partition, const core::Message& message);

  // Private to Start (make_shared needs it public).
  EventStream(core::TelemetryLog& log, Executor& blocking, EventStreamOptions options);

 private:
  struct PartitionState {
    uint64_t position = 0;      // next offset to send
    uint64_t notified_end = 0;  // the largest next_offset the log announced
    bool maybe_more = true;     // never read, or the last read found records
    bool NeedsRead() const { return maybe_more || notified_end > position; }
  };
  using Reads = std::vector<std::pair<uint32_t, uint64_t>>;  // (partition, from offset)

  // The reads to post now, or empty when a read is running, no Pull waits, or nothing is new.
  Reads TakeReadsLocked();
  void PostReads(Reads reads);
  void RunReads(const Reads& reads);
  void OnAppend(uint32_t partition, uint64_t next_offset);
  void Deliver(std::function<void(std::optional<std::string>)> next,
               std::optional<std::string> piece);

  core::TelemetryLog& log_;
  Executor& blocking_;
  const EventStreamOptions options_;
  uint64_t subscription_ = 0;

  // Lock order: deliver_mu_, then mu_. Recursive, so that a `next` cancelling inline is safe.
  std::recursive_mutex deliver_mu_;
  std::mutex mu_;
  std::map<uint32_t, PartitionState> partitions_;
  std::function<void(std::optional<std::string>)> pending_;  // a Pull waiting for a piece
  bool reading_ = false;
  bool ended_ = false;      // after a read error: the body was ended
  bool cancelled_ = false;  // written holding both mutexes
  uint64_t round_ = 0;      // rotates the partition order between reads
};

}  // namespace iothub::http
