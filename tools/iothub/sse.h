#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace iothub::cli {

// One Server-Sent Event.
struct SseEvent {
  std::string id;    // the last event id seen so far (ids persist across events, per the spec)
  std::string type;  // the "event" field; "message" when absent
  std::string data;  // the "data" lines joined with '\n'
};

// Splits a text/event-stream body into events (WHATWG HTML, "Server-sent events": lines end in
// CRLF, LF or CR; "field: value" with one optional space after the colon; lines starting with ':'
// are comments, e.g. the hub's ": keep-alive"; a blank line dispatches the event when it has data;
// "retry" and unknown fields are ignored). Sans-I/O: feed it bytes split anywhere.
// Thread: one at a time.
class SseParser {
 public:
  // Appends the events `bytes` completes to *events. InvalidArgument when a line grows past
  // `max_line` bytes (a broken or hostile stream); the parser is then unusable.
  Status Feed(std::string_view bytes, std::vector<SseEvent>* events);

  // The id of the last event (to resume with a Last-Event-ID header).
  const std::string& last_event_id() const { return last_id_; }

  static constexpr size_t kMaxLine = 4 << 20;

 private:
  void Line(std::string_view line, std::vector<SseEvent>* events);

  std::string line_;       // the current, unfinished line
  bool after_cr_ = false;  // the last byte was a CR: a following LF belongs to it
  std::string data_;
  std::string type_;
  bool has_data_ = false;
  std::string last_id_;
};

}  // namespace iothub::cli
