#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/executor.h"
#include "http/message.h"

namespace iothub::http {

// The path parameters a route captured: "/devices/{id}" matched against "/devices/d%2F1" gives
// id = "d/1" (already URL-decoded).
class RouteParams {
 public:
  // The captured value, or "" when the pattern has no such parameter.
  std::string_view Get(std::string_view name) const;
  void Add(std::string name, std::string value) {
    params_.emplace_back(std::move(name), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// A blocking handler: request in, response out. It may block on the store, so the session runs it
// on its handler executor (the daemon's blocking pool), never on a shard thread.
using Handler = std::function<Response(const Request&, const RouteParams&)>;

// Delivers an asynchronous handler's answer. Call it exactly once, from any thread.
using Responder = std::function<void(Response)>;
// Where asynchronous handlers have the hub deliver its answers (core::Hub's `reply_to`): inline,
// on the shard that answers, since a Responder may be called from any thread. Never destroyed, so
// a shard finishing late never sees a dead object.
Executor& AnswerInline();

// A non-blocking handler: it runs on the connection's shard thread, starts its work (typically a
// core call answering on some executor) and returns at once; the answer goes to `respond` later,
// from any thread. `request` and `params` stay valid until `respond` has been called.
using AsyncHandler = std::function<void(const Request&, const RouteParams&, Responder respond)>;

// Method + path pattern -> handler, without I/O. Patterns are '/'-separated; a segment "{name}"
// captures one path segment, any other segment matches literally, case-insensitively (IoT Hub
// paths are, e.g. "serviceBound"). A trailing slash is ignored ("/devices/" matches "/devices").
//
// Build the table once, then share it read-only between threads: Dispatch is const.
class Router {
 public:
  // Registers `handler` for `method` (exact, e.g. "GET") on `pattern` (e.g. "/devices/{id}").
  // The first matching route wins.
  void Add(std::string method, std::string_view pattern, Handler handler);
  void AddAsync(std::string method, std::string_view pattern, AsyncHandler handler);

  // Runs the first route whose method and pattern match and gives its answer to `respond`
  // (exactly once, from any thread). When the path matches some route but not with this method:
  // 405 with an Allow header; when no pattern matches: 404. Both with the Azure error body.
  // Blocking handlers run on `blocking` when it is set (else inline); asynchronous ones inline.
  // Keeps `request` alive until `respond` has been called.
  void Dispatch(std::shared_ptr<const Request> request, Responder respond,
                Executor* blocking = nullptr) const;

  // For tests and callers that only use handlers answering before they return: dispatches inline
  // and returns the answer; a 500 (InternalError) when the handler had not answered on return.
  Response Dispatch(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;  // one of these two is set
    AsyncHandler async_handler;
  };
  void AddRoute(std::string method, std::string_view pattern, Handler handler,
                AsyncHandler async_handler);
  static bool Match(const Route& route, const Request& request, RouteParams* params);

  std::vector<Route> routes_;
};

}  // namespace iothub::http
