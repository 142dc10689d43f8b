#pragma once

#include "base/executor.h"
#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// The telemetry log over HTTP (iothub extensions; Azure offers these only over AMQP / Event Hubs;
// docs/rest.md has the full reference). All need ServiceConnect.
//   GET    /messages/events/partitions
//          {"partitionCount":n,"partitions":[{"partition","firstOffset","nextOffset",
//           "lastEnqueuedTimeUtc" (null when empty)}]}
//   GET    /messages/events/partitions/{p}?from=&enqueuedAfter=&max=&consumerGroup=&deviceId=
//          {"events":[Event JSON...],"nextOffset":n} (event_json.h); with
//          "Accept: text/event-stream" the same partition as Server-Sent Events instead
//   GET    /messages/events?from=&enqueuedAfter=&consumerGroup=&deviceId=
//          Server-Sent Events over all partitions (event_stream.h)
//   GET    /messages/events/consumerGroups                       ["$Default",...]
//   PUT    /messages/events/consumerGroups/{g}                   201; 409 when it exists
//   DELETE /messages/events/consumerGroups/{g}                   204
//   GET    /messages/events/consumerGroups/{g}/partitions/{p}/checkpoint   {"offset":n}; 404
//   PUT    same, body {"offset":n}                               204
// `from` is start | end | checkpoint (the group's checkpoint, else start) | an offset; it
// defaults to start for reads and to end for streams (start when enqueuedAfter is given);
// `enqueuedAfter` (ISO 8601) moves the start past older events. Streams resume after
// "Last-Event-ID: <p>:<o>[,<p>:<o>...]", which overrides `from`. Errors: 400 ArgumentInvalid
// (bad partition, offset, time, max, body, Last-Event-ID), 401, 404 ConsumerGroupNotFound /
// CheckpointNotFound, 409 ConsumerGroupAlreadyExists, 403 ConsumerGroupLimitExceeded.
//
// Every handler is blocking (Router::Add): they read the store, so the session runs them on its
// handler pool. A stream's later reads run on `blocking` (the same kind of pool). `hub` and
// `blocking` must outlive the router and every stream it answered.
void AddTelemetryRoutes(Router& router, core::Hub& hub, Executor& blocking);

}  // namespace iothub::http
