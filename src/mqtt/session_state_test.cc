#include "mqtt/session_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/coding.h"

namespace iothub::mqtt {
namespace {

const std::string kDevicebound = "devices/dev1/messages/devicebound/#";

TEST(SessionStateTest, SubscriptionsRoundTrip) {
  std::vector<SessionSubscription> subscriptions = {{kDevicebound, 1},
                                                    {"$iothub/methods/POST/#", 0}};
  auto decoded = DecodeSessionState("dev1", EncodeSessionState(subscriptions), 5);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, subscriptions);
  EXPECT_EQ(DecodeSessionState("dev1", EncodeSessionState({}), 5)->size(), 0u);
}

// What a stored state may not hold: another device's filter, a QoS 2, more than the limit,
// trailing bytes, an unknown format.
TEST(SessionStateTest, WhatNoSessionHoldsIsRefused) {
  EXPECT_FALSE(DecodeSessionState("dev2", EncodeSessionState({{kDevicebound, 1}}), 5));
  EXPECT_FALSE(DecodeSessionState("dev1", EncodeSessionState({{kDevicebound, 2}}), 5));
  EXPECT_FALSE(
      DecodeSessionState("dev1", EncodeSessionState({{kDevicebound, 1}, {kDevicebound, 0}}), 1));
  EXPECT_FALSE(DecodeSessionState("dev1", EncodeSessionState({{kDevicebound, 1}}) + "x", 5));
  EXPECT_FALSE(DecodeSessionState("dev1", std::string("\x03\x00", 2), 5));
  EXPECT_FALSE(DecodeSessionState("dev1", "", 5));
}

// Sessions stored by the version before kept the deliveries in flight too (now the queue's locks):
// their subscriptions still come back.
TEST(SessionStateTest, TheFormatWithDeliveriesGivesItsSubscriptions) {
  std::string old(1, '\x01');
  PutVarint64(&old, 7);  // the next packet id
  PutVarint64(&old, 1);
  PutLengthPrefixed(&old, kDevicebound);
  old.push_back('\x01');
  PutVarint64(&old, 1);  // one delivery: packet id, lock token, lock deadline
  PutVarint64(&old, 6);
  PutLengthPrefixed(&old, "0f8fad5b-d9cb-469f-a165-70867728950e");
  PutFixed64BE(&old, 1700000000000);
  auto decoded = DecodeSessionState("dev1", old, 5);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, (std::vector<SessionSubscription>{{kDevicebound, 1}}));
  EXPECT_FALSE(DecodeSessionState("dev1", old.substr(0, old.size() - 1), 5));
}

}  // namespace
}  // namespace iothub::mqtt
