#include "amqp/frame_checker.h"

#include <gtest/gtest.h>

#include <string>

namespace iothub::amqp {
namespace {

const std::string kAmqpHeader("AMQP\x00\x01\x00\x00", 8);
const std::string kSaslHeader("AMQP\x03\x01\x00\x00", 8);

// A frame of `type` holding `body`, data offset 2.
std::string Frame(std::string_view body, uint8_t type = 0) {
  uint32_t size = static_cast<uint32_t>(8 + body.size());
  std::string f;
  f.push_back(static_cast<char>(size >> 24));
  f.push_back(static_cast<char>(size >> 16));
  f.push_back(static_cast<char>(size >> 8));
  f.push_back(static_cast<char>(size));
  f.push_back('\x02');
  f.push_back(static_cast<char>(type));
  f.append(2, '\x00');
  f.append(body);
  return f;
}

// open(container-id "c"): 0x00 0x53 0x10, list8 of one str8.
const std::string kOpen("\x00\x53\x10\xc0\x04\x01\xa1\x01\x63", 9);
// sasl-init(mechanism :ANONYMOUS)
const std::string kSaslInit("\x00\x53\x41\xc0\x0c\x01\xa3\x09\x41\x4e\x4f\x4e\x59\x4d\x4f\x55\x53",
                            17);
// transfer(handle 0, delivery-id 0) and a payload after it.
const std::string kTransfer(std::string("\x00\x53\x14\xc0\x03\x02\x43\x43", 8) + "payload");

TEST(FrameCheckerTest, WellFormedFramesPassInAnySplit) {
  std::string stream = kAmqpHeader + Frame(kOpen) + Frame("") + Frame(kTransfer);
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameChecker checker(1024);
    EXPECT_EQ(checker.Feed(stream.substr(0, split)), "") << split;
    EXPECT_EQ(checker.Feed(stream.substr(split)), "") << split;
    EXPECT_FALSE(checker.stopped());
  }
  FrameChecker bytewise(1024);
  for (char c : stream) EXPECT_EQ(bytewise.Feed(std::string_view(&c, 1)), "");
}

TEST(FrameCheckerTest, SaslFramesThenTheAmqpHeader) {
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kSaslHeader + Frame(kSaslInit, 1) + kAmqpHeader + Frame(kOpen)), "");
  EXPECT_FALSE(checker.stopped());
}

TEST(FrameCheckerTest, AGarbageBodyIsMalformed) {
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(kOpen)), "");
  EXPECT_EQ(checker.Feed(Frame("\xff\xfe\xfd\xfc")), "frame body is not a performative");
  EXPECT_TRUE(checker.stopped());
  EXPECT_EQ(checker.Feed(Frame("\xff")), "");  // nothing is looked at after an error
}

TEST(FrameCheckerTest, SaysHowManyBytesComeBeforeTheBadFrame) {
  std::string before = kAmqpHeader + Frame(kOpen);
  FrameChecker checker(1024);
  size_t good = 0;
  EXPECT_NE(checker.Feed(before + Frame("\xff\xfe") + Frame(kOpen), &good), "");
  EXPECT_EQ(good, before.size());
  // A bad frame that began in an earlier chunk: none of this chunk is good.
  FrameChecker split(1024);
  std::string bad = Frame("\xff\xfe");
  EXPECT_EQ(split.Feed(before + bad.substr(0, 5), &good), "");
  good = 99;
  EXPECT_NE(split.Feed(bad.substr(5), &good), "");
  EXPECT_EQ(good, 0u);
}

TEST(FrameCheckerTest, UnknownPerformativesAreMalformed) {
  FrameChecker checker(1024);
  std::string unknown("\x00\x53\x99\x45", 4);  // descriptor 0x99, empty list
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(unknown)), "unknown performative 0x99");
  // A SASL performative in an AMQP frame is unknown there too.
  FrameChecker amqp(1024);
  EXPECT_EQ(amqp.Feed(kAmqpHeader + Frame(kSaslInit)), "unknown performative 0x41");
  // And an AMQP one in SASL.
  FrameChecker sasl(1024);
  EXPECT_EQ(sasl.Feed(kSaslHeader + Frame(kOpen, 1)), "unknown performative 0x10");
}

TEST(FrameCheckerTest, TheWrongFrameTypeIsMalformed) {
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(kOpen, 1)), "frame of type 1 in AMQP");
}

TEST(FrameCheckerTest, ATruncatedOrOverlongPerformativeIsMalformed) {
  FrameChecker truncated(1024);
  EXPECT_EQ(truncated.Feed(kAmqpHeader + Frame(kOpen.substr(0, 7))), "malformed performative");
  FrameChecker trailing(1024);
  EXPECT_EQ(trailing.Feed(kAmqpHeader + Frame(kOpen + "xx")), "bytes after the performative");
}

TEST(FrameCheckerTest, ALongFormDescriptorIsAccepted) {
  std::string open(std::string("\x00\x80\x00\x00\x00\x00\x00\x00\x00\x10", 10) + kOpen.substr(3));
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(open)), "");
}

// transfer(handle, [delivery-id], tag "t", format 0, settled false, more) and a payload.
std::string TransferFrame(uint8_t handle, bool with_id, uint8_t id, bool more,
                          uint16_t channel = 0) {
  std::string fields;
  fields += std::string("\x52") + static_cast<char>(handle);
  fields += with_id ? std::string("\x52") + static_cast<char>(id) : std::string("\x40");
  fields += std::string("\xa0\x01t\x43\x42", 5);
  fields += more ? "\x41" : "\x42";
  std::string body = std::string("\x00\x53\x14\xc0", 4) + static_cast<char>(fields.size() + 1) +
                     '\x06' + fields + "payload";
  std::string frame = Frame(body);
  frame[6] = static_cast<char>(channel >> 8);
  frame[7] = static_cast<char>(channel);
  return frame;
}

// attach(name "l", handle) as the client's sender (role false).
std::string AttachFrame(uint8_t handle) {
  std::string fields = std::string("\xa1\x01l\x52", 4) + static_cast<char>(handle) + "\x42";
  return Frame(std::string("\x00\x53\x12\xc0", 4) + static_cast<char>(fields.size() + 1) + '\x03' +
               fields);
}

TEST(FrameCheckerTest, MultiFrameDeliveriesNeedAnIdOnlyOnTheirFirstTransfer) {
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(kOpen)), "");
  EXPECT_EQ(checker.Feed(TransferFrame(0, true, 0, true)), "");
  EXPECT_EQ(checker.Feed(TransferFrame(0, false, 0, true)), "");  // continuations may omit it
  EXPECT_EQ(checker.Feed(TransferFrame(0, false, 0, false)), "");
  EXPECT_EQ(checker.Feed(TransferFrame(0, true, 1, false)), "");  // a one-frame delivery
  EXPECT_FALSE(checker.stopped());
}

// Proton 0.37 aborts the process on such a frame (pn_do_transfer asserts the id).
TEST(FrameCheckerTest, AFirstTransferWithoutADeliveryIdIsMalformed) {
  FrameChecker checker(1024);
  EXPECT_EQ(checker.Feed(kAmqpHeader + Frame(kOpen)), "");
  EXPECT_EQ(checker.Feed(TransferFrame(0, false, 0, true)),
            "the first transfer of a delivery has no delivery-id");
  // After a delivery ended, the next one starts afresh.
  FrameChecker after(1024);
  EXPECT_EQ(after.Feed(kAmqpHeader + Frame(kOpen) + TransferFrame(0, true, 0, true) +
                       TransferFrame(0, false, 0, false)),
            "");
  EXPECT_EQ(after.Feed(TransferFrame(0, false, 0, true)),
            "the first transfer of a delivery has no delivery-id");
}

TEST(FrameCheckerTest, ANewAttachOrAnotherChannelStartsAfresh) {
  FrameChecker reattached(1024);
  EXPECT_EQ(reattached.Feed(kAmqpHeader + Frame(kOpen) + TransferFrame(0, true, 0, true)), "");
  EXPECT_EQ(reattached.Feed(AttachFrame(0)), "");  // handle 0 names a new link now
  EXPECT_EQ(reattached.Feed(TransferFrame(0, false, 0, true)),
            "the first transfer of a delivery has no delivery-id");
  FrameChecker channels(1024);
  EXPECT_EQ(channels.Feed(kAmqpHeader + Frame(kOpen) + TransferFrame(0, true, 0, true)), "");
  EXPECT_EQ(channels.Feed(TransferFrame(0, false, 0, true, /*channel=*/1)),
            "the first transfer of a delivery has no delivery-id");
}

TEST(FrameCheckerTest, WhatProtonRefusesItselfStopsTheWatch) {
  FrameChecker bad_header(1024);
  EXPECT_EQ(bad_header.Feed("GET / HTTP/1.1\r\n"), "");
  EXPECT_TRUE(bad_header.stopped());
  FrameChecker too_big(64);
  EXPECT_EQ(too_big.Feed(kAmqpHeader + Frame(std::string(100, 'x'))), "");
  EXPECT_TRUE(too_big.stopped());
  FrameChecker bad_offset(1024);
  std::string frame = Frame(kOpen);
  frame[4] = '\x01';  // a data offset inside the frame header
  EXPECT_EQ(bad_offset.Feed(kAmqpHeader + frame), "");
  EXPECT_TRUE(bad_offset.stopped());
}

}  // namespace
}  // namespace iothub::amqp
