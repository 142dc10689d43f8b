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
// transfer(handle 0) and a payload after it.
const std::string kTransfer(std::string("\x00\x53\x14\xc0\x02\x01\x43", 7) + "payload");

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
