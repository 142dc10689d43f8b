#pragma once

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// The service side of cloud-to-device messaging (docs/rest.md), both ServiceConnect:
//   POST   /devices/{id}/messages/deviceBound   (iothub extension) sends the request body as a C2D
//          message; properties from the headers (message_headers.h MessageFromHeaders:
//          iothub-app-*, IoTHub-MessageId, IoTHub-CorrelationId, IoTHub-UserId, IoTHub-Expiry,
//          IoTHub-Ack, Content-Type, Content-Encoding). Answers once the message is durable: 201
//          {"deviceId","messageId" (null when unset),"sequenceNumber"}. Errors: 400 bad header or
//          expiry out of range, 401, 403 DeviceMaximumQueueDepthExceeded, 404 DeviceNotFound,
//          413 MessageTooLarge.
//   DELETE /devices/{id}/commands   purges the device's queue:
//          200 {"totalMessagesPurged":n,"deviceId":"<id>","moduleId":null}; 404 DeviceNotFound.
//
// Both are asynchronous handlers (Router::AddAsync): they run on the connection's thread, post to
// the device's shard (core::Hub::SendC2d / PurgeC2d) and answer from that shard's thread. `hub`
// must outlive the router and every call in flight.
void AddC2dRoutes(Router& router, core::Hub& hub);

}  // namespace iothub::http
