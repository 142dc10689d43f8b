#include "http/message_headers.h"

#include <cctype>
#include <string>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "base/strings.h"

namespace iothub::http {
namespace {

constexpr std::string_view kAppPrefix = "iothub-app-";
// The Node SDK sends an application property named "dt-subject" as a bare header (no prefix).
constexpr std::string_view kDtSubject = "dt-subject";

// RFC 9110 token characters: what a header name may hold.
bool IsTokenChar(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Field values may hold visible ASCII, space, tab and obs-text (bytes >= 0x80, so UTF-8 passes);
// never CR, LF, NUL or other controls, which would let a property split the response.
bool IsHeaderValue(std::string_view value) {
  for (unsigned char c : value) {
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// Sets `name: value` unless `value` is empty (unset) or could not travel in a header. Values that
// other transports accepted but HTTP cannot carry are left out rather than mangled.
void SetIfValid(Headers* out, std::string_view name, std::string_view value) {
  if (value.empty() || !IsHeaderValue(value)) return;
  out->insert_or_assign(std::string(name), std::string(value));
}

const std::string* Find(const Headers& headers, std::string_view name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

}  // namespace

Status MessageFromHeaders(const Headers& headers, core::Message* out, bool http_body_headers) {
  for (const auto& [name, value] : headers) {
    std::string_view n = name;
    if (StartsWithIgnoreCase(n, kAppPrefix)) {
      std::string_view key = n.substr(kAppPrefix.size());
      if (!key.empty()) out->SetProperty(key, value);
    } else if (EqualsIgnoreCase(n, kDtSubject)) {
      out->SetProperty(kDtSubject, value);
    }
  }
  if (const std::string* v = Find(headers, "IoTHub-MessageId")) out->message_id = *v;
  if (const std::string* v = Find(headers, "IoTHub-CorrelationId")) out->correlation_id = *v;
  if (const std::string* v = Find(headers, "IoTHub-To")) out->to = *v;
  if (const std::string* v = Find(headers, "IoTHub-UserId")) out->user_id = *v;
  if (const std::string* v = Find(headers, "iothub-contenttype")) {
    out->content_type = *v;
  } else if (const std::string* ct = Find(headers, "Content-Type"); ct && http_body_headers) {
    out->content_type = *ct;
  }
  if (const std::string* v = Find(headers, "iothub-contentencoding")) {
    out->content_encoding = *v;
  } else if (const std::string* ce = Find(headers, "Content-Encoding"); ce && http_body_headers) {
    out->content_encoding = *ce;
  }
  if (const std::string* v = Find(headers, "IoTHub-Expiry"); v != nullptr && !v->empty()) {
    Timestamp expiry;
    if (!ParseIso8601(*v, &expiry)) {
      return InvalidArgument("IoTHub-Expiry must be an ISO 8601 UTC time, got '" + *v + "'",
                             "ArgumentInvalid");
    }
    out->expiry = expiry;
  }
  if (const std::string* v = Find(headers, "IoTHub-Ack")) {
    if (!core::ParseAckMode(*v, &out->ack)) {
      return InvalidArgument(
          "IoTHub-Ack must be one of none, positive, negative, full, got '" + *v + "'",
          "ArgumentInvalid");
    }
  }
  return Status::Ok();
}

void MessageToHeaders(const core::Message& message, Headers* out) {
  SetIfValid(out, "iothub-messageid", message.message_id);
  SetIfValid(out, "iothub-correlationid", message.correlation_id);
  SetIfValid(out, "iothub-to", message.to);
  SetIfValid(out, "iothub-userid", message.user_id);
  if (message.expiry) SetIfValid(out, "iothub-expiry", FormatIso8601(*message.expiry));
  if (message.sequence_number != 0) {
    SetIfValid(out, "iothub-sequencenumber", std::to_string(message.sequence_number));
  }
  if (message.enqueued_time) {
    SetIfValid(out, "iothub-enqueuedtime", FormatIso8601(*message.enqueued_time));
  }
  if (!message.lock_token.empty()) {
    // A delivery: its count is meaningful even at 0.
    out->insert_or_assign("iothub-deliverycount", std::to_string(message.delivery_count));
    SetIfValid(out, "ETag", "\"" + message.lock_token + "\"");
  }
  if (message.ack != core::AckMode::kNone) {
    SetIfValid(out, "iothub-ack", core::AckModeName(message.ack));
  }
  // The HTTP Content-Type describes the body, which is the message body; Content-Encoding is NOT
  // mirrored, since an HTTP client would take "gzip" there as a transfer coding to undo.
  SetIfValid(out, "iothub-contenttype", message.content_type);
  SetIfValid(out, "Content-Type", message.content_type);
  SetIfValid(out, "iothub-contentencoding", message.content_encoding);
  // The C SDK's HTTP transport reads these two names (PROTOCOL.md, "HTTPS device transport").
  SetIfValid(out, "ContentType", message.content_type);
  SetIfValid(out, "ContentEncoding", message.content_encoding);
  for (const auto& [key, value] : message.properties) {
    std::string name = std::string(kAppPrefix) + key;
    if (key.empty() || !IsHeaderName(name)) continue;
    if (IsHeaderValue(value)) out->insert_or_assign(std::move(name), value);
  }
}

Response LockedMessageResponse(core::Message message) {
  Response response;
  response.status = 200;
  MessageToHeaders(message, &response.headers);
  response.body = std::move(message.body);
  return response;
}

}  // namespace iothub::http
