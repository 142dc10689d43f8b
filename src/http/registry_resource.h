#pragma once

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// The device registry REST resources (PROTOCOL.md, "HTTPS REST"):
//   PUT    /devices/{id}   create (no If-Match; 409 DeviceAlreadyExists when it exists) or replace
//                          (If-Match "*" or the etag; 412 on mismatch); 200 + device + ETag
//   GET    /devices/{id}   200 + device + ETag; 404 DeviceNotFound
//   GET    /devices/       list in id order, `top` (1..1000, default 1000)
//   DELETE /devices/{id}   If-Match optional ("*" / etag); 204
// Reads need RegistryRead, writes RegistryWrite (service_auth.h). Any api-version is accepted.
//
// The handlers call the registry, whose writes block on the store: run them off the shard threads
// (README.md, "Threading"). `hub` must outlive the router.
void AddRegistryRoutes(Router& router, core::Hub& hub);

}  // namespace iothub::http
