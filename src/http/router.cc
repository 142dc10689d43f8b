#include "http/router.h"

#include <optional>

#include "base/strings.h"
#include "http/errors.h"

namespace iothub::http {

Executor& AnswerInline() {
  static auto* const executor = new InlineExecutor();
  return *executor;
}

std::string_view RouteParams::Get(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) return value;
  }
  return {};
}

void Router::Add(std::string method, std::string_view pattern, Handler handler) {
  AddRoute(std::move(method), pattern, std::move(handler), nullptr);
}

void Router::AddAsync(std::string method, std::string_view pattern, AsyncHandler handler) {
  AddRoute(std::move(method), pattern, nullptr, std::move(handler));
}

void Router::AddRoute(std::string method, std::string_view pattern, Handler handler,
                      AsyncHandler async_handler) {
  Route route{.method = std::move(method),
              .segments = {},
              .handler = std::move(handler),
              .async_handler = std::move(async_handler)};
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

void Router::Dispatch(std::shared_ptr<const Request> request, Responder respond,
                      Executor* blocking) const {
  std::string allow;
  for (const Route& route : routes_) {
    if (!Match(route, *request, nullptr)) continue;
    if (route.method != request->method) {
      if (allow.find(route.method) == std::string::npos) {
        allow += (allow.empty() ? "" : ", ") + route.method;
      }
      continue;
    }
    auto params = std::make_shared<RouteParams>();
    Match(route, *request, params.get());
    if (route.async_handler) {
      // The wrapper holds the request and params until the answer is given.
      route.async_handler(*request, *params,
                          [request, params, respond = std::move(respond)](Response response) {
                            respond(std::move(response));
                          });
      return;
    }
    auto run = [&handler = route.handler, request, params, respond = std::move(respond)] {
      respond(handler(*request, *params));
    };
    if (blocking != nullptr) {
      blocking->Post(std::move(run));
    } else {
      run();
    }
    return;
  }
  if (!allow.empty()) {
    Response response = ErrorResponse(405, "MethodNotAllowed",
                                      "method " + request->method + " is not allowed here");
    response.headers.emplace("Allow", allow);
    respond(std::move(response));
    return;
  }
  respond(ErrorResponse(404, "ResourceNotFound", "no resource at this path"));
}

Response Router::Dispatch(const Request& request) const {
  auto answer = std::make_shared<std::optional<Response>>();
  Dispatch(std::make_shared<const Request>(request),
           [answer](Response response) { *answer = std::move(response); });
  if (!answer->has_value()) {
    return ErrorResponse(500, "ServerError", "the handler did not answer synchronously");
  }
  return std::move(**answer);
}

}  // namespace iothub::http
