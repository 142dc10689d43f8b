#include "tools/iothub/sse.h"

namespace iothub::cli {

Status SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* events) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      Line(line_, events);
      line_.clear();
      continue;
    }
    if (line_.size() >= kMaxLine) {
      return InvalidArgument("an event stream line is longer than " + std::to_string(kMaxLine) +
                             " bytes");
    }
    line_.push_back(c);
  }
  return Status::Ok();
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>* events) {
  if (line.empty()) {
    if (has_data_) {
      events->push_back({.id = last_id_, .type = type_.empty() ? "message" : type_, .data = data_});
    }
    data_.clear();
    type_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment (keep-alive)
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  }
}

}  // namespace iothub::cli
