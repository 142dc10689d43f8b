#include "storage/validate.h"

#include <cstdint>
#include <limits>
#include <string>

namespace iothub::storage {

Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty()) return InvalidArgument(std::string(what) + " must not be empty");
  if (name.find('\0') != std::string_view::npos) {
    return InvalidArgument(std::string(what) + " must not contain a NUL byte");
  }
  return Status::Ok();
}

Status ValidatePrefix(std::string_view prefix) {
  if (prefix.find('\0') != std::string_view::npos) {
    return InvalidArgument("key prefix must not contain a NUL byte");
  }
  return Status::Ok();
}

Status ValidateBatch(const WriteBatch& batch) {
  using OpType = WriteBatch::OpType;
  for (const WriteBatch::Op& op : batch.ops()) {
    switch (op.type) {
      case OpType::kPut:
      case OpType::kDelete:
        HUB_RETURN_IF_ERROR(ValidateName("table name", op.name));
        HUB_RETURN_IF_ERROR(ValidateName("table key", op.key));
        break;
      case OpType::kDeletePrefix:
        HUB_RETURN_IF_ERROR(ValidateName("table name", op.name));
        HUB_RETURN_IF_ERROR(ValidatePrefix(op.key));
        break;
      case OpType::kQueueAppend:
      case OpType::kQueueDelete:
      case OpType::kQueueDeleteAll:
        HUB_RETURN_IF_ERROR(ValidateName("queue name", op.name));
        HUB_RETURN_IF_ERROR(ValidateName("queue key", op.key));
        break;
      case OpType::kLogAppend:
        HUB_RETURN_IF_ERROR(ValidateName("log name", op.name));
        if (op.number > std::numeric_limits<uint32_t>::max()) {
          return InvalidArgument("log partition out of range");
        }
        break;
      default:
        return InvalidArgument("unknown write op");
    }
  }
  return Status::Ok();
}

}  // namespace iothub::storage
