// Authentication on the AMQP endpoint of a real iothubd, with Debian's python3-qpid-proton
// (amqp_proton_client.py): SASL PLAIN with a device token, then telemetry (read back over REST)
// and C2D; SASL ANONYMOUS and CBS put-tokens; a wrong PLAIN password failing SASL; forged and
// expired put-tokens answered 401 with the links they would cover refused; another device's links
// and a registryRead policy's C2D links refused with amqp:unauthorized-access; a token (put-token
// or PLAIN password) expiring under attached links detaching them, and a renewal keeping them.
// One hub for the suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/amqp_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kUnauthorized[] = "amqp:unauthorized-access";

class AmqpAuthTest : public AmqpHubTest<AmqpAuthTest> {};

TEST_F(AmqpAuthTest, PlainDeviceTokenSendsTelemetryAndReceivesC2d) {
  NewDevice();
  ASSERT_EQ(hub_->SendC2d(id_, "to the device",
                          {"IoTHub-MessageId: plain-c2d", "IoTHub-Ack: full", "iothub-app-k: v"}),
            201);
  AmqpRun run = Run(
      PlainDevice(id_, key_),
      {Op("connect"),
       Op("attach", {{"link", "events"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("send", {{"link", "events"},
                   {"body", "hello over amqp"},
                   {"id", "t-1"},
                   {"properties", {{"a", "b"}}}}),
       Op("attach", {{"link", "c2d"},
                     {"address", DeviceboundAddress(id_)},
                     {"role", "receiver"},
                     {"credit", 10}}),
       Op("receive", {{"link", "c2d"}, {"count", 1}}),
       Op("settle", {{"link", "c2d"}, {"indices", {0}}, {"outcome", "accepted"}}), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("attach", 0)["attached"], true) << run.Dump();
  EXPECT_EQ(run.Step("send")["state"], "accepted") << run.Dump() << Log();
  EXPECT_EQ(run.Step("attach", 1)["attached"], true) << run.Dump();
  json messages = run.Step("receive")["messages"];
  ASSERT_EQ(messages.size(), 1u) << run.Dump() << Log();
  EXPECT_EQ(messages[0]["body"], "to the device");
  EXPECT_EQ(messages[0]["id"], "plain-c2d");
  EXPECT_EQ(messages[0]["properties"]["k"], "v") << messages[0];
  EXPECT_EQ(messages[0]["settled"], false) << "C2D must be sent unsettled";

  json events = hub_->WaitTelemetry(id_, 1);
  ASSERT_EQ(events.size(), 1u) << events << Log();
  EXPECT_EQ(events[0]["bodyText"], "hello over amqp");
  EXPECT_EQ(events[0]["systemProperties"]["message-id"], "t-1") << events[0];
  EXPECT_EQ(events[0]["properties"], json({{"a", "b"}})) << events[0];
  json feedback = hub_->WaitFeedback("plain-c2d");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success");
}

TEST_F(AmqpAuthTest, AnonymousThenPutTokenAuthorizesTheDevicesLinks) {
  NewDevice();
  AmqpRun run = Run(
      AmqpAnonymous(),
      {Op("connect"),
       Op("attach", {{"link", "early"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("put-token",
          {{"token", hub_->DeviceToken(id_, key_)}, {"audience", AmqpDeviceAudience(*hub_, id_)}}),
       Op("attach", {{"link", "events"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("send", {{"link", "events"}, {"body", "after put-token"}}), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  json early = run.Step("attach", 0);
  EXPECT_EQ(early["attached"], false) << "a link before any token" << run.Dump();
  EXPECT_EQ(early["error"]["condition"], kUnauthorized) << run.Dump();
  json put = run.Step("put-token");
  EXPECT_EQ(put["status"], 200) << run.Dump() << Log();
  EXPECT_EQ(put["correlated"], true) << run.Dump();
  EXPECT_EQ(run.Step("attach", 1)["attached"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send")["state"], "accepted") << run.Dump();
  json events = hub_->WaitTelemetry(id_, 1);
  ASSERT_EQ(events.size(), 1u) << events << Log();
  EXPECT_EQ(events[0]["bodyText"], "after put-token");
}

TEST_F(AmqpAuthTest, WrongPlainPasswordFailsSasl) {
  NewDevice();
  const std::string wrong_key = "c2VjcmV0LW5vdC10aGUtZGV2aWNlcy1rZXktMTIzNDU2Nzg=";
  for (const std::string& password : {hub_->DeviceToken(id_, wrong_key), std::string("hunter2")}) {
    AmqpRun run = Run({.sasl = "plain", .user = AmqpDeviceUser(*hub_, id_), .password = password},
                      json::array({Op("connect")}));
    json connect = run.Step("connect");
    EXPECT_EQ(connect["open"], false) << password << run.Dump() << Log();
    // Proton reports a SASL outcome "auth" as this condition.
    EXPECT_EQ(connect["error"]["condition"], kUnauthorized) << run.Dump();
  }
  EXPECT_NE(hub_->log().find("SASL PLAIN of '" + AmqpDeviceUser(*hub_, id_) + "' refused"),
            std::string::npos)
      << Log();
}

TEST_F(AmqpAuthTest, ForgedOrExpiredPutTokenIs401AndItsLinksAreRefused) {
  NewDevice();
  std::string forged = hub_->DeviceToken(id_, key_);
  size_t sig = forged.find("sig=");
  ASSERT_NE(sig, std::string::npos) << forged;
  forged[sig + 4] = forged[sig + 4] == 'A' ? 'B' : 'A';  // one character of the signature
  const std::string audience = AmqpDeviceAudience(*hub_, id_);
  AmqpRun run = Run(
      AmqpAnonymous(),
      {Op("connect"), Op("put-token", {{"token", forged}, {"audience", audience}}),
       Op("attach",
          {{"link", "after-forged"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("put-token", {{"token", hub_->DeviceToken(id_, key_, -1min)}, {"audience", audience}}),
       Op("attach", {{"link", "after-expired"},
                     {"address", DeviceboundAddress(id_)},
                     {"role", "receiver"},
                     {"credit", 1}}),
       Op("put-token", {{"token", "SharedAccessSignature garbage"}, {"audience", audience}}),
       // The connection survived all that: a good token still works on it.
       Op("put-token", {{"token", hub_->DeviceToken(id_, key_)}, {"audience", audience}}),
       Op("attach", {{"link", "events"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  for (int i = 0; i < 3; ++i) {
    json put = run.Step("put-token", i);
    EXPECT_EQ(put["status"], 401) << i << run.Dump() << Log();
    EXPECT_EQ(put["correlated"], true) << i << run.Dump();
    EXPECT_NE(put.value("description", ""), "") << i << run.Dump();
  }
  for (int i = 0; i < 2; ++i) {
    json attach = run.Step("attach", i);
    EXPECT_EQ(attach["attached"], false) << i << run.Dump();
    EXPECT_EQ(attach["error"]["condition"], kUnauthorized) << i << run.Dump();
    EXPECT_EQ(attach["closed"], false)
        << "a refused link must not end the connection" << run.Dump();
  }
  EXPECT_EQ(run.Step("put-token", 3)["status"], 200) << run.Dump() << Log();
  EXPECT_EQ(run.Step("attach", 2)["attached"], true) << run.Dump() << Log();
  EXPECT_NE(hub_->log().find("put-token for '" + audience + "' refused"), std::string::npos)
      << Log();
}

TEST_F(AmqpAuthTest, DeviceTokenCannotAttachAnotherDevicesLinks) {
  NewDevice();
  std::string other_key = NewDevice("-other");
  ASSERT_NE(other_key, "");
  const std::string other = id_ + "-other";
  AmqpRun run = Run(
      PlainDevice(id_, key_),
      {Op("connect"),
       Op("attach", {{"link", "e"}, {"address", EventsAddress(other)}, {"role", "sender"}}),
       Op("attach", {{"link", "c"},
                     {"address", DeviceboundAddress(other)},
                     {"role", "receiver"},
                     {"credit", 1}}),
       Op("attach", {{"link", "svc"}, {"address", "/messages/devicebound"}, {"role", "sender"}}),
       Op("attach", {{"link", "own"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
       Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  for (int i = 0; i < 3; ++i) {
    json attach = run.Step("attach", i);
    EXPECT_EQ(attach["attached"], false) << i << run.Dump() << Log();
    EXPECT_EQ(attach["error"]["condition"], kUnauthorized) << i << run.Dump();
  }
  EXPECT_EQ(run.Step("attach", 3)["attached"], true) << run.Dump() << Log();
}

TEST_F(AmqpAuthTest, RegistryReadPolicyCannotAttachServiceLinks) {
  AmqpRun run = Run(
      AmqpAnonymous(),
      {Op("connect"),
       Op("put-token", {{"token", hub_->PolicyToken("registryRead")}, {"audience", hub_->host()}}),
       Op("attach", {{"link", "send"}, {"address", "/messages/devicebound"}, {"role", "sender"}}),
       Op("attach", {{"link", "feedback"},
                     {"address", "/messages/serviceBound/feedback"},
                     {"role", "receiver"},
                     {"credit", 1}}),
       Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  // The token itself is valid: it is its rights that do not reach.
  EXPECT_EQ(run.Step("put-token")["status"], 200) << run.Dump() << Log();
  for (int i = 0; i < 2; ++i) {
    json attach = run.Step("attach", i);
    EXPECT_EQ(attach["attached"], false) << i << run.Dump() << Log();
    EXPECT_EQ(attach["error"]["condition"], kUnauthorized) << i << run.Dump();
  }
  // The same with SASL PLAIN as the policy.
  AmqpRun plain = Run(
      PlainPolicy("registryRead"),
      {Op("connect"),
       Op("attach", {{"link", "send"}, {"address", "/messages/devicebound"}, {"role", "sender"}}),
       Op("close")},
      "plain");
  ASSERT_EQ(plain.Step("connect")["open"], true) << plain.Dump() << Log();
  EXPECT_EQ(plain.Step("attach")["error"]["condition"], kUnauthorized) << plain.Dump();
}

// Three clients at once (the hub checks tokens each second): one lets a 5-second put-token run
// out under its links, one renews it by a put-token before it expires, one authenticated with a
// 5-second token as SASL PLAIN password lets it run out.
TEST_F(AmqpAuthTest, ExpiringTokenDetachesItsLinksUnlessRenewed) {
  NewDevice();
  std::string renewing_key = NewDevice("-renewing");
  const std::string renewing = id_ + "-renewing";
  std::string plain_key = NewDevice("-plain");
  const std::string plain = id_ + "-plain";
  auto steps = [&](const std::string& id, const std::string& key, bool renew) {
    json s = {
        Op("connect"),
        Op("put-token", {{"token", hub_->DeviceToken(id, key, 5s)},
                         {"audience", AmqpDeviceAudience(*hub_, id)}}),
        Op("attach", {{"link", "events"}, {"address", EventsAddress(id)}, {"role", "sender"}}),
        Op("attach", {{"link", "c2d"},
                      {"address", DeviceboundAddress(id)},
                      {"role", "receiver"},
                      {"credit", 1}})};
    if (renew) {
      s.push_back(Op("wait", {{"seconds", 0.5}}));
      s.push_back(Op("put-token", {{"token", hub_->DeviceToken(id, key)},
                                   {"audience", AmqpDeviceAudience(*hub_, id)}}));
    }
    // Past the short token's expiry (4-5 s after it was made, checked each second).
    s.push_back(Op("wait", {{"seconds", renew ? 5.5 : 8}, {"until-detached", {"events", "c2d"}}}));
    s.push_back(Op("send", {{"link", "events"}, {"body", "still here"}, {"timeout", 3}}));
    s.push_back(Op("close"));
    return s;
  };
  auto started = std::chrono::steady_clock::now();
  AmqpClient expiring(
      *hub_, AmqpAnonymous(), steps(id_, key_, false),
      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-expiring");
  AmqpClient renewed(
      *hub_, AmqpAnonymous(), steps(renewing, renewing_key, true),
      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-renewed");
  AmqpClientOptions plain_options = PlainDevice(plain, plain_key);
  plain_options.password = hub_->DeviceToken(plain, plain_key, 5s);
  AmqpClient plain_expiring(
      *hub_, plain_options,
      {Op("connect"),
       Op("attach", {{"link", "events"}, {"address", EventsAddress(plain)}, {"role", "sender"}}),
       Op("attach", {{"link", "c2d"},
                     {"address", DeviceboundAddress(plain)},
                     {"role", "receiver"},
                     {"credit", 1}}),
       Op("wait", {{"seconds", 8}, {"until-detached", {"events", "c2d"}}}), Op("close")},
      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-plain");
  AmqpRun a = expiring.Finish();
  AmqpRun b = renewed.Finish();
  AmqpRun c = plain_expiring.Finish();
  auto took = std::chrono::steady_clock::now() - started;

  ASSERT_EQ(a.Step("put-token")["status"], 200) << a.Dump() << Log();
  ASSERT_EQ(a.Step("attach", 0)["attached"], true) << a.Dump();
  ASSERT_EQ(a.Step("attach", 1)["attached"], true) << a.Dump();
  json waited = a.Step("wait");
  for (const char* link : {"events", "c2d"}) {
    EXPECT_EQ(waited["links"][link]["open"], false) << link << a.Dump() << Log();
    EXPECT_EQ(waited["links"][link]["error"]["condition"], kUnauthorized) << link << a.Dump();
  }
  EXPECT_EQ(waited["closed"], false) << "only the links end" << a.Dump();
  // se is in whole seconds: the token lived 4-5 s from its making, checked once a second.
  double detached_at = waited.value("t", 0.0);
  EXPECT_GT(detached_at, 2.5) << a.Dump();
  EXPECT_LT(detached_at, 8.0) << a.Dump();
  EXPECT_NE(hub_->log().find("expired: detaching 2 link(s)"), std::string::npos) << Log();

  ASSERT_EQ(b.Step("put-token", 0)["status"], 200) << b.Dump() << Log();
  EXPECT_EQ(b.Step("put-token", 1)["status"], 200) << b.Dump();
  json kept = b.Step("wait", 1);
  for (const char* link : {"events", "c2d"}) {
    EXPECT_EQ(kept["links"][link]["open"], true) << link << b.Dump() << Log();
  }
  EXPECT_EQ(b.Step("send")["state"], "accepted") << b.Dump() << Log();

  ASSERT_EQ(c.Step("attach", 1)["attached"], true) << c.Dump() << Log();
  json plain_waited = c.Step("wait");
  for (const char* link : {"events", "c2d"}) {
    EXPECT_EQ(plain_waited["links"][link]["error"]["condition"], kUnauthorized)
        << link << c.Dump() << Log();
  }
  EXPECT_LT(took, 20s);
}

}  // namespace
}  // namespace iothub::testing
