#include "http/feedback_resource.h"

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "http/errors.h"
#include "http/message_headers.h"
#include "http/service_auth.h"
#include "http/traffic.h"

namespace iothub::http {
namespace {

using core::auth::kServiceConnect;

constexpr int kMaxLockSeconds = 300;

std::string FeedbackResource(const core::Hub& hub) {
  return hub.host_name() + "/messages/serviceBound/feedback";
}

// The lock token from the path: the ETag value, whose quotes clients often keep.
std::string LockToken(const RouteParams& params) {
  std::string_view lock = params.Get("lock");
  if (lock.size() >= 2 && lock.front() == '"' && lock.back() == '"') {
    lock = lock.substr(1, lock.size() - 2);
  }
  return std::string(lock);
}

// IotHub-MessageLockTimeout in seconds, when given.
Result<std::optional<Duration>> LockTimeout(const Request& request) {
  std::optional<std::string_view> text = request.Header("IotHub-MessageLockTimeout");
  if (!text) return std::optional<Duration>();
  int seconds = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), seconds);
  if (ec != std::errc() || end != text->data() + text->size() || seconds < 1 ||
      seconds > kMaxLockSeconds) {
    return InvalidArgument("IotHub-MessageLockTimeout must be an integer from 1 to 300",
                           "ArgumentInvalid");
  }
  return std::optional<Duration>(std::chrono::seconds(seconds));
}

void Receive(core::Hub& hub, const Request& request, Responder respond) {
  auto principal =
      AuthorizeService(hub.authenticator(), request, kServiceConnect, FeedbackResource(hub));
  if (!principal) return respond(ErrorResponse(principal.error()));
  auto lock_timeout = LockTimeout(request);
  if (!lock_timeout) return respond(ErrorResponse(lock_timeout.error()));
  hub.feedback_executor().Post([&hub, timeout = *lock_timeout, respond = std::move(respond)] {
    std::optional<core::Message> message = hub.feedback().ReceiveAndLock(timeout);
    if (!message) return respond(EmptyResponse(204));
    CountMessages(Traffic::kFeedbackOut);
    respond(LockedMessageResponse(std::move(*message)));
  });
}

// Completes (`abandon` false) or abandons the message locked by the path's lock.
void Settle(core::Hub& hub, const Request& request, const RouteParams& params, bool abandon,
            Responder respond) {
  auto principal =
      AuthorizeService(hub.authenticator(), request, kServiceConnect, FeedbackResource(hub));
  if (!principal) return respond(ErrorResponse(principal.error()));
  hub.feedback_executor().Post(
      [&hub, lock = LockToken(params), abandon, respond = std::move(respond)]() mutable {
        auto done = [respond = std::move(respond)](Status status) {
          respond(status.ok() ? EmptyResponse(204) : ErrorResponse(status));
        };
        if (abandon) {
          hub.feedback().Abandon(lock, std::move(done));
        } else {
          hub.feedback().Complete(lock, std::move(done));
        }
      });
}

}  // namespace

void AddFeedbackRoutes(Router& router, core::Hub& hub) {
  router.AddAsync("GET", "/messages/serviceBound/feedback",
                  [&hub](const Request& r, const RouteParams&, Responder respond) {
                    Receive(hub, r, std::move(respond));
                  });
  router.AddAsync("DELETE", "/messages/serviceBound/feedback/{lock}",
                  [&hub](const Request& r, const RouteParams& p, Responder respond) {
                    Settle(hub, r, p, /*abandon=*/false, std::move(respond));
                  });
  router.AddAsync("POST", "/messages/serviceBound/feedback/{lock}/abandon",
                  [&hub](const Request& r, const RouteParams& p, Responder respond) {
                    Settle(hub, r, p, /*abandon=*/true, std::move(respond));
                  });
}

}  // namespace iothub::http
