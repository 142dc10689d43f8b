#include "http/router.h"

#include "base/strings.h"
#include "http/errors.h"

namespace iothub::http {

std::string_view RouteParams::Get(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) return value;
  }
  return {};
}

void Router::Add(std::string method, std::string_view pattern, Handler handler) {
  Route route{.method = std::move(method), .segments = {}, .handler = std::move(handler)};
  if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  if (!pattern.empty() && pattern.back() == '/') pattern.remove_suffix(1);
  if (!pattern.empty()) {
    for (std::string_view piece : Split(pattern, '/')) route.segments.emplace_back(piece);
  }
  routes_.push_back(std::move(route));
}

bool Router::Match(const Route& route, const Request& request, RouteParams* params) {
  if (route.segments.size() != request.segments.size()) return false;
  for (size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& pattern = route.segments[i];
    if (pattern.size() >= 2 && pattern.front() == '{' && pattern.back() == '}') {
      if (params != nullptr)
        params->Add(pattern.substr(1, pattern.size() - 2), request.segments[i]);
    } else if (!EqualsIgnoreCase(pattern, request.segments[i])) {
      return false;
    }
  }
  return true;
}

Response Router::Dispatch(const Request& request) const {
  std::string allow;
  for (const Route& route : routes_) {
    if (!Match(route, request, nullptr)) continue;
    if (route.method != request.method) {
      if (allow.find(route.method) == std::string::npos) {
        allow += (allow.empty() ? "" : ", ") + route.method;
      }
      continue;
    }
    RouteParams params;
    Match(route, request, &params);
    return route.handler(request, params);
  }
  if (!allow.empty()) {
    Response response =
        ErrorResponse(405, "MethodNotAllowed", "method " + request.method + " is not allowed here");
    response.headers.emplace("Allow", allow);
    return response;
  }
  return ErrorResponse(404, "ResourceNotFound", "no resource at this path");
}

}  // namespace iothub::http
