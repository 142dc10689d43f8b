#include "http/registry_resource.h"

#include <charconv>
#include <string>

#include "http/device_json.h"
#include "http/errors.h"
#include "http/service_auth.h"

namespace iothub::http {
namespace {

using core::auth::kRegistryRead;
using core::auth::kRegistryWrite;

constexpr size_t kMaxTop = 1000;

std::string DeviceResource(const core::Hub& hub, std::string_view id) {
  return hub.host_name() + "/devices/" + std::string(id);
}

Response DeviceResponse(const core::Device& device) {
  Response response = JsonResponse(200, DeviceToJson(device));
  response.headers.emplace("ETag", "\"" + device.etag + "\"");
  return response;
}

// The If-Match header, or "" (unconditional) when absent.
std::string IfMatch(const Request& request) {
  return std::string(request.Header("If-Match").value_or(std::string_view()));
}

Response PutDevice(core::Hub& hub, const Request& request, const RouteParams& params) {
  std::string_view id = params.Get("id");
  auto principal =
      AuthorizeService(hub.authenticator(), request, kRegistryWrite, DeviceResource(hub, id));
  if (!principal) return ErrorResponse(principal.error());
  Status valid = core::ValidateDeviceId(id);
  if (!valid.ok()) return ErrorResponse(valid);
  auto device = DeviceFromJson(request.body, id);
  if (!device) return ErrorResponse(device.error());
  std::string if_match = IfMatch(request);
  auto written = if_match.empty() ? hub.registry().Create(std::move(*device))
                                  : hub.registry().Replace(std::move(*device), if_match);
  if (!written) return ErrorResponse(written.error());
  return DeviceResponse(*written);
}

Response GetDevice(core::Hub& hub, const Request& request, const RouteParams& params) {
  std::string_view id = params.Get("id");
  auto principal =
      AuthorizeService(hub.authenticator(), request, kRegistryRead, DeviceResource(hub, id));
  if (!principal) return ErrorResponse(principal.error());
  auto device = hub.registry().Get(id);
  if (!device) return ErrorResponse(device.error());
  return DeviceResponse(*device);
}

Response DeleteDevice(core::Hub& hub, const Request& request, const RouteParams& params) {
  std::string_view id = params.Get("id");
  auto principal =
      AuthorizeService(hub.authenticator(), request, kRegistryWrite, DeviceResource(hub, id));
  if (!principal) return ErrorResponse(principal.error());
  Status deleted = hub.registry().Delete(id, IfMatch(request));
  if (!deleted.ok()) return ErrorResponse(deleted);
  return EmptyResponse(204);
}

Response ListDevices(core::Hub& hub, const Request& request) {
  auto principal =
      AuthorizeService(hub.authenticator(), request, kRegistryRead, hub.host_name() + "/devices");
  if (!principal) return ErrorResponse(principal.error());
  size_t top = kMaxTop;
  if (auto text = request.Query("top"); text.has_value()) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), top);
    if (ec != std::errc() || end != text->data() + text->size() || top == 0 || top > kMaxTop) {
      return ErrorResponse(
          InvalidArgument("'top' must be an integer from 1 to 1000", "ArgumentInvalid"));
    }
  }
  auto page = hub.registry().List("", top);
  if (!page) return ErrorResponse(page.error());
  return JsonResponse(200, DevicesToJson(page->devices));
}

}  // namespace

void AddRegistryRoutes(Router& router, core::Hub& hub) {
  router.Add("GET", "/devices",
             [&hub](const Request& r, const RouteParams&) { return ListDevices(hub, r); });
  router.Add("PUT", "/devices/{id}",
             [&hub](const Request& r, const RouteParams& p) { return PutDevice(hub, r, p); });
  router.Add("GET", "/devices/{id}",
             [&hub](const Request& r, const RouteParams& p) { return GetDevice(hub, r, p); });
  router.Add("DELETE", "/devices/{id}",
             [&hub](const Request& r, const RouteParams& p) { return DeleteDevice(hub, r, p); });
}

}  // namespace iothub::http
