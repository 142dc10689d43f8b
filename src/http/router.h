#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// A handler is a plain function: request in, response out. It runs wherever Dispatch runs.
using Handler = std::function<Response(const Request&, const RouteParams&)>;

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

  // Runs the first route whose method and pattern match. When the path matches some route but not
  // with this method: 405 with an Allow header; when no pattern matches: 404. Both with the Azure
  // error body.
  Response Dispatch(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool Match(const Route& route, const Request& request, RouteParams* params);

  std::vector<Route> routes_;
};

}  // namespace iothub::http
