// monitor: follow telemetry over Server-Sent Events.
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/iothub/cli_status.h"
#include "tools/iothub/commands.h"
#include "tools/iothub/error_body.h"
#include "tools/iothub/output.h"
#include "tools/iothub/sse.h"

namespace iothub::cli {
namespace {

// Where each partition's stream stands: the offset of the last event printed.
class Positions {
 public:
  // Notes an event id "<partition>:<offset>"; other ids are kept as they are.
  void Note(const std::string& id) {
    size_t colon = id.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == id.size()) {
      other_ = id;
      return;
    }
    int64_t partition = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + colon, partition);
    if (ec != std::errc() || end != id.data() + colon) {
      other_ = id;
      return;
    }
    offsets_[partition] = id.substr(colon + 1);
  }

  // The Last-Event-ID that resumes every partition after its last event: "0:17,1:42" (the hub
  // takes one position per partition; see docs/rest.md, "Resuming").
  std::string LastEventId() const {
    if (offsets_.empty()) return other_;
    std::string out;
    for (const auto& [partition, offset] : offsets_) {
      out += (out.empty() ? "" : ",") + std::to_string(partition) + ":" + offset;
    }
    return out;
  }

 private:
  std::map<int64_t, std::string> offsets_;
  std::string other_;
};

// Prints the events of one connection; counts across reconnections.
class MonitorHandler final : public StreamHandler {
 public:
  MonitorHandler(const Invocation& inv, Context& ctx, SseParser& parser, Positions& positions,
                 uint64_t& printed, std::optional<Timestamp> deadline)
      : inv_(inv),
        ctx_(ctx),
        parser_(parser),
        positions_(positions),
        printed_(printed),
        deadline_(deadline) {}

  bool OnHead(const HttpResponse& head) override {
    head_ = head;
    return head.status == 200;
  }

  bool OnData(std::string_view bytes) override {
    received_data_ = true;
    std::vector<SseEvent> events;
    parse_status_ = parser_.Feed(bytes, &events);
    for (const SseEvent& event : events) {
      if (event.type != "message") continue;
      if (!event.id.empty()) positions_.Note(event.id);
      Json json = Json::parse(event.data, nullptr, /*allow_exceptions=*/false);
      if (inv_.json) {
        ctx_.out << (json.is_discarded() ? event.data + "\n" : JsonLine(json));
      } else {
        ctx_.out << (json.is_object() ? FormatEvent(json)
                                      : "(unreadable event) " + event.data + "\n");
      }
      ++printed_;
      if (Done()) break;
    }
    ctx_.out.flush();
    return parse_status_.ok() && !Done();
  }

  bool ShouldStop() override {
    return ctx_.interrupted() || (deadline_ && ctx_.clock.Now() >= *deadline_);
  }

  bool Done() const { return inv_.count != 0 && printed_ >= inv_.count; }
  const std::optional<HttpResponse>& head() const { return head_; }
  bool received_data() const { return received_data_; }
  const Status& parse_status() const { return parse_status_; }

 private:
  const Invocation& inv_;
  Context& ctx_;
  SseParser& parser_;
  Positions& positions_;
  uint64_t& printed_;
  std::optional<Timestamp> deadline_;
  std::optional<HttpResponse> head_;
  bool received_data_ = false;
  Status parse_status_;
};

}  // namespace

Status RunMonitor(const Invocation& inv, Context& ctx) {
  std::optional<Timestamp> deadline;
  if (inv.timeout_seconds) {
    deadline = ctx.clock.Now() + Duration(static_cast<int64_t>(*inv.timeout_seconds * 1000));
  }
  SseParser parser;
  Positions positions;
  uint64_t printed = 0;
  EventsQuery query{.from = inv.from, .device_id = inv.device_id, .last_event_id = {}};
  bool resumed = false;  // this connection resumes a lost one
  while (true) {
    MonitorHandler handler(inv, ctx, parser, positions, printed, deadline);
    Status streamed = ctx.client.StreamEvents(query, handler);
    if (handler.head() && handler.head()->status != 200) {
      return StatusFromResponse(*handler.head());
    }
    if (!handler.parse_status().ok()) {
      return Internal(handler.parse_status().message(), kBadResponse);
    }
    if (streamed.ok() || streamed.reason() == kInterrupted) return Status::Ok();
    if (streamed.reason() != kConnectionError || !handler.head()) return streamed;
    // The stream was lost after it had started. Resume once; give up when that fails at once.
    if (resumed && !handler.received_data()) return streamed;
    ctx.err << "iothub: " << ErrorLine(streamed) << "; reconnecting\n" << std::flush;
    query.last_event_id = positions.LastEventId();
    resumed = true;
    if (!ctx.sleep(std::chrono::seconds(1))) return Status::Ok();
  }
}

}  // namespace iothub::cli
