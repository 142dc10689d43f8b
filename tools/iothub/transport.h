#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "tools/iothub/cli_status.h"

namespace iothub::cli {

// One header line, name as written (matched case-insensitively by Header()).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// An HTTP request the CLI sends. `target` is the origin-form path and query,
// e.g. "/devices/d1?api-version=2021-04-12" (already percent-encoded).
struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;
  HeaderList headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;
  std::string body;

  // The first header named `name` (case-insensitively), or "" when absent.
  std::string Header(std::string_view name) const;
};

// Receives a streamed response (Server-Sent Events): the status line and headers first, then the
// body bytes as they arrive.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // The response head. Return false to stop at once (e.g. not a 200: the caller then reads the
  // error from `body`, which holds the whole (small) error body when status != 200).
  virtual bool OnHead(const HttpResponse& head) = 0;
  // A piece of the body, split anywhere. Return false to stop reading.
  virtual bool OnData(std::string_view bytes) = 0;
  // Polled about every 100 ms while waiting for data: true ends the stream (Ctrl-C, a deadline).
  virtual bool ShouldStop() = 0;
};

// A blocking HTTP/1.1 client bound to one hub. Implementations: HttpsClient (https_client.h) and
// the fakes of the tests. Not thread-safe: one thread uses it.
class Transport {
 public:
  virtual ~Transport() = default;

  // Sends `request` and reads the whole response. Any response, whatever its status, is a value;
  // only failing to get one is an error (Unavailable, reason kConnectionError; kInterrupted when a
  // signal stopped it).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;

  // Sends `request` and hands the response to `handler` as it streams in. Ok when the handler (a
  // false return, or ShouldStop) ended it; Unavailable (kConnectionError) when the connection
  // failed, went silent for too long, or the hub ended the body: a stream is meant to go on.
  virtual Status Stream(const HttpRequest& request, StreamHandler& handler) = 0;
};

}  // namespace iothub::cli
