#pragma once

#include <cstddef>
#include <string_view>

// A guard in front of Proton's decoder. pn_data_decode recurses once per nesting level and stops
// only at its 65535-node limit: ~260 KB of nested lists overflow a 1 MiB thread stack (measured
// with Proton 0.37). ScanAmqpValue checks the framing of an encoded value with a bounded depth
// first, so Proton only ever sees shallow values.
//
// Pure function: any thread.
namespace iothub::amqp {

// Values may nest at most this deep (each list, map, array or descriptor is a level): deeper than
// any message section or performative needs.
inline constexpr int kMaxAmqpDepth = 32;

// The size in bytes of the one encoded AMQP value (AMQP 1.0, part 1) that `bytes` starts with, or
// 0 when it is truncated or malformed: a format code outside the known width categories, a size
// past the end, a list, map or array whose elements do not fill exactly its declared size, nesting
// deeper than kMaxAmqpDepth, more than 65535 values (what a pn_data_t can hold), or a described
// descriptor or compound descriptor (which Proton refuses too). Format codes are checked only by
// category (fixed width 0-16 bytes, variable, compound, array): Proton checks the exact codes.
size_t ScanAmqpValue(std::string_view bytes);

}  // namespace iothub::amqp
