#include "server/host_names.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "base/strings.h"

namespace iothub::server {

bool IsIpAddress(std::string_view text) {
  std::string s(text);  // inet_pton wants a terminated string
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsDnsName(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  std::vector<std::string_view> labels = Split(text, '.');
  for (std::string_view label : labels) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  std::string_view last = labels.back();
  return !std::all_of(last.begin(), last.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool IsUnspecifiedAddress(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return std::all_of(buf, buf + 4, [](unsigned char b) { return b == 0; });
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return std::all_of(buf, buf + 16, [](unsigned char b) { return b == 0; });
  }
  return false;
}

}  // namespace iothub::server
