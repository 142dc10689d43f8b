#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iothub {

// Percent-encodes every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~). Space becomes
// %20, never '+'.
std::string UrlEncode(std::string_view in);
// Decodes %XX escapes; '+' stays '+' (IoT Hub never means space by it). False on a broken escape.
bool UrlDecode(std::string_view in, std::string* out);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);
std::string ToLower(std::string_view s);

// Splits on every `sep`; keeps empty pieces.
std::vector<std::string_view> Split(std::string_view s, char sep);

// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

// FNV-1a 64-bit: a stable hash for partitioning and sharding (the same on every build and host).
uint64_t StableHash(std::string_view s);

}  // namespace iothub
