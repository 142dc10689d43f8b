// A device receiving C2D messages over the AMQP endpoint of a real iothubd, with Debian's
// python3-qpid-proton (amqp_proton_client.py, which grants credit and settles only when told):
// link credit honoured (credit 1: one transfer, the next only after more credit), rejected ->
// feedback Rejected and no redelivery, released and modified -> redelivered with the delivery
// count one higher, several deliveries settled by one disposition (a first..last range, seen in
// Proton's frame trace). One hub for the suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "tests/integration/amqp_fixture.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

class AmqpDeviceTest : public AmqpHubTest<AmqpDeviceTest> {
 protected:
  json AttachC2d(int credit) const {
    return Op("attach", {{"link", "c2d"},
                         {"address", DeviceboundAddress(id_)},
                         {"role", "receiver"},
                         {"credit", credit}});
  }
  static json Receive(int count, double timeout) {
    return Op("receive", {{"link", "c2d"}, {"count", count}, {"timeout", timeout}});
  }
  static json Settle(std::vector<int> indices, const std::string& outcome) {
    return Op("settle", {{"link", "c2d"}, {"indices", indices}, {"outcome", outcome}});
  }
};

TEST_F(AmqpDeviceTest, LinkCreditIsHonoured) {
  NewDevice();
  ASSERT_EQ(hub_->SendC2d(id_, "first", {"IoTHub-MessageId: cr-1"}), 201);
  ASSERT_EQ(hub_->SendC2d(id_, "second", {"IoTHub-MessageId: cr-2"}), 201);
  AmqpRun run = Run(PlainDevice(id_, key_),
                    {Op("connect"), AttachC2d(1), Receive(2, 1.5), Settle({0}, "accepted"),
                     Receive(1, 1.0), Op("flow", {{"link", "c2d"}, {"credit", 1}}), Receive(1, 5),
                     Settle({1}, "accepted"), Op("close")});
  ASSERT_EQ(run.Step("attach")["attached"], true) << run.Dump() << Log();
  json first = run.Step("receive", 0)["messages"];
  ASSERT_EQ(first.size(), 1u) << "credit 1 must bring exactly one message" << run.Dump() << Log();
  EXPECT_EQ(first[0]["id"], "cr-1");
  EXPECT_EQ(run.Step("receive", 1)["messages"].size(), 0u)
      << "settling gives no credit: nothing may come" << run.Dump();
  json second = run.Step("receive", 2)["messages"];
  ASSERT_EQ(second.size(), 1u) << run.Dump() << Log();
  EXPECT_EQ(second[0]["id"], "cr-2");
  EXPECT_EQ(second[0]["body"], "second");
}

TEST_F(AmqpDeviceTest, RejectedGivesRejectedFeedbackAndNoRedelivery) {
  NewDevice();
  ASSERT_EQ(hub_->SendC2d(id_, "unwanted", {"IoTHub-MessageId: rj-1", "IoTHub-Ack: full"}), 201);
  AmqpRun run =
      Run(PlainDevice(id_, key_), {Op("connect"), AttachC2d(10), Receive(1, 10),
                                   Settle({0}, "rejected"), Receive(1, 1.5), Op("close")});
  json got = run.Step("receive", 0)["messages"];
  ASSERT_EQ(got.size(), 1u) << run.Dump() << Log();
  EXPECT_EQ(got[0]["id"], "rj-1");
  EXPECT_EQ(run.Step("receive", 1)["messages"].size(), 0u) << "redelivered" << run.Dump();
  json feedback = hub_->WaitFeedback("rj-1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Rejected");
  EXPECT_EQ(feedback[0]["deviceId"], id_);
}

TEST_F(AmqpDeviceTest, ReleasedAndModifiedComeBackWithTheDeliveryCountOneHigher) {
  NewDevice();
  ASSERT_EQ(hub_->SendC2d(id_, "again", {"IoTHub-MessageId: rl-1", "IoTHub-Ack: full"}), 201);
  AmqpRun run = Run(PlainDevice(id_, key_),
                    {Op("connect"), AttachC2d(10), Receive(1, 10), Settle({0}, "released"),
                     Receive(1, 10), Settle({1}, "modified"), Receive(1, 10),
                     Settle({2}, "accepted"), Receive(1, 1.0), Op("close")});
  for (int i = 0; i < 3; ++i) {
    json got = run.Step("receive", i)["messages"];
    ASSERT_EQ(got.size(), 1u) << i << run.Dump() << Log();
    EXPECT_EQ(got[0]["id"], "rl-1") << i;
    EXPECT_EQ(got[0]["body"], "again") << i;
    EXPECT_EQ(got[0]["annotations"]["iothub-deliverycount"], i) << i << got;
    // AMQP's own place for it (spec 3.2.1, header delivery-count: "the number of unsuccessful
    // previous attempts to deliver this message"), which generic clients such as Proton read.
    EXPECT_EQ(got[0]["deliveryCount"], i) << "header delivery-count, delivery " << i << got;
  }
  EXPECT_EQ(run.Step("receive", 3)["messages"].size(), 0u) << run.Dump();
  json feedback = hub_->WaitFeedback("rl-1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success");
}

TEST_F(AmqpDeviceTest, OneDispositionSettlesARangeOfDeliveries) {
  NewDevice();
  for (const char* mid : {"rg-1", "rg-2", "rg-3"}) {
    ASSERT_EQ(
        hub_->SendC2d(id_, mid, {std::string("IoTHub-MessageId: ") + mid, "IoTHub-Ack: full"}),
        201);
  }
  AmqpClientOptions options = PlainDevice(id_, key_);
  options.trace_frames = true;
  AmqpRun run =
      Run(options, {Op("connect"), AttachC2d(10), Receive(3, 10), Settle({0, 1, 2}, "accepted"),
                    Op("wait", {{"seconds", 0.3}}), Op("close")});
  json got = run.Step("receive")["messages"];
  ASSERT_EQ(got.size(), 3u) << run.Dump() << Log();
  // Proton merges the three settlements into one first..last disposition.
  std::smatch m;
  std::regex range(R"(-> @disposition\(21\) \[role=true, first=(0x[0-9a-f]+), last=(0x[0-9a-f]+))");
  ASSERT_TRUE(std::regex_search(run.err, m, range)) << "no ranged disposition" << run.Dump();
  EXPECT_EQ(std::stoi(m[2].str(), nullptr, 16) - std::stoi(m[1].str(), nullptr, 16), 2) << m[0];
  for (const char* mid : {"rg-1", "rg-2", "rg-3"}) {
    json feedback = hub_->WaitFeedback(mid);
    ASSERT_EQ(feedback.size(), 1u) << mid << Log();
    EXPECT_EQ(feedback[0]["statusCode"], "Success") << mid;
  }
  RestResult device = hub_->Rest("GET", "/devices/" + id_);
  EXPECT_EQ(device.Json()["cloudToDeviceMessageCount"], 0) << device.body;
}

}  // namespace
}  // namespace iothub::testing
