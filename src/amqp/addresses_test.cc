#include "amqp/addresses.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace iothub::amqp {
namespace {

TEST(LinkAddressTest, ServiceAddressesMatchCaseInsensitively) {
  EXPECT_EQ(ParseLinkAddress("/messages/devicebound", true).kind, LinkKind::kServiceC2dSend);
  EXPECT_EQ(ParseLinkAddress("/Messages/DeviceBound", true).kind, LinkKind::kServiceC2dSend);
  EXPECT_EQ(ParseLinkAddress("/messages/serviceBound/feedback", false).kind,
            LinkKind::kServiceFeedback);
  EXPECT_EQ(ParseLinkAddress("/MESSAGES/SERVICEBOUND/FEEDBACK/", false).kind,
            LinkKind::kServiceFeedback);
}

TEST(LinkAddressTest, DirectionMustFitTheAddress) {
  EXPECT_EQ(ParseLinkAddress("/messages/devicebound", false).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/messages/serviceBound/feedback", true).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/messages/events", false).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/messages/devicebound", true).kind, LinkKind::kUnknown);
}

TEST(LinkAddressTest, DeviceLinksCarryTheIdSegmentAsSent) {
  LinkAddress events = ParseLinkAddress("/devices/My%20Dev/Messages/Events", true);
  EXPECT_EQ(events.kind, LinkKind::kDeviceTelemetry);
  EXPECT_EQ(events.device_id, "My%20Dev");
  LinkAddress c2d = ParseLinkAddress("/devices/d1/messages/deviceBound", false);
  EXPECT_EQ(c2d.kind, LinkKind::kDeviceC2d);
  EXPECT_EQ(c2d.device_id, "d1");
}

// The C SDK attaches both twin links at start, and both method links when methods are enabled.
TEST(LinkAddressTest, TwinAndMethodLinksInBothDirections) {
  LinkAddress twin_out = ParseLinkAddress("/devices/d1/twin", true);
  EXPECT_EQ(twin_out.kind, LinkKind::kDeviceTwinRequests);
  EXPECT_EQ(twin_out.device_id, "d1");
  EXPECT_EQ(ParseLinkAddress("amqps://h/devices/d1/Twin/", false).kind,
            LinkKind::kDeviceTwinResponses);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/methods/devicebound", false).kind,
            LinkKind::kDeviceMethodRequests);
  LinkAddress method_out = ParseLinkAddress("/devices/d%2F1/methods/deviceBound", true);
  EXPECT_EQ(method_out.kind, LinkKind::kDeviceMethodResponses);
  EXPECT_EQ(method_out.device_id, "d%2F1");
  for (LinkKind k : {twin_out.kind, method_out.kind, LinkKind::kDeviceC2d}) {
    EXPECT_TRUE(IsDeviceLink(k));
  }
  EXPECT_FALSE(IsDeviceLink(LinkKind::kServiceFeedback));
  EXPECT_FALSE(IsDeviceLink(LinkKind::kCbs));
}

TEST(LinkAddressTest, FullUrisAreAccepted) {
  LinkAddress a = ParseLinkAddress("amqps://hub.example/devices/d1/messages/events", true);
  EXPECT_EQ(a.kind, LinkKind::kDeviceTelemetry);
  EXPECT_EQ(a.device_id, "d1");
  EXPECT_EQ(ParseLinkAddress("amqps://hub.example/$cbs", true).kind, LinkKind::kCbs);
}

TEST(LinkAddressTest, CbsInEitherDirection) {
  EXPECT_EQ(ParseLinkAddress("$cbs", true).kind, LinkKind::kCbs);
  EXPECT_EQ(ParseLinkAddress("$CBS", false).kind, LinkKind::kCbs);
}

TEST(LinkAddressTest, MalformedDeviceAddressesAreUnknown) {
  EXPECT_EQ(ParseLinkAddress("/devices//messages/events", true).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/messages/events/x", true).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/twin/x", true).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("/devices/d1/methods", false).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("", true).kind, LinkKind::kUnknown);
  EXPECT_EQ(ParseLinkAddress("amqps://host", true).kind, LinkKind::kUnknown);
}

TEST(ResolveDeviceIdTest, RawIdFirstThenDecoded) {
  auto exists_in = [](std::set<std::string> ids) {
    return [ids](const std::string& id) { return ids.contains(id); };
  };
  // The Node SDKs send raw ids, and ids may contain '%'.
  EXPECT_EQ(ResolveDeviceId("a%20b", exists_in({"a%20b", "a b"})), "a%20b");
  // Other SDKs URL-encode them.
  EXPECT_EQ(ResolveDeviceId("a%20b", exists_in({"a b"})), "a b");
  EXPECT_EQ(ResolveDeviceId("a%20b", exists_in({})), "a%20b");
  EXPECT_EQ(ResolveDeviceId("d%zz", exists_in({})), "d%zz");
}

TEST(C2dToTest, ParsesTheDevice) {
  EXPECT_EQ(DeviceOfC2dTo("/devices/d1/messages/devicebound"), "d1");
  EXPECT_EQ(DeviceOfC2dTo("/devices/a%2Fb/Messages/DeviceBound"), "a/b");
  EXPECT_EQ(DeviceOfC2dTo("/devices/d1/messages/events"), std::nullopt);
  EXPECT_EQ(DeviceOfC2dTo("d1"), std::nullopt);
  EXPECT_EQ(DeviceOfC2dTo(""), std::nullopt);
}

}  // namespace
}  // namespace iothub::amqp
