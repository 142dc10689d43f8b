#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace iothub {

// The error vocabulary of every layer. Front-ends map these to wire codes in one table each; the
// core and storage never speak in HTTP statuses or AMQP conditions.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // malformed input: bad id, bad property, bad range
  kNotFound,            // unknown device, message, lock token, policy
  kAlreadyExists,       // create of something that exists
  kPreconditionFailed,  // etag / revision mismatch, stale lock token
  kUnauthenticated,     // bad, expired or forged credentials
  kPermissionDenied,    // authenticated, but lacks the right
  kResourceExhausted,   // a limit: queue depth (see QueueFull below), quota
  kTooLarge,            // body or message over its size limit
  kUnavailable,         // try later: shutting down, store busy
  kInternal,            // a fault of ours or of a library
  kCorruption,          // the store holds bytes we cannot decode
};

std::string_view StatusCodeName(StatusCode code);

// A [[nodiscard]] error value: a code, a machine-readable reason (e.g.
// "DeviceMaximumQueueDepthExceeded", may be empty) and a human message. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string reason = {})
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // An IoT Hub style error code naming the precise failure, when there is one.
  const std::string& reason() const { return reason_; }

  // "NotFound: device 'x' not found" (plus " [Reason]" when set).
  std::string ToString() const;

  // Marks the status as deliberately ignored.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
};

inline Status InvalidArgument(std::string m, std::string r = {}) {
  return {StatusCode::kInvalidArgument, std::move(m), std::move(r)};
}
inline Status NotFound(std::string m, std::string r = {}) {
  return {StatusCode::kNotFound, std::move(m), std::move(r)};
}
inline Status AlreadyExists(std::string m, std::string r = {}) {
  return {StatusCode::kAlreadyExists, std::move(m), std::move(r)};
}
inline Status PreconditionFailed(std::string m, std::string r = {}) {
  return {StatusCode::kPreconditionFailed, std::move(m), std::move(r)};
}
inline Status Unauthenticated(std::string m, std::string r = {}) {
  return {StatusCode::kUnauthenticated, std::move(m), std::move(r)};
}
inline Status PermissionDenied(std::string m, std::string r = {}) {
  return {StatusCode::kPermissionDenied, std::move(m), std::move(r)};
}
inline Status ResourceExhausted(std::string m, std::string r = {}) {
  return {StatusCode::kResourceExhausted, std::move(m), std::move(r)};
}
inline Status TooLarge(std::string m, std::string r = {}) {
  return {StatusCode::kTooLarge, std::move(m), std::move(r)};
}
inline Status Unavailable(std::string m, std::string r = {}) {
  return {StatusCode::kUnavailable, std::move(m), std::move(r)};
}
inline Status Internal(std::string m, std::string r = {}) {
  return {StatusCode::kInternal, std::move(m), std::move(r)};
}
inline Status Corruption(std::string m, std::string r = {}) {
  return {StatusCode::kCorruption, std::move(m), std::move(r)};
}

}  // namespace iothub

// Returns early from the enclosing function when `expr` yields a non-ok Status.
#define HUB_RETURN_IF_ERROR(expr)                \
  do {                                           \
    ::iothub::Status hub_status__ = (expr);      \
    if (!hub_status__.ok()) return hub_status__; \
  } while (0)
