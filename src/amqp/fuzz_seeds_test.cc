// Sessions of real clients (Proton, in memory) against the hub that amqp_connection_fuzz uses
// (tests/fuzz/amqp_connection_world.h), each checked as it runs. With IOTHUB_AMQP_SEED_DIR set,
// each session's client bytes are also written there in the fuzz target's input format: that is
// how tests/fuzz/corpus/amqp_connection_fuzz/ was made:
//   IOTHUB_AMQP_SEED_DIR=tests/fuzz/corpus/amqp_connection_fuzz bin/amqp_test
//   --gtest_filter='FuzzSeeds.*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "amqp/amqp_test_client.h"
#include "tests/fuzz/amqp_connection_world.h"

namespace iothub::amqp {
namespace {

class FuzzSeeds : public ::testing::Test {
 protected:
  TestClient& NewClient(ClientOptions options = {}) {
    clients_.push_back(std::make_unique<TestClient>(
        *world_.endpoint, 0, [this] { return world_.RunAll(); }, std::move(options)));
    return *clients_.back();
  }

  // The fuzz input for `client`'s writes: flags 0, each write in records of at most 240 bytes,
  // and after each write the shards run (0xF8); then `tail`.
  static std::string FuzzInput(const TestClient& client, const std::string& tail = "") {
    std::string out(1, '\0');
    for (const std::string& write : client.client_writes()) {
      for (size_t at = 0; at < write.size(); at += 240) {
        size_t n = std::min<size_t>(240, write.size() - at);
        out.push_back(static_cast<char>(n - 1));
        out.append(write, at, n);
      }
      out.push_back(static_cast<char>(0xF8));
    }
    return out + tail;
  }
  static void Write(const std::string& name, const std::string& input) {
    const char* dir = std::getenv("IOTHUB_AMQP_SEED_DIR");
    if (dir == nullptr) return;
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << input;
  }

  static std::string MessageBytes(std::string_view body, std::string_view id,
                                  std::string_view to = "", std::string_view ack = "") {
    testing_util::MessagePtr m = testing_util::MakeMessage();
    pn_atom_t atom;
    atom.type = PN_STRING;
    atom.u.as_bytes = pn_bytes(id.size(), id.data());
    pn_message_set_id(m.get(), atom);
    if (!to.empty()) pn_message_set_address(m.get(), std::string(to).c_str());
    pn_data_t* p = pn_message_properties(m.get());
    pn_data_put_map(p);
    pn_data_enter(p);
    pn_data_put_string(p, pn_bytes(1, "k"));
    pn_data_put_string(p, pn_bytes(1, "v"));
    if (!ack.empty()) {
      pn_data_put_string(p, pn_bytes(10, "iothub-ack"));
      pn_data_put_string(p, pn_bytes(ack.size(), ack.data()));
    }
    pn_data_exit(p);
    pn_message_set_inferred(m.get(), true);
    pn_data_put_binary(pn_message_body(m.get()), pn_bytes(body.size(), body.data()));
    return testing_util::Encode(m.get());
  }

  fuzz::World world_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

TEST_F(FuzzSeeds, DeviceCbsTelemetryAndC2d) {
  TestClient& c = NewClient();
  c.Open();
  ASSERT_EQ(c.PutToken(world_.DeviceToken("d1"), std::string(fuzz::kHost) + "/devices/d1")
                .value_or(CbsResponse{})
                .status_code,
            200);
  pn_link_t* events = c.AttachSender("/devices/d1/messages/events");
  EXPECT_EQ(TestClient::OutcomeOf(c.Send(events, MessageBytes("t1", "m1"))).state, PN_ACCEPTED);
  EXPECT_EQ(TestClient::OutcomeOf(c.Send(events, MessageBytes(std::string(5000, 'x'), "m2"))).state,
            PN_ACCEPTED);  // two frames
  pn_link_t* c2d = c.AttachReceiver("/devices/d1/messages/devicebound", 5);
  auto received = c.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  c.Settle(received[0].delivery, PN_RELEASED);
  received = c.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  c.Settle(received[0].delivery, PN_ACCEPTED);
  c.CloseLink(c2d);
  c.CloseLink(events);
  Write("device_cbs_telemetry_c2d", FuzzInput(c));
}

TEST_F(FuzzSeeds, ServiceSendAndFeedback) {
  TestClient& c = NewClient();
  c.Open();
  ASSERT_EQ(
      c.PutToken(world_.PolicyToken("service"), fuzz::kHost).value_or(CbsResponse{}).status_code,
      200);
  pn_link_t* send = c.AttachSender("/messages/devicebound");
  EXPECT_EQ(TestClient::OutcomeOf(
                c.Send(send, MessageBytes("hi", "s1", "/devices/d1/messages/devicebound", "full")))
                .state,
            PN_ACCEPTED);
  Outcome ghost = TestClient::OutcomeOf(
      c.Send(send, MessageBytes("hi", "s2", "/devices/ghost/messages/devicebound")));
  EXPECT_EQ(ghost.condition, "amqp:not-found");
  pn_link_t* feedback = c.AttachReceiver("/messages/serviceBound/feedback", 5);
  auto received = c.TakeReceived(feedback);
  ASSERT_EQ(received.size(), 1u);
  c.Settle(received[0].delivery, PN_ACCEPTED);
  Write("service_send_feedback", FuzzInput(c));
}

TEST_F(FuzzSeeds, SaslPlainDevice) {
  TestClient& c = NewClient(
      {.sasl = Sasl::kPlain, .user = "d1@sas.fuzz", .password = world_.DeviceToken("d1")});
  c.Open();
  ASSERT_EQ(c.SaslOutcome(), PN_SASL_OK);
  pn_link_t* events = c.AttachSender("/devices/d1/messages/events");
  EXPECT_EQ(TestClient::OutcomeOf(c.Send(events, MessageBytes("t", "m"))).state, PN_ACCEPTED);
  Write("sasl_plain_device", FuzzInput(c));
}

TEST_F(FuzzSeeds, SaslAnonymousThenABadAndAGoodToken) {
  TestClient& c = NewClient({.sasl = Sasl::kAnonymous});
  c.Open();
  ASSERT_EQ(c.SaslOutcome(), PN_SASL_OK);
  EXPECT_EQ(c.PutToken("SharedAccessSignature sr=x&sig=y&se=1", fuzz::kHost)
                .value_or(CbsResponse{})
                .status_code,
            401);
  EXPECT_EQ(c.PutToken(world_.PolicyToken("iothubowner"), fuzz::kHost)
                .value_or(CbsResponse{})
                .status_code,
            200);
  pn_link_t* refused = c.AttachSender("/nowhere");
  EXPECT_EQ(TestClient::LinkCondition(refused), "amqp:not-found");
  Write("sasl_anonymous_cbs", FuzzInput(c));
}

TEST_F(FuzzSeeds, OversizeTelemetryAndTimeouts) {
  TestClient& c = NewClient();
  c.Open();
  ASSERT_EQ(c.PutToken(world_.DeviceToken("d2"), std::string(fuzz::kHost) + "/devices/d2")
                .value_or(CbsResponse{})
                .status_code,
            200);
  pn_link_t* events = c.AttachSender("/devices/d2/messages/events");
  c.Send(events, MessageBytes(std::string(9000, 'x'), "big"));
  EXPECT_EQ(TestClient::LinkCondition(events), "amqp:link:message-size-exceeded");
  // Then the clock runs on (idle time-out) and the timers fire.
  Write("oversize_then_idle", FuzzInput(c, "\xF7\xF7\xF7\xF7\xFB\xF7\xF7\xF7"));
}

TEST_F(FuzzSeeds, OpenOnlyThenTheAuthTimeout) {
  TestClient& c = NewClient();
  c.Open();
  EXPECT_TRUE(c.RemoteOpened());
  Write("open_then_auth_timeout", FuzzInput(c, "\xF3\xF3"));
  Write("header_then_open_timeout", std::string("\x00\x07"
                                                "AMQP\x00\x01\x00\x00\xF1",
                                                11));
}

}  // namespace
}  // namespace iothub::amqp
