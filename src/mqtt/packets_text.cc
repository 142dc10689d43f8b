// The text rules of the codec (packets.h): MQTT's UTF-8 strings and topic matching.

#include "mqtt/packets.h"

namespace iothub::mqtt {

bool IsValidMqttUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {  // ASCII, the common case: one compare per byte
      if (c == 0) return false;
      ++p;
      continue;
    }
    // Lead byte: the sequence length and the allowed range of the second byte, which is what
    // rules out overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
    // above U+10FFFF (F4 90..BF) (RFC 3629, section 4).
    size_t length;
    unsigned char low = 0x80, high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return false;  // a continuation byte, C0/C1 (overlong ASCII), or F5..FF
    }
    if (static_cast<size_t>(end - p) < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (size_t i = 2; i < length; ++i) {
      if (p[i] < 0x80 || p[i] > 0xbf) return false;
    }
    p += length;
  }
  return true;
}

bool TopicMatches(std::string_view filter, std::string_view name) {
  if (filter.empty() || name.empty()) return false;
  // Spec 4.7.2: a leading wildcard does not reach the server's `$` topics.
  if (name[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
  size_t f = 0;
  size_t n = 0;
  bool name_done = false;  // every level of `name` was matched
  while (true) {
    size_t f_end = filter.find('/', f);
    if (f_end == std::string_view::npos) f_end = filter.size();
    const std::string_view f_level = filter.substr(f, f_end - f);
    // `#` matches what is left, including nothing: "sport/#" matches "sport" (spec 4.7.1.2).
    if (f_level == "#") return true;
    if (name_done) return false;
    size_t n_end = name.find('/', n);
    if (n_end == std::string_view::npos) n_end = name.size();
    if (f_level != "+" && f_level != name.substr(n, n_end - n)) return false;
    const bool filter_last = f_end == filter.size();
    const bool name_last = n_end == name.size();
    if (filter_last) return name_last;
    f = f_end + 1;
    if (name_last) {
      name_done = true;
    } else {
      n = n_end + 1;
    }
  }
}

}  // namespace iothub::mqtt
