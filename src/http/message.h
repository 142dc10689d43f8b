#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace iothub::http {

// Orders header names case-insensitively (HTTP field names are case-insensitive).
struct LessIgnoreCase {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::map<std::string, std::string, LessIgnoreCase>;

// A parsed HTTP request as the router and handlers see it: no sockets, no Beast. Plain values, so
// handlers are unit-testable by building one by hand.
struct Request {
  std::string method;                        // "GET", "PUT", ... (exact, upper case on the wire)
  std::string target;                        // the raw request-target, for logs
  std::vector<std::string> segments;         // the path split on '/', each URL-decoded
  bool trailing_slash = false;               // "/devices/" (list) vs "/devices"
  std::map<std::string, std::string> query;  // URL-decoded; a key without '=' maps to ""
  Headers headers;
  std::string body;

  // The header's value, or nullopt. Names compare case-insensitively.
  std::optional<std::string_view> Header(std::string_view name) const;
  // The query parameter's value, or nullopt.
  std::optional<std::string_view> Query(std::string_view name) const;
};

// Splits `target` ("/devices/a%2Fb?api-version=2021-04-12&top=5") into path segments and query
// parameters, URL-decoding each. The leading '/' is required; empty segments (from "//") are
// kept except the last one, which sets trailing_slash. InvalidArgument on a broken %XX escape or a
// target not starting with '/'.
Status ParseTarget(std::string_view target, Request* request);

// A response body produced piece by piece, for answers that follow live data (Server-Sent Events).
// The session sends the status and headers with chunked transfer encoding, then pulls pieces until
// the stream ends, the client goes away, or the server stops.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Asks for the next piece. `next` is called once, from any thread: with bytes to send, or with
  // nullopt to end the body. Pull is not called again before that piece has been written.
  virtual void Pull(std::function<void(std::optional<std::string>)> next) = 0;
  // Sent when no piece came for SessionOptions::stream_heartbeat (SSE: a comment line), so that a
  // client that vanished is noticed by the failed write. Empty: nothing is sent.
  virtual std::string Heartbeat() const { return {}; }
  // The session is ending (client gone, write failed, server stopping): stop producing and release
  // what the stream holds. Once Cancel returns, a pending `next` must not be called. Called at most
  // once, from any thread (the session's, or the one destroying its loop at shutdown).
  virtual void Cancel() = 0;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the body comes from here instead of `body`.
  std::shared_ptr<BodyStream> stream;
};

inline constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";

// A response with a JSON body and Content-Type "application/json; charset=utf-8" (the SDKs parse
// nothing else).
Response JsonResponse(int status, std::string json_body);
// A response without a body (204, ...).
Response EmptyResponse(int status);

}  // namespace iothub::http
