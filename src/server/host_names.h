#pragma once

#include <string_view>

namespace iothub::server {

// True for an IPv4 dotted quad ("127.0.0.1") or an IPv6 literal without brackets ("::1").
bool IsIpAddress(std::string_view text);

// True for a DNS host name: dot-separated labels of 1-63 letters, digits and '-' (not at either end
// of a label), at most 253 characters, not all-numeric in the last label (that would be a bad IP).
bool IsDnsName(std::string_view text);

// True for "0.0.0.0" and "::" (and their spelled-out forms): binding them means every interface.
bool IsUnspecifiedAddress(std::string_view text);

}  // namespace iothub::server
