// amqp::Connection over a real hub, driven by Proton in client mode: authentication (no SASL,
// SASL ANONYMOUS and PLAIN, CBS put-tokens), link authorization and device telemetry.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amqp/amqp_test_fixture.h"

namespace iothub::amqp {
namespace {

std::string EventsOf(std::string_view device) {
  return "/devices/" + std::string(device) + "/messages/events";
}

class ConnectionTest : public AmqpTest {
 protected:
  // After a SASL mechanism that carries no credentials, nothing attaches until a put-token covers
  // it; then telemetry flows.
  void ExpectLinksOnlyAfterAPutToken(TestClient& client, const core::Device& d) {
    EXPECT_EQ(client.SaslOutcome(), PN_SASL_OK);
    EXPECT_TRUE(client.RemoteOpened());
    pn_link_t* refused = client.AttachSender(EventsOf(d.id));
    EXPECT_EQ(TestClient::LinkCondition(refused), "amqp:unauthorized-access");
    auto response = client.PutToken(DeviceToken(d), DeviceAudience(d.id));
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status_code, 200);
    pn_link_t* events = client.AttachSender(EventsOf(d.id));
    EXPECT_TRUE(TestClient::Attached(events));
    EXPECT_FALSE(TestClient::Detached(events));
    EXPECT_EQ(TestClient::OutcomeOf(client.Send(events, MessageBytes("x"))).state, PN_ACCEPTED);
  }
};

TEST_F(ConnectionTest, TelemetryWithoutSaslLandsInTheLogWithItsProperties) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  ASSERT_TRUE(TestClient::Attached(events));
  ASSERT_FALSE(TestClient::Detached(events));

  testing_util::MessagePtr m = testing_util::MakeMessage();
  pn_atom_t id;
  id.type = PN_STRING;
  id.u.as_bytes = pn_bytes(4, "mid1");
  pn_message_set_id(m.get(), id);
  pn_message_set_content_type(m.get(), "application/json");
  pn_message_set_content_encoding(m.get(), "utf-8");
  pn_data_t* props = pn_message_properties(m.get());
  pn_data_put_map(props);
  pn_data_enter(props);
  pn_data_put_string(props, pn_bytes(1, "a"));
  pn_data_put_string(props, pn_bytes(1, "b"));
  pn_data_put_string(props, pn_bytes(1, "n"));
  pn_data_put_int(props, 42);
  pn_data_exit(props);
  pn_message_set_inferred(m.get(), true);
  pn_data_put_binary(pn_message_body(m.get()), pn_bytes(5, "hello"));

  pn_delivery_t* sent = client.Send(events, testing_util::Encode(m.get()));
  Outcome outcome = TestClient::OutcomeOf(sent);
  EXPECT_EQ(outcome.state, PN_ACCEPTED);
  EXPECT_TRUE(outcome.settled);

  auto stored = Stored("dev1");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "hello");
  EXPECT_EQ(stored[0].message_id, "mid1");
  EXPECT_EQ(stored[0].content_type, "application/json");
  EXPECT_EQ(stored[0].content_encoding, "utf-8");
  ASSERT_NE(stored[0].FindProperty("a"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("a"), "b");
  ASSERT_NE(stored[0].FindProperty("n"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("n"), "42");
  EXPECT_EQ(stored[0].connection_device_id, "dev1");
  EXPECT_EQ(stored[0].connection_auth_generation_id, d.generation_id);
  EXPECT_NE(stored[0].connection_auth_method.find("\"scope\":\"device\""), std::string::npos);
  EXPECT_FALSE(client.closed());
}

TEST_F(ConnectionTest, TelemetryIsSettledOnlyOnTheShardAfterTheAppend) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  pn_delivery_t* sent = client.Send(events, MessageBytes("x"), /*pump=*/false);
  client.Pump(/*run_executors=*/false);
  EXPECT_EQ(Stored("dev1").size(), 1u);              // the memory store appends at once ...
  EXPECT_EQ(TestClient::OutcomeOf(sent).state, 0u);  // ... but the answer waits for the shard
  client.Pump();
  EXPECT_EQ(TestClient::OutcomeOf(sent).state, PN_ACCEPTED);
}

TEST_F(ConnectionTest, TelemetryIsNotAcceptedBeforeItIsDurable) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  store_.hold = true;
  pn_delivery_t* sent = client.Send(events, MessageBytes("x"));
  EXPECT_GE(store_.held(), 1u);
  Outcome outcome = TestClient::OutcomeOf(sent);
  EXPECT_EQ(outcome.state, 0u);
  EXPECT_FALSE(outcome.settled);
  store_.Release();
  client.Pump();
  outcome = TestClient::OutcomeOf(sent);
  EXPECT_EQ(outcome.state, PN_ACCEPTED);
  EXPECT_TRUE(outcome.settled);
  EXPECT_EQ(Stored("dev1").size(), 1u);
}

TEST_F(ConnectionTest, SaslAnonymousThenCbs) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = NewClient({.sasl = Sasl::kAnonymous});
  client.Open();
  ExpectLinksOnlyAfterAPutToken(client, d);
}

TEST_F(ConnectionTest, SaslPlainWithADeviceTokenAuthorizesLinksWithoutCbs) {
  core::Device d = CreateDevice("dev1");
  TestClient& client =
      NewClient({.sasl = Sasl::kPlain, .user = "dev1@sas.hub", .password = DeviceToken(d)});
  client.Open();
  EXPECT_EQ(client.SaslOutcome(), PN_SASL_OK);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  EXPECT_TRUE(TestClient::Attached(events));
  EXPECT_FALSE(TestClient::Detached(events));
  EXPECT_EQ(TestClient::OutcomeOf(client.Send(events, MessageBytes("x"))).state, PN_ACCEPTED);
  pn_link_t* c2d = client.AttachReceiver(C2dTo("dev1"));
  EXPECT_FALSE(TestClient::Detached(c2d));
  EXPECT_FALSE(client.closed());
}

TEST_F(ConnectionTest, SaslPlainWithABadTokenFailsWithOutcomeAuth) {
  core::Device d = CreateDevice("dev1");
  std::string forged = DeviceToken(d);
  forged[forged.find("sig=") + 4] ^= 1;
  TestClient& client =
      NewClient({.sasl = Sasl::kPlain, .user = "dev1@sas.hub", .password = forged});
  client.Open();
  EXPECT_EQ(client.SaslOutcome(), PN_SASL_AUTH);
  EXPECT_FALSE(client.RemoteOpened());
  EXPECT_TRUE(client.closed());
}

TEST_F(ConnectionTest, SaslUnknownMechanismFails) {
  CreateDevice("dev1");
  TestClient& client = NewClient({.sasl = Sasl::kMechanism, .mechanism = "CRAM-MD5"});
  client.Open();
  EXPECT_EQ(client.SaslOutcome(), PN_SASL_AUTH);
  EXPECT_FALSE(client.RemoteOpened());
  EXPECT_TRUE(client.closed());
}

// The C SDK's AMQP device transport (uAMQP) insists on SASL mechanism MSSBCBS, which it finds in
// the server's list, and then authenticates with CBS as after ANONYMOUS.
TEST_F(ConnectionTest, SaslMssbcbsIsOfferedAndFollowedByCbs) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = NewClient({.sasl = Sasl::kMechanism, .mechanism = "MSSBCBS"});
  client.Open();
  EXPECT_NE((" " + LastOfferedMechanisms() + " ").find(" MSSBCBS "), std::string::npos)
      << LastOfferedMechanisms();
  ExpectLinksOnlyAfterAPutToken(client, d);
}

// The performative codes of the AMQP frames in `bytes` (whole frames, as the hub writes them).
std::vector<uint8_t> PerformativeCodes(std::string_view bytes) {
  std::vector<uint8_t> codes;
  while (bytes.size() >= 8) {
    uint32_t size = (uint32_t{static_cast<uint8_t>(bytes[0])} << 24) |
                    (uint32_t{static_cast<uint8_t>(bytes[1])} << 16) |
                    (uint32_t{static_cast<uint8_t>(bytes[2])} << 8) |
                    static_cast<uint8_t>(bytes[3]);
    size_t body = size_t{static_cast<uint8_t>(bytes[4])} * 4;
    if (size < body || size > bytes.size()) break;
    std::string_view frame = bytes.substr(body, size - body);
    // A performative is described by a small ulong: 0x00 0x53 <code>.
    if (frame.size() >= 3 && frame[0] == 0 && frame[1] == 0x53) {
      codes.push_back(static_cast<uint8_t>(frame[2]));
    }
    bytes.remove_prefix(size);
  }
  return codes;
}

// The C SDK reads a CBS answer that arrives before the settlement of its request as a failed
// authentication; it found them reversed on its second put-token of a connection (Proton holds
// dispositions back to merge them, and wrote the answer's transfer first).
TEST_F(ConnectionTest, EveryPutTokenIsSettledBeforeItsAnswerIsSent) {
  constexpr uint8_t kTransfer = 0x14, kDisposition = 0x15;
  core::Device d = CreateDevice("dev1");
  TestClient& client = NewClient({.sasl = Sasl::kAnonymous});
  client.Open();
  for (int i = 0; i < 3; ++i) {
    size_t before = client.output().written.size();
    auto response = client.PutToken(DeviceToken(d), DeviceAudience("dev1"));
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->status_code, 200);
    std::string_view written(client.output().written);
    std::vector<uint8_t> codes = PerformativeCodes(written.substr(before));
    auto disposition = std::find(codes.begin(), codes.end(), kDisposition);
    auto transfer = std::find(codes.begin(), codes.end(), kTransfer);
    ASSERT_NE(disposition, codes.end()) << "put-token " << i;
    ASSERT_NE(transfer, codes.end()) << "put-token " << i;
    EXPECT_LT(disposition - codes.begin(), transfer - codes.begin())
        << "put-token " << i << ": its answer went out before its settlement";
  }
}

// The int message annotation `key` of an encoded message, or nullopt.
std::optional<int32_t> IntAnnotation(const std::string& bytes, std::string_view key) {
  testing_util::MessagePtr m = testing_util::MakeMessage();
  if (pn_message_decode(m.get(), bytes.data(), bytes.size()) != 0) return std::nullopt;
  pn_data_t* a = pn_message_annotations(m.get());
  pn_data_rewind(a);
  if (!pn_data_next(a) || pn_data_type(a) != PN_MAP) return std::nullopt;
  pn_data_enter(a);
  while (pn_data_next(a)) {
    pn_bytes_t k = pn_data_get_symbol(a);
    if (!pn_data_next(a)) break;
    if (std::string_view(k.start, k.size) == key && pn_data_type(a) == PN_INT) {
      return pn_data_get_int(a);
    }
  }
  return std::nullopt;
}

// The C SDK attaches the twin links at start, and reconnects forever when they are refused; its
// (and the Node SDK's) twin requests wait forever unanswered. Twins are not served yet: the links
// attach, and every request is answered with an error status.
TEST_F(ConnectionTest, TwinAndMethodLinksAttachAndTwinRequestsGetAnErrorStatus) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* twin_out = client.AttachSender("/devices/dev1/twin");
  pn_link_t* twin_in = client.AttachReceiver("/devices/dev1/twin", 10);
  pn_link_t* methods_in = client.AttachReceiver("/devices/dev1/methods/devicebound", 10);
  pn_link_t* methods_out = client.AttachSender("/devices/dev1/methods/devicebound");
  for (pn_link_t* link : {twin_out, twin_in, methods_in, methods_out}) {
    EXPECT_TRUE(TestClient::Attached(link)) << pn_link_name(link);
    EXPECT_FALSE(TestClient::Detached(link)) << pn_link_name(link);
  }
  // A GET as the SDKs send it: a string correlation-id and annotation operation=GET.
  testing_util::MessagePtr get = testing_util::MakeMessage();
  pn_atom_t cid;
  cid.type = PN_STRING;
  cid.u.as_bytes = pn_bytes(10, "twin-req-1");
  pn_message_set_correlation_id(get.get(), cid);
  pn_data_t* a = pn_message_annotations(get.get());
  pn_data_put_map(a);
  pn_data_enter(a);
  pn_data_put_symbol(a, pn_bytes(9, "operation"));
  pn_data_put_string(a, pn_bytes(3, "GET"));
  pn_data_exit(a);
  pn_message_set_inferred(get.get(), true);
  pn_data_put_binary(pn_message_body(get.get()), pn_bytes(1, " "));
  EXPECT_EQ(TestClient::OutcomeOf(client.Send(twin_out, testing_util::Encode(get.get()))).state,
            PN_ACCEPTED);
  std::vector<Received> answers = client.TakeReceived(twin_in);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].correlation_id, "twin-req-1");
  EXPECT_EQ(IntAnnotation(answers[0].bytes, "status"), 501);
  EXPECT_TRUE(client.TakeReceived(methods_in).empty());
  EXPECT_FALSE(client.closed());
  // Another device's twin is not this token's.
  pn_link_t* foreign = client.AttachSender("/devices/dev2/twin");
  EXPECT_EQ(TestClient::LinkCondition(foreign), "amqp:unauthorized-access");
}

TEST_F(ConnectionTest, BadPutTokensAre401AndLeaveLinksRefused) {
  core::Device d = CreateDevice("dev1");
  std::string forged = DeviceToken(d);
  forged[forged.find("sig=") + 4] ^= 1;
  std::string expired = DeviceToken(d, -std::chrono::seconds(1));
  std::string other_key =
      core::auth::CreateSasToken(DeviceAudience("dev1"), "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
                                 clock_.Now() + std::chrono::hours(1));
  for (const std::string& token : {forged, expired, other_key, std::string("garbage"),
                                   std::string("SharedAccessSignature sr=&sig=&se=x")}) {
    SCOPED_TRACE(token);
    TestClient& client = NewClient();
    client.Open();
    auto response = client.PutToken(token, DeviceAudience("dev1"));
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status_code, 401);
    EXPECT_FALSE(response->description.empty());
    pn_link_t* events = client.AttachSender(EventsOf("dev1"));
    EXPECT_TRUE(TestClient::Detached(events));
    EXPECT_EQ(TestClient::LinkCondition(events), "amqp:unauthorized-access");
    EXPECT_FALSE(client.RemoteClosed());  // a bad token is answered, never closed on
  }
}

TEST_F(ConnectionTest, AnOperationOtherThanPutTokenIs400) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = NewClient();
  client.Open();
  auto response = client.PutToken(DeviceToken(d), DeviceAudience("dev1"), "delete-token");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status_code, 400);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  EXPECT_EQ(TestClient::LinkCondition(events), "amqp:unauthorized-access");
}

TEST_F(ConnectionTest, CbsResponseCorrelatesWithTheRequestsStringMessageId) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = NewClient();
  client.Open();
  // PutToken only returns the response whose correlation-id is the request's message-id.
  auto first = client.PutToken(DeviceToken(d), DeviceAudience("dev1"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->correlation_id, "cbs-1");
  EXPECT_EQ(first->correlation_id_type, PN_STRING);
  auto second = client.PutToken("bad", DeviceAudience("dev1"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->correlation_id, "cbs-2");
  EXPECT_EQ(second->status_code, 401);
  // The CBS request itself is settled accepted.
  EXPECT_FALSE(TestClient::Detached(client.cbs_sender()));
}

TEST_F(ConnectionTest, ADeviceTokenCannotAttachAnotherDevicesLinks) {
  core::Device a = CreateDevice("devA");
  CreateDevice("devB");
  TestClient& client = DeviceClient(a);
  pn_link_t* events = client.AttachSender(EventsOf("devB"));
  EXPECT_EQ(TestClient::LinkCondition(events), "amqp:unauthorized-access");
  pn_link_t* c2d = client.AttachReceiver(C2dTo("devB"), 10);
  EXPECT_EQ(TestClient::LinkCondition(c2d), "amqp:unauthorized-access");
  // Its own links still attach: the refusals disturbed nothing.
  pn_link_t* own = client.AttachSender(EventsOf("devA"));
  EXPECT_FALSE(TestClient::Detached(own));
  EXPECT_EQ(TestClient::OutcomeOf(client.Send(own, MessageBytes("x"))).state, PN_ACCEPTED);
}

TEST_F(ConnectionTest, ADeviceTokenCannotAttachServiceLinks) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* send = client.AttachSender("/messages/devicebound");
  EXPECT_EQ(TestClient::LinkCondition(send), "amqp:unauthorized-access");
  pn_link_t* feedback = client.AttachReceiver("/messages/serviceBound/feedback", 10);
  EXPECT_EQ(TestClient::LinkCondition(feedback), "amqp:unauthorized-access");
}

TEST_F(ConnectionTest, AServiceTokenAttachesServiceLinksCaseInsensitively) {
  TestClient& client = ServiceClient("service");
  for (const char* address : {"/messages/devicebound", "/MESSAGES/DeviceBound"}) {
    pn_link_t* send = client.AttachSender(address);
    EXPECT_TRUE(TestClient::Attached(send)) << address;
    EXPECT_FALSE(TestClient::Detached(send)) << address;
  }
  for (const char* address :
       {"/messages/serviceBound/feedback", "/messages/servicebound/FEEDBACK"}) {
    pn_link_t* feedback = client.AttachReceiver(address, 10);
    EXPECT_TRUE(TestClient::Attached(feedback)) << address;
    EXPECT_FALSE(TestClient::Detached(feedback)) << address;
  }
}

TEST_F(ConnectionTest, ARegistryReadPolicyCannotAttachServiceLinks) {
  TestClient& client = ServiceClient("registryRead");
  pn_link_t* send = client.AttachSender("/messages/devicebound");
  EXPECT_EQ(TestClient::LinkCondition(send), "amqp:unauthorized-access");
  pn_link_t* feedback = client.AttachReceiver("/messages/serviceBound/feedback", 10);
  EXPECT_EQ(TestClient::LinkCondition(feedback), "amqp:unauthorized-access");
}

TEST_F(ConnectionTest, UnknownAddressesAreNotFound) {
  TestClient& client = ServiceClient("iothubowner");
  pn_link_t* a = client.AttachSender("/nowhere");
  EXPECT_EQ(TestClient::LinkCondition(a), "amqp:not-found");
  // The right address in the wrong direction is unknown too.
  pn_link_t* b = client.AttachReceiver("/messages/devicebound", 1);
  EXPECT_EQ(TestClient::LinkCondition(b), "amqp:not-found");
  pn_link_t* c = client.AttachSender("/messages/serviceBound/feedback");
  EXPECT_EQ(TestClient::LinkCondition(c), "amqp:not-found");
  EXPECT_FALSE(client.RemoteClosed());
}

TEST_F(ConnectionTest, DeviceIdsInAddressesAreCaseSensitive) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* events = client.AttachSender(EventsOf("DEV1"));
  EXPECT_EQ(TestClient::LinkCondition(events), "amqp:unauthorized-access");
  pn_link_t* mixed = client.AttachSender("/DEVICES/dev1/Messages/Events");
  EXPECT_FALSE(TestClient::Detached(mixed));
}

TEST_F(ConnectionTest, APolicyWithDeviceConnectAttachesExistingDevicesOnly) {
  CreateDevice("dev1");
  TestClient& client = ServiceClient("device");
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  EXPECT_FALSE(TestClient::Detached(events));
  EXPECT_EQ(TestClient::OutcomeOf(client.Send(events, MessageBytes("x"))).state, PN_ACCEPTED);
  pn_link_t* ghost = client.AttachSender(EventsOf("ghost"));
  EXPECT_EQ(TestClient::LinkCondition(ghost), "amqp:unauthorized-access");
  EXPECT_TRUE(Stored("ghost").empty() || Stored("ghost")[0].connection_device_id != "ghost");
}

TEST_F(ConnectionTest, MalformedTelemetryIsRejectedAndTheLinkGoesOn) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);
  pn_link_t* events = client.AttachSender(EventsOf("dev1"));
  Outcome bad = TestClient::OutcomeOf(client.Send(events, std::string("\x00\x53\x75\xa0", 4)));
  EXPECT_EQ(bad.state, PN_REJECTED);
  EXPECT_EQ(bad.condition, "amqp:invalid-field");
  EXPECT_EQ(TestClient::OutcomeOf(client.Send(events, MessageBytes("x"))).state, PN_ACCEPTED);
  EXPECT_EQ(Stored("dev1").size(), 1u);
}

TEST_F(ConnectionTest, LinksBeyondTheLimitAreRefused) {
  core::Device d = CreateDevice("dev1");
  TestClient& client = DeviceClient(d);  // 2 links: $cbs both ways
  std::vector<pn_link_t*> links;
  for (uint32_t i = 2; i < AmqpOptions{}.max_links; ++i) {
    links.push_back(client.AttachSender(EventsOf("dev1")));
  }
  for (pn_link_t* l : links) EXPECT_FALSE(TestClient::Detached(l));
  pn_link_t* one_too_many = client.AttachSender(EventsOf("dev1"));
  EXPECT_EQ(TestClient::LinkCondition(one_too_many), "amqp:resource-limit-exceeded");
  // Closing one makes room.
  client.CloseLink(links.back());
  pn_link_t* room = client.AttachSender(EventsOf("dev1"));
  EXPECT_FALSE(TestClient::Detached(room));
}

}  // namespace
}  // namespace iothub::amqp
