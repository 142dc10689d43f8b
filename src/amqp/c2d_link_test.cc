// C2D over AMQP through amqp::Connection and a real hub: the service's sends to
// /messages/devicebound, the device's receiver on /devices/<id>/messages/devicebound (credit,
// dispositions, lock expiry, detach), and the service's feedback receiver.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "amqp/amqp_test_fixture.h"

namespace iothub::amqp {
namespace {

class C2dLinkTest : public AmqpTest {
 protected:
  core::Message C2d(const std::string& id, core::AckMode ack = core::AckMode::kNone) {
    core::Message m;
    m.message_id = id;
    m.body = "body of " + id;
    m.ack = ack;
    m.properties = {{"Property", "PropMsg_0"}};
    return m;
  }
  // Sends one message on a service client's C2D sender and returns its outcome.
  Outcome ServiceSend(TestClient& service, pn_link_t* link, const std::string& bytes) {
    return TestClient::OutcomeOf(service.Send(link, bytes));
  }
  static std::vector<std::string> IdsOf(const std::vector<Received>& received) {
    std::vector<std::string> ids;
    for (const Received& r : received) ids.push_back(r.message.message_id);
    return ids;
  }
};

using IdList = std::vector<std::string>;

TEST_F(C2dLinkTest, ServiceSendIsAcceptedEnqueuedAndReachesTheDevice) {
  core::Device d = CreateDevice("dev1");
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  Outcome outcome = ServiceSend(service, send,
                                MessageBytes("hello", "m1", C2dTo("dev1"),
                                             {{"Property", "PropMsg_0"}, {"iothub-ack", "full"}}));
  EXPECT_EQ(outcome.state, PN_ACCEPTED);
  EXPECT_TRUE(outcome.settled);
  EXPECT_EQ(C2dDepth("dev1"), 1u);

  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].message.body, "hello");
  EXPECT_EQ(received[0].message.message_id, "m1");
  EXPECT_EQ(received[0].message.ack, core::AckMode::kFull);
  ASSERT_NE(received[0].message.FindProperty("Property"), nullptr);
  EXPECT_EQ(*received[0].message.FindProperty("Property"), "PropMsg_0");
  EXPECT_FALSE(pn_delivery_settled(received[0].delivery));  // sent unsettled
}

TEST_F(C2dLinkTest, ServiceSendToAnUrlEncodedDeviceId) {
  CreateDevice("dev@1$");
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  Outcome outcome = ServiceSend(
      service, send, MessageBytes("x", "m1", "/devices/dev%401%24/messages/devicebound"));
  EXPECT_EQ(outcome.state, PN_ACCEPTED);
  EXPECT_EQ(C2dDepth("dev@1$"), 1u);
}

TEST_F(C2dLinkTest, ServiceSendToAnUnknownDeviceIsRejectedNotFound) {
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  Outcome outcome = ServiceSend(service, send, MessageBytes("x", "m1", C2dTo("ghost")));
  EXPECT_EQ(outcome.state, PN_REJECTED);
  EXPECT_TRUE(outcome.settled);
  EXPECT_EQ(outcome.condition, "amqp:not-found");
  // The link stays usable.
  EXPECT_FALSE(TestClient::Detached(send));
}

TEST_F(C2dLinkTest, ServiceSendToAFullQueueIsRejectedResourceLimitExceeded) {
  CreateDevice("dev1");
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  for (int i = 0; i < 3; ++i) {  // the fixture's max_queue_depth
    EXPECT_EQ(ServiceSend(service, send, MessageBytes("x", "m", C2dTo("dev1"))).state, PN_ACCEPTED);
  }
  Outcome outcome = ServiceSend(service, send, MessageBytes("x", "m4", C2dTo("dev1")));
  EXPECT_EQ(outcome.state, PN_REJECTED);
  EXPECT_EQ(outcome.condition, "amqp:resource-limit-exceeded");
  EXPECT_EQ(C2dDepth("dev1"), 3u);
}

TEST_F(C2dLinkTest, ServiceSendTooLargeIsRejectedMessageSizeExceeded) {
  CreateDevice("dev1");
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  Outcome outcome =
      ServiceSend(service, send, MessageBytes(std::string(5 * 1024, 'x'), "m1", C2dTo("dev1")));
  EXPECT_EQ(outcome.state, PN_REJECTED);
  EXPECT_EQ(outcome.condition, "amqp:link:message-size-exceeded");
  EXPECT_EQ(C2dDepth("dev1"), 0u);
  EXPECT_FALSE(TestClient::Detached(send));  // a C2D limit, not the link's
}

TEST_F(C2dLinkTest, ServiceSendWithABadToIsRejectedInvalidField) {
  CreateDevice("dev1");
  TestClient& service = ServiceClient();
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  for (const char* to : {"", "/devices/dev1/messages/events", "/devices//messages/devicebound",
                         "/devices/%zz/messages/devicebound"}) {
    SCOPED_TRACE(to);
    Outcome outcome = ServiceSend(service, send, MessageBytes("x", "m1", to));
    EXPECT_EQ(outcome.state, PN_REJECTED);
    EXPECT_EQ(outcome.condition, "amqp:invalid-field");
  }
  // An undecodable message too.
  Outcome outcome = ServiceSend(service, send, std::string("\x00\x53\x77\xa1", 4));
  EXPECT_EQ(outcome.state, PN_REJECTED);
  EXPECT_EQ(outcome.condition, "amqp:invalid-field");
  EXPECT_EQ(C2dDepth("dev1"), 0u);
}

TEST_F(C2dLinkTest, NothingIsSentBeforeCredit) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1"));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 0);
  EXPECT_TRUE(device.TakeReceived(c2d).empty());
  device.Flow(c2d, 1);
  EXPECT_EQ(IdsOf(device.TakeReceived(c2d)), IdList{"m1"});
}

TEST_F(C2dLinkTest, CreditNDeliversAtMostN) {
  core::Device d = CreateDevice("dev1");
  for (const char* id : {"m1", "m2", "m3"}) EnqueueC2d("dev1", C2d(id));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 2);
  auto received = device.TakeReceived(c2d);
  EXPECT_EQ(IdsOf(received), (IdList{"m1", "m2"}));
  // The hub locked no more than the credit: m3 is still visible.
  std::optional<core::Message> m3;
  size_t shard = hub_->ShardOf("dev1");
  (shard == 0 ? shard0_ : shard1_).Post([&] {
    m3 = hub_->c2d(shard).ReceiveAndLock("dev1", std::chrono::seconds(1));
  });
  RunAll();
  ASSERT_TRUE(m3.has_value());
  EXPECT_EQ(m3->message_id, "m3");
  for (Received& r : received) device.Settle(r.delivery, PN_ACCEPTED);
  EXPECT_TRUE(device.TakeReceived(c2d).empty());  // settling gives no credit back
  EXPECT_EQ(C2dDepth("dev1"), 1u);
  clock_.Advance(std::chrono::seconds(2));  // m3's lock above runs out
  ProcessTimers();
  device.Flow(c2d, 5);
  EXPECT_EQ(IdsOf(device.TakeReceived(c2d)), IdList{"m3"});
}

TEST_F(C2dLinkTest, ANewerLinkOfTheDeviceTakesOver) {
  core::Device d = CreateDevice("dev1");
  for (const char* id : {"m1", "m2"}) EnqueueC2d("dev1", C2d(id));
  TestClient& first = DeviceClient(d);
  pn_link_t* old_link = first.AttachReceiver(C2dTo("dev1"), 1);
  EXPECT_EQ(IdsOf(first.TakeReceived(old_link)), IdList{"m1"});
  TestClient& second = DeviceClient(d);
  pn_link_t* new_link = second.AttachReceiver(C2dTo("dev1"), 10);
  first.Pump();
  EXPECT_EQ(TestClient::LinkCondition(old_link), "amqp:link:stolen");
  // What the older link held unsettled goes back to the queue and on to the newer link.
  auto received = second.TakeReceived(new_link);
  EXPECT_EQ(IdsOf(received).size(), 2u);
  EXPECT_EQ(C2dDepth("dev1"), 2u);
}

// A newer connection of the device replaces the older one whole (core presence): every link of
// the device on the older connection goes, its telemetry link too.
TEST_F(C2dLinkTest, ANewerConnectionOfTheDeviceDetachesEveryLinkOfTheOlder) {
  core::Device d = CreateDevice("dev1");
  TestClient& first = DeviceClient(d);
  pn_link_t* old_events = first.AttachSender("/devices/dev1/messages/events");
  pn_link_t* old_c2d = first.AttachReceiver(C2dTo("dev1"), 1);
  TestClient& second = DeviceClient(d);
  pn_link_t* events = second.AttachSender("/devices/dev1/messages/events");
  first.Pump();
  EXPECT_EQ(TestClient::LinkCondition(old_events), "amqp:link:stolen");
  EXPECT_EQ(TestClient::LinkCondition(old_c2d), "amqp:link:stolen");
  EXPECT_FALSE(TestClient::Detached(events));
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kConnected);
}

// Revocation (PROTOCOL.md, "Revocation"): deleting, disabling or re-keying a device detaches
// every link of it with amqp:unauthorized-access at once (the SDKs then raise UnauthorizedError
// instead of reconnecting), the grant it had no longer attaches links, and nothing more reaches
// the old connection: not even the messages of a device created again under the same id.
TEST_F(C2dLinkTest, RevokingTheDeviceDetachesItsLinksAndNothingMoreReachesThem) {
  for (std::string change : {"delete", "disable", "rekey"}) {
    SCOPED_TRACE(change);
    std::string id = "dev-" + change;
    core::Device d = CreateDevice(id);
    TestClient& device = DeviceClient(d);
    pn_link_t* events = device.AttachSender("/devices/" + id + "/messages/events");
    pn_link_t* c2d = device.AttachReceiver(C2dTo(id), 10);
    ASSERT_FALSE(TestClient::Detached(c2d));
    if (change == "delete") {
      ASSERT_TRUE(hub_->registry().Delete(id, "").ok());
      core::Device again;
      again.id = id;
      ASSERT_TRUE(hub_->registry().Create(again).has_value());
    } else {
      core::Device changed = d;
      if (change == "disable") changed.status = core::DeviceStatus::kDisabled;
      if (change == "rekey")
        changed.primary_key = "c2VjcmV0LWtleS1udW1iZXItdHdvLTMyLWJ5dGVzLWxvbmch";
      ASSERT_TRUE(hub_->registry().Replace(changed, "").has_value());
    }
    device.Pump();
    EXPECT_EQ(TestClient::LinkCondition(c2d), "amqp:unauthorized-access");
    EXPECT_EQ(TestClient::LinkCondition(events), "amqp:unauthorized-access");
    EXPECT_EQ(hub_->registry().Get(id)->connection_state, core::ConnectionState::kDisconnected);
    if (change != "disable") EnqueueC2d(id, C2d("after-" + change));
    pn_link_t* reattached = device.AttachReceiver(C2dTo(id), 10);
    EXPECT_EQ(TestClient::LinkCondition(reattached), "amqp:unauthorized-access");
    // A CBS renewal with a token of before is refused too.
    auto renewed = device.PutToken(DeviceToken(d), DeviceAudience(id));
    ASSERT_TRUE(renewed.has_value());
    EXPECT_EQ(renewed->status_code, 401) << renewed->description;
    EXPECT_TRUE(device.TakeReceived(c2d).empty());
    EXPECT_TRUE(device.TakeReceived(reattached).empty());
    EXPECT_FALSE(device.closed());
  }
}

TEST_F(C2dLinkTest, AcceptedCompletesWithSuccessFeedback) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1", core::AckMode::kFull));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(C2dDepth("dev1"), 1u);  // locked, not gone
  EXPECT_EQ(FeedbackDepth(), 0u);
  device.Settle(received[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(C2dDepth("dev1"), 0u);
  EXPECT_EQ(FeedbackDepth(), 1u);
  EXPECT_TRUE(device.TakeReceived(c2d).empty());
}

TEST_F(C2dLinkTest, RejectedRejectsWithoutRedelivery) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1", core::AckMode::kNegative));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  device.Settle(received[0].delivery, PN_REJECTED);
  EXPECT_EQ(C2dDepth("dev1"), 0u);
  EXPECT_EQ(FeedbackDepth(), 1u);  // negative ack: the Rejected record
  EXPECT_TRUE(device.TakeReceived(c2d).empty());
}

TEST_F(C2dLinkTest, ReleasedAndModifiedAbandonAndRedeliver) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1"));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto first = device.TakeReceived(c2d);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].delivery_count, 0u);
  device.Settle(first[0].delivery, PN_RELEASED);
  auto second = device.TakeReceived(c2d);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].message.message_id, "m1");
  EXPECT_EQ(second[0].delivery_count, 1u);
  device.Settle(second[0].delivery, PN_MODIFIED);
  auto third = device.TakeReceived(c2d);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].delivery_count, 2u);
  EXPECT_EQ(C2dDepth("dev1"), 1u);
  device.Settle(third[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(C2dDepth("dev1"), 0u);
}

TEST_F(C2dLinkTest, DispositionsSentTogetherAllApply) {
  core::Device d = CreateDevice("dev1");
  for (const char* id : {"m1", "m2", "m3"}) EnqueueC2d("dev1", C2d(id));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 3);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 3u);
  // One flush: Proton sends the three as one disposition, first=1 last=3 (checked on the wire).
  for (Received& r : received) device.Settle(r.delivery, PN_ACCEPTED, /*pump=*/false);
  device.Pump();
  EXPECT_EQ(C2dDepth("dev1"), 0u);
}

TEST_F(C2dLinkTest, AnExpiredLockIsRedeliveredAsANewTransfer) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1"));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto first = device.TakeReceived(c2d);
  ASSERT_EQ(first.size(), 1u);
  clock_.Advance(std::chrono::seconds(61));  // past the fixture's lock_timeout
  ProcessTimers();
  device.Pump();
  auto second = device.TakeReceived(c2d);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].message.message_id, "m1");
  EXPECT_NE(second[0].delivery, first[0].delivery);
  // The late answer to the first transfer changes nothing; the second completes.
  device.Settle(first[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(C2dDepth("dev1"), 1u);
  device.Settle(second[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(C2dDepth("dev1"), 0u);
}

TEST_F(C2dLinkTest, DetachingWithUnsettledDeliveriesAbandonsThem) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1"));
  EnqueueC2d("dev1", C2d("m2"));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  ASSERT_EQ(device.TakeReceived(c2d).size(), 2u);
  device.CloseLink(c2d);
  EXPECT_EQ(C2dDepth("dev1"), 2u);
  // Visible again at once (not after the lock time-out), each delivered once more.
  pn_link_t* again = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(again);
  EXPECT_EQ(IdsOf(received), (IdList{"m1", "m2"}));
  for (const Received& r : received) EXPECT_EQ(r.delivery_count, 1u);
}

TEST_F(C2dLinkTest, DroppingTheConnectionAbandonsUnsettledDeliveries) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1"));
  {
    TestClient& device = DeviceClient(d);
    pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
    ASSERT_EQ(device.TakeReceived(c2d).size(), 1u);
    device.connection().OnClosed();  // the transport ends
    RunAll();
  }
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].delivery_count, 1u);
}

TEST_F(C2dLinkTest, AMessageEnqueuedAfterTheAttachIsDelivered) {
  core::Device d = CreateDevice("dev1");
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 5);
  EXPECT_TRUE(device.TakeReceived(c2d).empty());
  EnqueueC2d("dev1", C2d("late"));
  device.Pump();
  EXPECT_EQ(IdsOf(device.TakeReceived(c2d)), IdList{"late"});
}

// Messages the core locked for a link that detached while they were on their way to the
// connection's shard go back to the queue at once, not when their lock expires.
TEST_F(C2dLinkTest, MessagesPulledForALinkThatJustDetachedGoBackAtOnce) {
  // A device on shard 1, so that the core's hand-over to the connection (shard 0) can be held
  // back while the link detaches.
  std::string id;
  for (int i = 0; id.empty() || hub_->ShardOf(id) != 1; ++i) id = "dev" + std::to_string(i);
  core::Device d = CreateDevice(id);
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo(id), 10);
  bool sent = false;
  hub_->SendC2d(id, C2d("m1"), shard1_, [&](Result<uint64_t> r) { sent = r.has_value(); });
  shard1_.RunAll();  // enqueued, pulled and locked for the link; the delivery waits on shard 0
  ASSERT_TRUE(sent);
  ASSERT_GE(shard0_.pending(), 1u);
  pn_link_close(c2d);
  device.Pump(/*run_executors=*/false);  // the hub hears the detach first
  ASSERT_TRUE(TestClient::Detached(c2d));
  RunAll();
  EXPECT_EQ(C2dDepth(id), 1u);
  pn_link_t* again = device.AttachReceiver(C2dTo(id), 10);
  EXPECT_EQ(IdsOf(device.TakeReceived(again)), IdList{"m1"});
}

// The same, when the connection (still the device's, through its telemetry link) opens a new C2D
// link at once: what was delivered for the old link is not sent on the new one (whose credit it
// was not granted against), but goes back, uncounted (the device never saw it), and is delivered
// against the new link's own credit.
TEST_F(C2dLinkTest, MessagesPulledForADetachedLinkAreNotSentOnItsSuccessor) {
  std::string id;
  for (int i = 0; id.empty() || hub_->ShardOf(id) != 1; ++i) id = "dev" + std::to_string(i);
  core::Device d = CreateDevice(id);
  TestClient& device = DeviceClient(d);
  pn_link_t* telemetry = device.AttachSender("/devices/" + id + "/messages/events");
  pn_link_t* c2d = device.AttachReceiver(C2dTo(id), 10);
  bool sent = false;
  hub_->SendC2d(id, C2d("m1"), shard1_, [&](Result<uint64_t> r) { sent = r.has_value(); });
  shard1_.RunAll();  // locked for the old link; the delivery waits on shard 0
  ASSERT_TRUE(sent);
  pn_link_close(c2d);
  device.Pump(/*run_executors=*/false);
  ASSERT_TRUE(TestClient::Detached(c2d));
  pn_link_t* again = pn_receiver(pn_link_session(c2d), "receiver-again");
  pn_terminus_set_address(pn_link_source(again), C2dTo(id).c_str());
  pn_link_set_rcv_settle_mode(again, PN_RCV_FIRST);
  pn_link_open(again);
  pn_link_flow(again, 1);
  device.Pump(/*run_executors=*/false);
  ASSERT_TRUE(TestClient::Attached(again));
  RunAll();
  device.Pump();
  auto received = device.TakeReceived(again);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].message.message_id, "m1");
  EXPECT_EQ(received[0].delivery_count, 0u);  // given back without counting
  // The new link's one credit went to m1: m2 is not locked for it (had m1 been sent on the new
  // link directly, its credit would still be unused in the core and m2 locked behind Proton's).
  hub_->SendC2d(id, C2d("m2"), shard1_, [&](Result<uint64_t> r) { sent = r.has_value(); });
  RunAll();
  device.Pump();
  EXPECT_TRUE(device.TakeReceived(again).empty());
  EXPECT_EQ(hub_->c2d(1).Locked(id).size(), 1u);
  EXPECT_TRUE(TestClient::Attached(telemetry));
}

TEST_F(C2dLinkTest, FeedbackArrivesAfterACompletedAckFullMessageAndAcceptCompletesIt) {
  core::Device d = CreateDevice("dev1");
  TestClient& service = ServiceClient();
  pn_link_t* feedback = service.AttachReceiver("/messages/serviceBound/feedback", 10);
  pn_link_t* send = service.AttachSender("/messages/devicebound");
  ASSERT_EQ(ServiceSend(service, send,
                        MessageBytes("x", "orig-1", C2dTo("dev1"), {{"iothub-ack", "full"}}))
                .state,
            PN_ACCEPTED);
  EXPECT_TRUE(service.TakeReceived(feedback).empty());

  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  device.Settle(received[0].delivery, PN_ACCEPTED);
  service.Pump();

  auto fb = service.TakeReceived(feedback);
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fb[0].message.content_type, "application/vnd.microsoft.iothub.feedback.json");
  EXPECT_FALSE(pn_delivery_settled(fb[0].delivery));
  auto json = nlohmann::json::parse(fb[0].message.body, nullptr, false);
  ASSERT_TRUE(json.is_array()) << fb[0].message.body;
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0].value("originalMessageId", ""), "orig-1");
  EXPECT_EQ(json[0].value("statusCode", ""), "Success");
  EXPECT_EQ(json[0].value("deviceId", ""), "dev1");
  EXPECT_EQ(json[0].value("deviceGenerationId", ""), d.generation_id);
  EXPECT_EQ(FeedbackDepth(), 1u);
  service.Settle(fb[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(FeedbackDepth(), 0u);
  EXPECT_TRUE(service.TakeReceived(feedback).empty());
}

TEST_F(C2dLinkTest, ReleasedFeedbackIsDeliveredAgain) {
  core::Device d = CreateDevice("dev1");
  EnqueueC2d("dev1", C2d("m1", core::AckMode::kFull));
  TestClient& device = DeviceClient(d);
  pn_link_t* c2d = device.AttachReceiver(C2dTo("dev1"), 10);
  auto received = device.TakeReceived(c2d);
  ASSERT_EQ(received.size(), 1u);
  device.Settle(received[0].delivery, PN_ACCEPTED);
  ASSERT_EQ(FeedbackDepth(), 1u);

  // The feedback message was waiting: a receiver attached later gets it.
  TestClient& service = ServiceClient();
  pn_link_t* feedback = service.AttachReceiver("/messages/serviceBound/feedback", 10);
  auto first = service.TakeReceived(feedback);
  ASSERT_EQ(first.size(), 1u);
  service.Settle(first[0].delivery, PN_RELEASED);
  auto second = service.TakeReceived(feedback);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].message.body, first[0].message.body);
  EXPECT_EQ(second[0].delivery_count, 1u);
  service.Settle(second[0].delivery, PN_MODIFIED);
  auto third = service.TakeReceived(feedback);
  ASSERT_EQ(third.size(), 1u);
  service.Settle(third[0].delivery, PN_ACCEPTED);
  EXPECT_EQ(FeedbackDepth(), 0u);
}

}  // namespace
}  // namespace iothub::amqp
