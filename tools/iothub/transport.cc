#include "tools/iothub/transport.h"

#include "base/strings.h"

namespace iothub::cli {

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

}  // namespace iothub::cli
