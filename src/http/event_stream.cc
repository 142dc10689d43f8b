#include "http/event_stream.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "http/event_json.h"
#include "http/traffic.h"

namespace iothub::http {

std::shared_ptr<EventStream> EventStream::Start(core::TelemetryLog& log, Executor& blocking,
                                                EventStreamOptions options) {
  auto stream = std::make_shared<EventStream>(log, blocking, std::move(options));
  // A notification may arrive after Unsubscribe (or during destruction): hold only a weak_ptr.
  std::weak_ptr<EventStream> weak = stream;
  stream->subscription_ = log.Subscribe([weak](uint32_t partition, uint64_t next_offset) {
    if (auto self = weak.lock()) self->OnAppend(partition, next_offset);
  });
  return stream;
}

EventStream::EventStream(core::TelemetryLog& log, Executor& blocking, EventStreamOptions options)
    : log_(log), blocking_(blocking), options_(std::move(options)) {
  for (const auto& [partition, offset] : options_.start) {
    partitions_[partition].position = offset;
  }
}

EventStream::~EventStream() { log_.Unsubscribe(subscription_); }

std::string EventStream::FormatEvent(uint32_t partition, const core::Message& message) {
  return "id: " + std::to_string(partition) + ":" + std::to_string(message.sequence_number) +
         "\nevent: message\ndata: " + EventToJson(partition, message) + "\n\n";
}

std::string EventStream::Heartbeat() const { return ": keep-alive\n\n"; }

void EventStream::Pull(std::function<void(std::optional<std::string>)> next) {
  Reads reads;
  bool ended;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    ended = ended_;
    if (!ended) {
      pending_ = std::move(next);
      reads = TakeReadsLocked();
    }
  }
  if (ended) {
    Deliver(std::move(next), std::nullopt);  // the body already ended on a read error
    return;
  }
  PostReads(std::move(reads));
}

void EventStream::Cancel() {
  {
    std::lock_guard deliver(deliver_mu_);
    std::lock_guard lock(mu_);
    cancelled_ = true;
    pending_ = nullptr;
  }
  log_.Unsubscribe(subscription_);
}

EventStream::Reads EventStream::TakeReadsLocked() {
  Reads reads;
  if (reading_ || !pending_ || cancelled_ || ended_) return reads;
  for (const auto& [partition, state] : partitions_) {
    if (state.NeedsRead()) reads.emplace_back(partition, state.position);
  }
  if (reads.empty()) return reads;
  std::rotate(reads.begin(), reads.begin() + static_cast<ptrdiff_t>(round_++ % reads.size()),
              reads.end());
  reading_ = true;
  return reads;
}

void EventStream::PostReads(Reads reads) {
  if (reads.empty()) return;
  // Posted outside mu_: an inline executor would otherwise re-enter it.
  std::weak_ptr<EventStream> weak = weak_from_this();
  blocking_.Post([weak, reads = std::move(reads)] {
    if (auto self = weak.lock()) self->RunReads(reads);
  });
}

void EventStream::RunReads(const Reads& reads) {
  struct Outcome {
    uint32_t partition;
    uint64_t position;
    bool found;
  };
  std::vector<Outcome> outcomes;
  std::string piece;
  Status error;
  for (const auto& [partition, from] : reads) {
    if (piece.size() >= options_.max_piece_bytes) break;  // the rest stay due for the next read
    auto records =
        log_.Read(partition, from, options_.max_events_per_read, options_.max_bytes_per_read);
    if (!records) {
      error = records.error();
      break;
    }
    uint64_t position = from;
    for (const core::Message& m : *records) {
      position = m.sequence_number + 1;
      if (!options_.device_id.empty() && m.connection_device_id != options_.device_id) continue;
      piece += FormatEvent(partition, m);
      CountMessages(Traffic::kTelemetryOut);
    }
    outcomes.push_back({partition, position, !records->empty()});
  }

  std::function<void(std::optional<std::string>)> next;
  Reads more;
  {
    std::lock_guard lock(mu_);
    reading_ = false;
    if (cancelled_) return;
    for (const Outcome& o : outcomes) {
      PartitionState& state = partitions_[o.partition];
      state.position = o.position;
      state.maybe_more = o.found;
    }
    if (!error.ok()) {
      HUB_LOG_WARN("http", "event stream ends on a read error: {}", error.ToString());
      ended_ = true;
      next = std::exchange(pending_, nullptr);
    } else if (!piece.empty()) {
      next = std::exchange(pending_, nullptr);
    } else {
      // Nothing to send (all filtered out, or nothing new): read again if some partition may
      // still hold records or was announced meanwhile; otherwise wait for a notification.
      more = TakeReadsLocked();
    }
  }
  if (next) {
    Deliver(std::move(next),
            error.ok() ? std::optional<std::string>(std::move(piece)) : std::nullopt);
  }
  PostReads(std::move(more));
}

void EventStream::OnAppend(uint32_t partition, uint64_t next_offset) {
  Reads reads;
  {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) return;
    it->second.notified_end = std::max(it->second.notified_end, next_offset);
    reads = TakeReadsLocked();
  }
  PostReads(std::move(reads));
}

void EventStream::Deliver(std::function<void(std::optional<std::string>)> next,
                          std::optional<std::string> piece) {
  std::lock_guard deliver(deliver_mu_);
  if (cancelled_) return;
  next(std::move(piece));
}

}  // namespace iothub::http
