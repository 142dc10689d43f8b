// Device presence through the Hub: one live link per device across protocols, revocation on
// delete, disable and credential changes, and the registry's connection state.
#include "core/hub/presence.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/auth/sas_token.h"
#include "core/hub/hub_test_fixture.h"

namespace iothub::core {
namespace {

using std::chrono::minutes;

// A link that records how the core ended it and what it delivered.
class RecordingLink : public DeviceLink {
 public:
  void End(LinkEnd why, const std::string& reason) override {
    ends.push_back(why);
    reasons.push_back(reason);
  }
  void Deliver(std::vector<Message> messages) override {
    for (Message& m : messages) delivered.push_back(std::move(m));
  }
  std::vector<LinkEnd> ends;
  std::vector<std::string> reasons;
  std::vector<Message> delivered;
};

class PresenceTest : public HubFixture {
 protected:
  auth::Principal PrincipalOf(const Device& d, const std::string& key = "") {
    std::string token =
        auth::CreateSasToken("hub.example/devices/" + d.id, key.empty() ? d.primary_key : key,
                             clock_.Now() + minutes(10));
    auto principal = hub_->authenticator().Authenticate(token);
    EXPECT_TRUE(principal.has_value()) << principal.error().ToString();
    return principal.value_or(auth::Principal{});
  }

  Status Connect(const Device& d, const auth::Principal& p, std::shared_ptr<DeviceLink> link) {
    std::optional<Status> result;
    hub_->ConnectDevice(d.id, p, std::move(link), SessionMode::kNone, reply_,
                        [&](Result<SessionView> s) { result = s ? Status::Ok() : s.error(); });
    RunAll();
    EXPECT_TRUE(result.has_value());
    return result.value_or(Internal("no reply"));
  }

  void SendN(const std::string& id, int n) {
    for (int i = 0; i < n; ++i) {
      Message m;
      m.body = "m" + std::to_string(i);
      ASSERT_TRUE(Send(id, std::move(m)).has_value());
    }
  }

  Status Complete(const std::string& id, const std::string& lock) {
    std::optional<Status> result;
    hub_->CompleteC2d(id, lock, reply_, [&](Status s) { result = s; });
    RunAll();
    return result.value_or(Internal("no reply"));
  }

  Result<SessionView> Attach(const Device& d, std::shared_ptr<DeviceLink> link, SessionMode mode) {
    std::optional<Result<SessionView>> result;
    hub_->ConnectDevice(d.id, PrincipalOf(d), std::move(link), mode, reply_,
                        [&](Result<SessionView> s) { result = std::move(s); });
    RunAll();
    EXPECT_TRUE(result.has_value());
    return result.value_or(Result<SessionView>(Internal("no reply")));
  }

  Status Save(const std::string& id, std::shared_ptr<DeviceLink> link, std::string state) {
    std::optional<Status> result;
    hub_->SaveSession(id, std::move(link), std::move(state), reply_, [&](Status s) { result = s; });
    RunAll();
    return result.value_or(Internal("no reply"));
  }

  ConnectionState StateOf(const std::string& id) {
    return hub_->registry().Get(id)->connection_state;
  }
};

TEST_F(PresenceTest, AttachMarksTheDeviceConnectedAndDetachDisconnected) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  EXPECT_EQ(StateOf("d1"), ConnectionState::kConnected);
  hub_->DisconnectDevice("d1", link);
  RunAll();
  EXPECT_EQ(StateOf("d1"), ConnectionState::kDisconnected);
  EXPECT_TRUE(link->ends.empty());
}

// One live link per device whatever the protocol: the newer replaces the older, and the older's
// late detach neither disconnects the device nor ends the newer.
TEST_F(PresenceTest, ANewerLinkReplacesTheOlderAndItsLateDetachChangesNothing) {
  Device d = CreateDevice("d1");
  auto mqtt = std::make_shared<RecordingLink>();
  auto amqp = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), mqtt).ok());
  ASSERT_TRUE(Connect(d, PrincipalOf(d), amqp).ok());
  EXPECT_EQ(mqtt->ends, std::vector<LinkEnd>{LinkEnd::kReplaced});
  EXPECT_TRUE(amqp->ends.empty());
  hub_->DisconnectDevice("d1", mqtt);
  RunAll();
  EXPECT_EQ(StateOf("d1"), ConnectionState::kConnected);
  EXPECT_TRUE(hub_->presence(hub_->ShardOf("d1")).IsCurrent("d1", amqp.get()));
  hub_->DisconnectDevice("d1", amqp);
  RunAll();
  EXPECT_EQ(StateOf("d1"), ConnectionState::kDisconnected);
}

TEST_F(PresenceTest, AttachingTheSameLinkTwiceIsHarmless) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  EXPECT_TRUE(link->ends.empty());
}

TEST_F(PresenceTest, DeletingTheDeviceEndsItsLink) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  ASSERT_TRUE(hub_->registry().Delete("d1", "").ok());
  RunAll();
  EXPECT_EQ(link->ends, std::vector<LinkEnd>{LinkEnd::kRevoked});
  EXPECT_EQ(link->reasons, std::vector<std::string>{"the device was deleted"});
}

TEST_F(PresenceTest, DisablingTheDeviceEndsItsLinkAndItsPrincipalCannotAttachAgain) {
  Device d = CreateDevice("d1");
  auth::Principal p = PrincipalOf(d);
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, p, link).ok());
  Device disabled = d;
  disabled.status = DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Replace(disabled, "").has_value());
  RunAll();
  EXPECT_EQ(link->ends, std::vector<LinkEnd>{LinkEnd::kRevoked});
  EXPECT_EQ(StateOf("d1"), ConnectionState::kDisconnected);
  Status again = Connect(d, p, std::make_shared<RecordingLink>());
  EXPECT_EQ(again.reason(), "DeviceDisabled");
  EXPECT_EQ(StateOf("d1"), ConnectionState::kDisconnected);
}

TEST_F(PresenceTest, NewKeysEndTheLinkAndRefuseAPrincipalOfTheOldKeys) {
  Device d = CreateDevice("d1");
  auth::Principal old_key = PrincipalOf(d);
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, old_key, link).ok());
  Device rekeyed = d;
  rekeyed.primary_key = "c2VjcmV0LWtleS1udW1iZXItdHdvLTMyLWJ5dGVzLWxvbmch";
  auto replaced = hub_->registry().Replace(rekeyed, "");
  ASSERT_TRUE(replaced.has_value()) << replaced.error().ToString();
  RunAll();
  EXPECT_EQ(link->ends, std::vector<LinkEnd>{LinkEnd::kRevoked});
  EXPECT_EQ(link->reasons, std::vector<std::string>{"the device's credentials changed"});
  // Authenticated before the change (on a front-end's thread), attached after: refused.
  EXPECT_FALSE(Connect(d, old_key, std::make_shared<RecordingLink>()).ok());
  // The unchanged secondary key signs new tokens as before; the new primary too.
  EXPECT_TRUE(
      Connect(d, PrincipalOf(*replaced, replaced->secondary_key), std::make_shared<RecordingLink>())
          .ok());
  EXPECT_TRUE(Connect(d, PrincipalOf(*replaced), std::make_shared<RecordingLink>()).ok());
}

// A device that connects with its new key between the registry change and the revocation's
// arrival on its shard is not cut off by the change that made the key.
TEST_F(PresenceTest, ALinkAttachedWithTheNewKeyBeforeTheRevocationArrivesIsKept) {
  Device d = CreateDevice("d1");
  auto old_link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), old_link).ok());
  Device rekeyed = d;
  rekeyed.primary_key = "c2VjcmV0LWtleS1udW1iZXItdHdvLTMyLWJ5dGVzLWxvbmch";
  auto replaced = hub_->registry().Replace(rekeyed, "");
  ASSERT_TRUE(replaced.has_value());
  // The revocation is posted to the shard and has not run: an attach gets there first.
  auto new_link = std::make_shared<RecordingLink>();
  Presence& presence = hub_->presence(hub_->ShardOf("d1"));
  ASSERT_TRUE(presence.Attach("d1", PrincipalOf(*replaced), new_link).has_value());
  EXPECT_EQ(old_link->ends, std::vector<LinkEnd>{LinkEnd::kReplaced});
  RunAll();
  EXPECT_TRUE(new_link->ends.empty());
  EXPECT_TRUE(presence.IsCurrent("d1", new_link.get()));
  EXPECT_EQ(StateOf("d1"), ConnectionState::kConnected);
}

// A device deleted and created again is a new identity: a principal of the old one never attaches.
TEST_F(PresenceTest, APrincipalOfADeletedDeviceNeverAttachesToItsSuccessor) {
  Device d = CreateDevice("d1");
  auth::Principal old_identity = PrincipalOf(d);
  ASSERT_TRUE(hub_->registry().Delete("d1", "").ok());
  Device created = d;
  created.generation_id.clear();
  created.etag.clear();
  ASSERT_TRUE(hub_->registry().Create(created).has_value());  // the same keys
  RunAll();
  EXPECT_FALSE(Connect(d, old_identity, std::make_shared<RecordingLink>()).ok());
}

TEST_F(PresenceTest, ChangesThatLeaveCredentialsAloneKeepTheLink) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  Device changed = d;
  changed.status_reason = "maintenance window";
  changed.capabilities.iot_edge = true;
  ASSERT_TRUE(hub_->registry().Replace(changed, "").has_value());
  RunAll();
  EXPECT_TRUE(link->ends.empty());
  EXPECT_EQ(StateOf("d1"), ConnectionState::kConnected);
}

// C2D delivery: the current link gets what its credit allows, oldest first, as messages become
// visible; each message it completes is gone from the queue.
TEST_F(PresenceTest, TheCurrentLinkGetsWhatItsCreditAllowsAsMessagesArrive) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  SendN("d1", 3);
  EXPECT_TRUE(link->delivered.empty());  // no credit yet
  hub_->GrantC2d("d1", link, 2);
  RunAll();
  ASSERT_EQ(link->delivered.size(), 2u);
  EXPECT_EQ(link->delivered[0].body, "m0");
  EXPECT_EQ(link->delivered[1].body, "m1");
  EXPECT_FALSE(link->delivered[0].lock_token.empty());
  EXPECT_EQ(hub_->presence(hub_->ShardOf("d1")).credit("d1"), 0u);
  // Credit granted while nothing is visible is used by the next message sent.
  hub_->GrantC2d("d1", link, 5);
  RunAll();
  ASSERT_EQ(link->delivered.size(), 3u);
  SendN("d1", 1);
  ASSERT_EQ(link->delivered.size(), 4u);
  EXPECT_EQ(hub_->presence(hub_->ShardOf("d1")).credit("d1"), 3u);
  EXPECT_TRUE(Complete("d1", link->delivered[0].lock_token).ok());
  EXPECT_EQ(hub_->registry().Get("d1")->cloud_to_device_message_count, 3u);
}

// A replaced link gets nothing more, and its late grant does not feed the newer link's credit; the
// newer link is served from its own grants only.
TEST_F(PresenceTest, OnlyTheCurrentLinkIsServedAndOnlyWithItsOwnCredit) {
  Device d = CreateDevice("d1");
  auto older = std::make_shared<RecordingLink>();
  auto newer = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), older).ok());
  hub_->GrantC2d("d1", older, 10);
  RunAll();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), newer).ok());
  hub_->GrantC2d("d1", older, 10);  // late: its connection has not seen its end yet
  SendN("d1", 2);
  EXPECT_TRUE(older->delivered.empty());
  EXPECT_TRUE(newer->delivered.empty());
  hub_->GrantC2d("d1", newer, 1);
  RunAll();
  ASSERT_EQ(newer->delivered.size(), 1u);
  EXPECT_EQ(newer->delivered[0].body, "m0");
  EXPECT_TRUE(older->delivered.empty());
}

// A link that stops taking messages (its C2D receiver went, it unsubscribed) keeps its presence
// but gets nothing until it grants again; a revoked link gets nothing at all.
TEST_F(PresenceTest, StopC2dDropsUnusedCreditAndARevokedLinkGetsNothing) {
  Device d = CreateDevice("d1");
  auto link = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Connect(d, PrincipalOf(d), link).ok());
  hub_->GrantC2d("d1", link, 10);
  bool stopped = false;
  hub_->StopC2d("d1", link, reply_, [&] { stopped = true; });
  RunAll();
  EXPECT_TRUE(stopped);
  SendN("d1", 1);
  EXPECT_TRUE(link->delivered.empty());
  hub_->GrantC2d("d1", link, 1);
  RunAll();
  EXPECT_EQ(link->delivered.size(), 1u);
  hub_->GrantC2d("d1", link, 10);
  Device disabled = d;
  disabled.status = DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Replace(disabled, "").has_value());
  RunAll();
  SendN("d1", 1);  // accepted and queued while disabled, as IoT Hub does
  EXPECT_EQ(link->delivered.size(), 1u);
  EXPECT_EQ(link->ends, std::vector<LinkEnd>{LinkEnd::kRevoked});
}

// A persistent session (MQTT clean session 0): its state and its unsettled deliveries (the
// device's locked messages) come back on the next attach, and after a restart of the hub.
TEST_F(PresenceTest, APersistentSessionComesBackWithItsStateAndItsUnsettledDeliveries) {
  Device d = CreateDevice("d1");
  auto first = std::make_shared<RecordingLink>();
  auto attached = Attach(d, first, SessionMode::kPersistent);
  ASSERT_TRUE(attached.has_value());
  EXPECT_FALSE(attached->present);
  ASSERT_TRUE(Save("d1", first, "subscriptions").ok());
  SendN("d1", 2);
  hub_->GrantC2d("d1", first, 1);
  RunAll();
  ASSERT_EQ(first->delivered.size(), 1u);
  hub_->DisconnectDevice("d1", first);
  RunAll();

  Restart();
  auto second = std::make_shared<RecordingLink>();
  attached = Attach(d, second, SessionMode::kPersistent);
  ASSERT_TRUE(attached.has_value());
  EXPECT_TRUE(attached->present);
  EXPECT_EQ(attached->state, "subscriptions");
  ASSERT_EQ(attached->in_flight.size(), 1u);  // sent, not settled, still locked
  EXPECT_EQ(attached->in_flight[0].body, "m0");
  EXPECT_EQ(attached->in_flight[0].lock_token, first->delivered[0].lock_token);
  EXPECT_TRUE(Complete("d1", attached->in_flight[0].lock_token).ok());
}

// A session is the device's, whatever protocol it connects with meanwhile: a connection of another
// protocol (no session) neither takes it nor lets it expire early.
TEST_F(PresenceTest, AConnectionWithoutASessionLeavesThePersistentOneAlone) {
  Device d = CreateDevice("d1");
  auto mqtt = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Attach(d, mqtt, SessionMode::kPersistent).has_value());
  ASSERT_TRUE(Save("d1", mqtt, "subscriptions").ok());
  auto amqp = std::make_shared<RecordingLink>();
  auto attached = Attach(d, amqp, SessionMode::kNone);
  ASSERT_TRUE(attached.has_value());
  EXPECT_FALSE(attached->present);
  hub_->DisconnectDevice("d1", amqp);
  RunAll();
  clock_.Advance(std::chrono::hours(1));
  hub_->ProcessTimers(hub_->ShardOf("d1"));  // session expiry: 7 days away
  RunAll();
  attached = Attach(d, std::make_shared<RecordingLink>(), SessionMode::kPersistent);
  ASSERT_TRUE(attached.has_value());
  EXPECT_TRUE(attached->present);
  EXPECT_EQ(attached->state, "subscriptions");
}

// A clean session discards the stored one and sends its unsettled deliveries back to the queue;
// a persistent session after it starts empty.
TEST_F(PresenceTest, ACleanSessionDiscardsTheStoredOneAndReturnsItsDeliveries) {
  Device d = CreateDevice("d1");
  auto first = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Attach(d, first, SessionMode::kPersistent).has_value());
  ASSERT_TRUE(Save("d1", first, "subscriptions").ok());
  SendN("d1", 1);
  hub_->GrantC2d("d1", first, 1);
  RunAll();
  ASSERT_EQ(first->delivered.size(), 1u);
  auto clean = std::make_shared<RecordingLink>();
  auto attached = Attach(d, clean, SessionMode::kClean);
  ASSERT_TRUE(attached.has_value());
  EXPECT_FALSE(attached->present);
  EXPECT_TRUE(attached->in_flight.empty());
  EXPECT_TRUE(QueuesOf("d1").Locked("d1").empty());  // abandoned: visible again
  EXPECT_TRUE(Save("d1", clean, "not kept").ok());   // nothing outlives a clean session
  hub_->DisconnectDevice("d1", clean);
  RunAll();
  Restart();
  attached = Attach(d, std::make_shared<RecordingLink>(), SessionMode::kPersistent);
  ASSERT_TRUE(attached.has_value());
  EXPECT_FALSE(attached->present);
  EXPECT_EQ(attached->state, "");
}

// Only the current link saves the session; a deleted device's session is gone, also from the
// store, and its successor under the same id starts without one.
TEST_F(PresenceTest, OnlyTheCurrentLinkSavesAndADeletedDevicesSessionIsGone) {
  Device d = CreateDevice("d1");
  auto older = std::make_shared<RecordingLink>();
  auto newer = std::make_shared<RecordingLink>();
  ASSERT_TRUE(Attach(d, older, SessionMode::kPersistent).has_value());
  ASSERT_TRUE(Attach(d, newer, SessionMode::kPersistent).has_value());
  EXPECT_FALSE(Save("d1", older, "stale").ok());
  ASSERT_TRUE(Save("d1", newer, "current").ok());
  EXPECT_EQ(hub_->presence(hub_->ShardOf("d1")).session_count(), 1u);
  ASSERT_TRUE(hub_->registry().Delete("d1", "").ok());
  RunAll();
  EXPECT_EQ(hub_->presence(hub_->ShardOf("d1")).session_count(), 0u);
  Device created = d;
  created.generation_id.clear();
  created.etag.clear();
  auto again = hub_->registry().Create(created);
  ASSERT_TRUE(again.has_value());
  Restart();
  auto attached = Attach(*again, std::make_shared<RecordingLink>(), SessionMode::kPersistent);
  ASSERT_TRUE(attached.has_value());
  EXPECT_FALSE(attached->present);
}

}  // namespace
}  // namespace iothub::core
