// Fuzzes the MQTT 3.1.1 codec with what a client may send: the input is a byte stream on one
// connection. Properties checked (any failure aborts):
// - the stream decodes to the same packets and ends in the same state whether fed whole or one
//   byte at a time (inputs over 4 KiB: 61 bytes at a time, to keep the fuzzer fast);
// - every decoded packet re-encodes to its original first byte and body (only a longer-than-needed
//   Remaining Length may differ) and decodes again to an equal packet.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packets.h"

namespace {

using iothub::mqtt::DecodeFixedHeader;
using iothub::mqtt::Decoder;
using iothub::mqtt::DecodeStatus;
using iothub::mqtt::FixedHeader;
using iothub::mqtt::kMaxRemainingLength;
using iothub::mqtt::Packet;

constexpr uint32_t kMaxPacketSize = 64 * 1024;

void Check(bool ok) {
  if (!ok) std::abort();
}

// The packet's first byte and body, past its fixed header.
std::string FirstByteAndBody(std::string_view bytes) {
  FixedHeader header;
  std::string why;
  Check(DecodeFixedHeader(bytes, kMaxRemainingLength, &header, &why) == DecodeStatus::kOk);
  Check(bytes.size() == header.size + header.remaining_length);
  return std::string(1, bytes[0]) + std::string(bytes.substr(header.size));
}

void CheckRoundTrip(const Packet& packet, std::string_view original) {
  const std::string encoded = iothub::mqtt::EncodePacket(packet);
  Check(FirstByteAndBody(encoded) == FirstByteAndBody(original));
  Decoder decoder(kMaxRemainingLength);
  decoder.Feed(encoded);
  Packet again;
  std::string why;
  Check(decoder.Next(&again, &why) == DecodeStatus::kOk);
  Check(again == packet);
  Check(decoder.buffered() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Whole input at once; each packet's original bytes are where the decoder's position moved.
  Decoder whole(kMaxPacketSize);
  whole.Feed(input);
  std::vector<Packet> packets;
  Packet packet;
  std::string why;
  DecodeStatus whole_status;
  size_t start = 0;
  while ((whole_status = whole.Next(&packet, &why)) == DecodeStatus::kOk) {
    const size_t end = input.size() - whole.buffered();
    CheckRoundTrip(packet, input.substr(start, end - start));
    start = end;
    packets.push_back(std::move(packet));
  }
  Check(!why.empty() || whole_status == DecodeStatus::kIncomplete);

  // In small pieces: the same packets, the same end.
  const size_t piece = input.size() <= 4096 ? 1 : 61;
  Decoder bytewise(kMaxPacketSize);
  size_t next = 0;
  DecodeStatus status = DecodeStatus::kIncomplete;
  for (size_t i = 0; i < input.size() && status != DecodeStatus::kMalformed; i += piece) {
    bytewise.Feed(input.substr(i, piece));
    while ((status = bytewise.Next(&packet, &why)) == DecodeStatus::kOk) {
      Check(next < packets.size() && packet == packets[next]);
      ++next;
    }
    if (status == DecodeStatus::kIncomplete && i % 4096 < piece) bytewise.ShrinkIfIdle();
  }
  Check(next == packets.size());
  Check(status == whole_status);
  Check(status == DecodeStatus::kMalformed || bytewise.buffered() == whole.buffered());

  // Topic matching between what was subscribed and published must not crash, and a filter
  // without wildcards matches its own name. (The first 64 publishes: pairs grow quadratically.)
  size_t publishes = 0;
  for (const Packet& p : packets) {
    if (const auto* publish = std::get_if<iothub::mqtt::Publish>(&p)) {
      if (++publishes > 64) break;
      Check(iothub::mqtt::TopicMatches(publish->topic, publish->topic));
      for (const Packet& q : packets) {
        if (const auto* subscribe = std::get_if<iothub::mqtt::Subscribe>(&q)) {
          for (const auto& s : subscribe->subscriptions) {
            (void)iothub::mqtt::TopicMatches(s.filter, publish->topic);
          }
        }
      }
    }
  }
  return 0;
}
