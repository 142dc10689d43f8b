#pragma once

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// The C2D feedback queue over HTTP (PROTOCOL.md, "Feedback"; docs/rest.md), ServiceConnect:
//   GET    /messages/serviceBound/feedback                 locks the oldest feedback message:
//          204 when none; 200 with the body (a JSON array of records), Content-Type
//          application/vnd.microsoft.iothub.feedback.json, ETag "\"<lock>\"", iothub-messageid,
//          iothub-enqueuedtime, iothub-deliverycount, iothub-userid (message_headers.h).
//          IotHub-MessageLockTimeout (seconds, 1..300) overrides the default lock duration.
//   DELETE /messages/serviceBound/feedback/{lock}          completes it -> 204
//   POST   /messages/serviceBound/feedback/{lock}/abandon  abandons it -> 204
// The lock may be given with or without the ETag's quotes. An unknown, expired or settled lock:
// 412 DeviceMessageLockLost.
//
// Asynchronous handlers (Router::AddAsync): they post to hub.feedback_executor(), where the
// feedback queue lives, and answer from there. `hub` must outlive the router and every call in
// flight.
void AddFeedbackRoutes(Router& router, core::Hub& hub);

}  // namespace iothub::http
