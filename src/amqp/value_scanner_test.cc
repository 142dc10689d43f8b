#include "amqp/value_scanner.h"

#include <gtest/gtest.h>

#include <string>

namespace iothub::amqp {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// `levels` list8s, each holding the next, around a null.
std::string NestedLists(int levels) {
  std::string bytes;
  for (int i = 0; i < levels; ++i) {
    bytes.push_back(static_cast<char>(0xc0));
    bytes.push_back(static_cast<char>(1 + 3 * (levels - i - 1) + 1));  // count + inner lists + null
    bytes.push_back(1);
  }
  bytes.push_back(0x40);
  return bytes;
}

TEST(ValueScannerTest, FindsTheSizeOfTheFirstValueOfEachWidth) {
  EXPECT_EQ(ScanAmqpValue(Bytes({0x40, 0x40})), 1u);                             // null, then more
  EXPECT_EQ(ScanAmqpValue(Bytes({0x53, 0x75})), 2u);                             // smallulong
  EXPECT_EQ(ScanAmqpValue(Bytes({0x60, 1, 2})), 3u);                             // ushort
  EXPECT_EQ(ScanAmqpValue(Bytes({0x71, 1, 2, 3, 4})), 5u);                       // int
  EXPECT_EQ(ScanAmqpValue(Bytes({0x83, 0, 0, 0, 0, 0, 0, 0, 1})), 9u);           // timestamp
  EXPECT_EQ(ScanAmqpValue(std::string(1, '\x98') + std::string(16, 'u')), 17u);  // uuid
  EXPECT_EQ(ScanAmqpValue(Bytes({0xa1, 2, 'h', 'i'})), 4u);                      // str8
  EXPECT_EQ(ScanAmqpValue(Bytes({0xb0, 0, 0, 0, 1, 'x'})), 6u);                  // vbin32
  EXPECT_EQ(ScanAmqpValue(Bytes({0x00, 0x53, 0x75, 0xa0, 0})), 5u);              // described
  EXPECT_EQ(ScanAmqpValue(Bytes({0xc1, 5, 2, 0xa3, 1, 'k', 0x41})), 7u);         // map8
  EXPECT_EQ(ScanAmqpValue(Bytes({0xe0, 5, 3, 0x50, 7, 8, 9})), 7u);              // array8 of ubyte
  EXPECT_EQ(ScanAmqpValue(Bytes({0xf0, 0, 0, 0, 5, 0, 0, 0, 2, 0x45})), 10u);    // array32, list0
}

TEST(ValueScannerTest, TruncatedOrUnknownIsZero) {
  const std::string valid = Bytes({0x00, 0x53, 0x73, 0xc0, 0x05, 0x02, 0xa1, 0x01, 'x', 0x40});
  ASSERT_EQ(ScanAmqpValue(valid), valid.size());
  for (size_t n = 0; n < valid.size(); ++n) EXPECT_EQ(ScanAmqpValue(valid.substr(0, n)), 0u) << n;
  EXPECT_EQ(ScanAmqpValue(Bytes({0x20})), 0u);  // no such width category
  EXPECT_EQ(ScanAmqpValue(Bytes({0xb1, 0xff, 0xff, 0xff, 0xff, 'x'})), 0u);  // size past the end
}

TEST(ValueScannerTest, CompoundsMustFillExactlyTheirSize) {
  EXPECT_EQ(ScanAmqpValue(Bytes({0xc0, 3, 1, 0x40, 0x40})), 0u);  // one spare byte inside
  EXPECT_EQ(ScanAmqpValue(Bytes({0xc0, 1, 1, 0x40})), 0u);        // element past the size
  EXPECT_EQ(ScanAmqpValue(Bytes({0xc0, 0, 0})), 0u);              // size without room for count
}

TEST(ValueScannerTest, DescriptorsMayNotBeCompoundOrDescribed) {
  EXPECT_EQ(ScanAmqpValue(Bytes({0x00, 0xc0, 1, 0, 0x40})), 0u);
  EXPECT_EQ(ScanAmqpValue(Bytes({0x00, 0x00, 0x53, 1, 0x40})), 0u);
}

TEST(ValueScannerTest, NestingIsBounded) {
  EXPECT_GT(ScanAmqpValue(NestedLists(kMaxAmqpDepth)), 0u);
  EXPECT_EQ(ScanAmqpValue(NestedLists(kMaxAmqpDepth + 1)), 0u);
  // Chained descriptors count as levels too.
  std::string chain;
  for (int i = 0; i < kMaxAmqpDepth + 1; ++i) chain += Bytes({0x00, 0x53, 0x01});
  EXPECT_EQ(ScanAmqpValue(chain + Bytes({0x40})), 0u);
}

TEST(ValueScannerTest, ValueCountIsBounded) {
  // array32 of 2^32 - 1 nulls: zero bytes each, so only the count can stop the walk.
  EXPECT_EQ(ScanAmqpValue(Bytes({0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40})), 0u);
  // 60000 nulls fit.
  std::string many = Bytes({0xf0, 0, 0, 0, 5, 0, 0, 0xea, 0x60, 0x40});
  EXPECT_EQ(ScanAmqpValue(many), many.size());
}

}  // namespace
}  // namespace iothub::amqp
