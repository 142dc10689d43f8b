#pragma once

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Builds and inspects AMQP message bytes with Proton itself, for the codec's tests (and the seed
// corpus of its fuzz target). Header-only; test code only.
namespace iothub::amqp::testing_util {

struct DataDeleter {
  void operator()(pn_data_t* d) const { pn_data_free(d); }
};
struct MessageDeleter {
  void operator()(pn_message_t* m) const { pn_message_free(m); }
};
using DataPtr = std::unique_ptr<pn_data_t, DataDeleter>;
using MessagePtr = std::unique_ptr<pn_message_t, MessageDeleter>;

inline DataPtr MakeData() { return DataPtr(pn_data(0)); }
inline MessagePtr MakeMessage() { return MessagePtr(pn_message()); }

inline std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// The encoding of everything `d` holds.
inline std::string Encode(pn_data_t* d) {
  ssize_t size = pn_data_encoded_size(d);
  EXPECT_GE(size, 0);
  std::string out(static_cast<size_t>(size < 0 ? 0 : size), '\0');
  EXPECT_EQ(pn_data_encode(d, out.data(), out.size()), size);
  return out;
}

// Proton's own encoding of a message (always a header and a properties section, then the rest).
inline std::string Encode(pn_message_t* m) {
  pn_rwbytes_t buffer{0, nullptr};
  ssize_t size = pn_message_encode2(m, &buffer);
  EXPECT_GE(size, 0);
  std::string out(buffer.start, size < 0 ? 0 : static_cast<size_t>(size));
  std::free(buffer.start);
  return out;
}

// One section: descriptor `code`, then the value `fill` puts.
template <typename Fill>
std::string Section(uint64_t code, Fill fill) {
  DataPtr d = MakeData();
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_ulong(d.get(), code);
  fill(d.get());
  pn_data_exit(d.get());
  return Encode(d.get());
}

inline std::string DataSection(std::string_view bytes) {
  return Section(
      0x75, [&](pn_data_t* d) { pn_data_put_binary(d, pn_bytes(bytes.size(), bytes.data())); });
}

template <typename Fill>
std::string ValueSection(Fill fill) {
  return Section(0x77, fill);
}

// The sections of a message, each decoded into its own pn_data_t (positioned before the section's
// described value); empty and a test failure when the bytes do not split into sections.
inline std::vector<DataPtr> SplitSections(std::string_view bytes) {
  std::vector<DataPtr> sections;
  while (!bytes.empty()) {
    DataPtr d = MakeData();
    ssize_t n = pn_data_decode(d.get(), bytes.data(), bytes.size());
    if (n <= 0) {
      ADD_FAILURE() << "not a sequence of AMQP values";
      return {};
    }
    pn_data_rewind(d.get());
    sections.push_back(std::move(d));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return sections;
}

// The descriptor code of each section.
inline std::vector<uint64_t> SectionCodes(std::string_view bytes) {
  std::vector<uint64_t> codes;
  for (DataPtr& d : SplitSections(bytes)) {
    pn_data_next(d.get());
    pn_data_enter(d.get());
    pn_data_next(d.get());
    codes.push_back(pn_data_type(d.get()) == PN_ULONG ? pn_data_get_ulong(d.get()) : 0);
    pn_data_rewind(d.get());
  }
  return codes;
}

}  // namespace iothub::amqp::testing_util
