#include "http/bulk_registry_resource.h"

#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "http/device_json.h"
#include "http/errors.h"
#include "http/service_auth.h"

namespace iothub::http {
namespace {

using nlohmann::json;

enum class ImportMode { kCreate, kUpdate, kUpdateIfMatchETag, kDelete, kDeleteIfMatchETag };

constexpr std::array<std::pair<std::string_view, ImportMode>, 5> kImportModes = {{
    {"create", ImportMode::kCreate},
    {"update", ImportMode::kUpdate},
    {"updateIfMatchETag", ImportMode::kUpdateIfMatchETag},
    {"delete", ImportMode::kDelete},
    {"deleteIfMatchETag", ImportMode::kDeleteIfMatchETag},
}};

// One validated element of the request.
struct Operation {
  ImportMode mode = ImportMode::kCreate;
  std::string id;
  std::string etag;     // the *IfMatchETag modes
  core::Device device;  // create and the update modes
};

// Azure's numeric error codes (the service's ErrorCode enum) for the codes errors.cc speaks.
// Others fall back to the generic code of their HTTP status (400000, 404000, ...), as Azure's enum
// has one per status.
int NumericErrorCode(int http_status, std::string_view code) {
  static constexpr std::pair<std::string_view, int> kCodes[] = {
      {"ArgumentInvalid", 400004},
      {"DeviceDefinedMultipleTimes", 400011},
      {"IotHubUnauthorizedAccess", 401002},
      {"IotHubQuotaExceeded", 403002},
      {"DeviceNotFound", 404001},
      {"DeviceAlreadyExists", 409001},
      {"PreconditionFailed", 412001},
      {"ThrottlingException", 429001},
      {"ServerError", 500001},
      {"ServiceUnavailable", 503001},
  };
  for (const auto& [name, number] : kCodes) {
    if (name == code) return number;
  }
  return http_status * 1000;
}

Status Invalid(std::string what) { return InvalidArgument(std::move(what), "ArgumentInvalid"); }

// The member named `key` in any letter case (.NET's deserializer matches names that way, so Azure
// takes "eTag", "etag" and "ETag" alike), preferring the exact spelling; nullptr when absent or
// null.
const json* MemberIgnoreCase(const json& object, std::string_view key) {
  if (auto it = object.find(key); it != object.end()) return it->is_null() ? nullptr : &*it;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (EqualsIgnoreCase(it.key(), key)) return it->is_null() ? nullptr : &*it;
  }
  return nullptr;
}

// An optional string member (any letter case); "" when absent. InvalidArgument when not a string.
Result<std::string> StringMember(const json& object, std::string_view key, std::string_view who) {
  const json* v = MemberIgnoreCase(object, key);
  if (v == nullptr) return std::string();
  if (!v->is_string()) {
    return Invalid(std::string(who) + ": '" + std::string(key) + "' must be a string");
  }
  return v->get<std::string>();
}

Result<Operation> ParseOperation(const json& element, size_t index) {
  std::string who = "device #" + std::to_string(index);
  if (!element.is_object()) return Invalid(who + " is not a JSON object");
  Operation op;
  HUB_ASSIGN_OR_RETURN(op.id, StringMember(element, "id", who));
  if (op.id.empty()) {
    HUB_ASSIGN_OR_RETURN(op.id, StringMember(element, "deviceId", who));
  }
  if (op.id.empty()) return Invalid(who + " has no 'id'");
  HUB_RETURN_IF_ERROR(core::ValidateDeviceId(op.id));
  who = "device '" + op.id + "'";

  HUB_ASSIGN_OR_RETURN(std::string mode, StringMember(element, "importMode", who));
  bool known = false;
  for (const auto& [name, value] : kImportModes) {
    if (EqualsIgnoreCase(mode, name)) {
      op.mode = value;
      known = true;
    }
  }
  if (!known) {
    return Invalid(who + ": importMode '" + mode +
                   "' is not one of create, update, updateIfMatchETag, delete, deleteIfMatchETag");
  }

  HUB_ASSIGN_OR_RETURN(op.etag, StringMember(element, "eTag", who));
  bool if_match =
      op.mode == ImportMode::kUpdateIfMatchETag || op.mode == ImportMode::kDeleteIfMatchETag;
  if (if_match && op.etag.empty()) return Invalid(who + ": importMode " + mode + " needs an eTag");
  if (!if_match) op.etag.clear();  // update / delete are unconditional whatever the element says

  if (op.mode == ImportMode::kCreate || op.mode == ImportMode::kUpdate ||
      op.mode == ImportMode::kUpdateIfMatchETag) {
    // The same device fields as PUT /devices/{id}; "id", "importMode", "eTag" and twin fields are
    // unknown to DeviceFromJson and ignored there. A "deviceId" differing from "id" is refused.
    Result<core::Device> device = DeviceFromJson(element.dump(), op.id);
    if (!device) return Invalid(who + ": " + device.error().message());
    op.device = std::move(*device);
  }
  return op;
}

// Validates the whole request before anything is applied.
Result<std::vector<Operation>> ParseOperations(std::string_view body) {
  json array = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (array.is_discarded()) return Invalid("malformed JSON in request body");
  if (!array.is_array()) return Invalid("request body must be a JSON array of devices");
  if (array.empty()) return Invalid("the device array is empty");
  if (array.size() > kMaxBulkDevices) {
    return TooLarge("a bulk registry call takes at most " + std::to_string(kMaxBulkDevices) +
                        " devices, this one has " + std::to_string(array.size()),
                    "TooManyDevices");
  }
  std::vector<Operation> ops;
  std::set<std::string, std::less<>> ids;
  for (size_t i = 0; i < array.size(); ++i) {
    HUB_ASSIGN_OR_RETURN(Operation op, ParseOperation(array[i], i));
    if (!ids.insert(op.id).second) {
      return InvalidArgument("device '" + op.id + "' appears more than once in the request",
                             "DeviceDefinedMultipleTimes");
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

Status Apply(core::Registry& registry, Operation& op) {
  switch (op.mode) {
    case ImportMode::kCreate:
      return registry.Create(std::move(op.device)).status();
    case ImportMode::kUpdate:
    case ImportMode::kUpdateIfMatchETag:
      // etag "" = unconditional, but the device must exist (Azure's update does not create).
      return registry.Replace(std::move(op.device), op.etag).status();
    case ImportMode::kDelete:
    case ImportMode::kDeleteIfMatchETag:
      return registry.Delete(op.id, op.etag);
  }
  return Internal("unknown import mode");
}

json ErrorEntry(const std::string& id, const Status& status) {
  HttpError error = HttpErrorFor(status);
  std::string_view code = status.reason().empty() ? error.code : std::string_view(status.reason());
  // Internal details stay out of the answer, as ErrorResponse keeps them out of 500 bodies.
  std::string text = error.status == 500 ? "internal server error" : status.message();
  return {{"deviceId", id},
          {"errorCode", NumericErrorCode(error.status, code)},
          {"errorStatus", std::move(text)}};
}

Response BulkRegistry(core::Hub& hub, const Request& request) {
  auto principal = AuthorizeService(hub.authenticator(), request, core::auth::kRegistryWrite,
                                    hub.host_name() + "/devices");
  if (!principal) return ErrorResponse(principal.error());
  auto ops = ParseOperations(request.body);
  if (!ops) return ErrorResponse(ops.error());
  json errors = json::array();
  for (Operation& op : *ops) {
    Status s = Apply(hub.registry(), op);
    if (!s.ok()) errors.push_back(ErrorEntry(op.id, s));
  }
  json body = {{"isSuccessful", errors.empty()}, {"errors", errors}, {"warnings", json::array()}};
  // Messages may quote user input: replace invalid UTF-8 rather than throw.
  return JsonResponse(200, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

void AddBulkRegistryRoutes(Router& router, core::Hub& hub) {
  router.Add("POST", "/devices",
             [&hub](const Request& r, const RouteParams&) { return BulkRegistry(hub, r); });
}

}  // namespace iothub::http
