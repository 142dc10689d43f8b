#include "http/c2d_resource.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "base/executor.h"
#include "http/errors.h"
#include "http/message_headers.h"
#include "http/service_auth.h"
#include "http/traffic.h"

namespace iothub::http {
namespace {

using core::auth::kServiceConnect;

std::string Resource(const core::Hub& hub, std::string_view id, std::string_view rest) {
  return hub.host_name() + "/devices/" + std::string(id) + std::string(rest);
}

// ordered_json: answers keep the documented (Azure's) field order.
using OrderedJson = nlohmann::ordered_json;

std::string Json(const OrderedJson& j) {
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

void SendC2d(core::Hub& hub, const Request& request, const RouteParams& params, Responder respond) {
  std::string id(params.Get("id"));
  auto principal = AuthorizeService(hub.authenticator(), request, kServiceConnect,
                                    Resource(hub, id, "/messages/deviceBound"));
  if (!principal) return respond(ErrorResponse(principal.error()));
  if (request.body.size() > hub.options().c2d.max_message_size) {
    // The queue would refuse it too (it also counts the properties); refuse before copying it.
    return respond(
        ErrorResponse(TooLarge("the message body exceeds the C2D size limit of " +
                                   std::to_string(hub.options().c2d.max_message_size) + " bytes",
                               "MessageTooLarge")));
  }
  core::Message message;
  Status parsed = MessageFromHeaders(request.headers, &message, /*http_body_headers=*/true);
  if (!parsed.ok()) return respond(ErrorResponse(parsed));
  // The hub addresses the message; a sender cannot aim it elsewhere.
  message.to.clear();
  message.body = request.body;
  OrderedJson message_id = nullptr;
  if (!message.message_id.empty()) message_id = message.message_id;
  hub.SendC2d(
      id, std::move(message), AnswerInline(),
      [id, message_id = std::move(message_id),
       respond = std::move(respond)](Result<uint64_t> sent) {
        if (!sent) return respond(ErrorResponse(sent.error()));
        CountMessages(Traffic::kC2dIn);
        respond(JsonResponse(
            201, Json({{"deviceId", id}, {"messageId", message_id}, {"sequenceNumber", *sent}})));
      });
}

void PurgeC2d(core::Hub& hub, const Request& request, const RouteParams& params,
              Responder respond) {
  std::string id(params.Get("id"));
  auto principal = AuthorizeService(hub.authenticator(), request, kServiceConnect,
                                    Resource(hub, id, "/commands"));
  if (!principal) return respond(ErrorResponse(principal.error()));
  hub.PurgeC2d(id, AnswerInline(), [id, respond = std::move(respond)](Result<uint64_t> purged) {
    if (!purged) return respond(ErrorResponse(purged.error()));
    respond(JsonResponse(
        200, Json({{"totalMessagesPurged", *purged}, {"deviceId", id}, {"moduleId", nullptr}})));
  });
}

}  // namespace

void AddC2dRoutes(Router& router, core::Hub& hub) {
  router.AddAsync("POST", "/devices/{id}/messages/deviceBound",
                  [&hub](const Request& r, const RouteParams& p, Responder respond) {
                    SendC2d(hub, r, p, std::move(respond));
                  });
  router.AddAsync("DELETE", "/devices/{id}/commands",
                  [&hub](const Request& r, const RouteParams& p, Responder respond) {
                    PurgeC2d(hub, r, p, std::move(respond));
                  });
}

}  // namespace iothub::http
