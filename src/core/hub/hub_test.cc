#include "core/hub/hub.h"

#include <gtest/gtest.h>

#include "core/auth/sas_token.h"
#include "core/c2d/stored_formats.h"
#include "core/hub/hub_test_fixture.h"

namespace iothub::core {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

using HubTest = HubFixture;

TEST_F(HubTest, OpenCreatesTheFiveDefaultPolicies) {
  auto policies = hub_->policies().List();
  EXPECT_EQ(policies.size(), 5u);
  EXPECT_TRUE(hub_->policies().Find("iothubowner").has_value());
  EXPECT_TRUE(hub_->policies().Find("registryReadWrite").has_value());
}

TEST_F(HubTest, PoliciesAndDevicesSurviveARestart) {
  std::string key = hub_->policies().Find("service")->primary_key;
  CreateDevice("d1");
  Restart();
  EXPECT_EQ(hub_->policies().Find("service")->primary_key, key);
  EXPECT_TRUE(hub_->registry().Get("d1").has_value());
}

TEST_F(HubTest, AuthenticatorUsesRegistryDeviceKeys) {
  Device d = CreateDevice("d1");
  std::string token =
      auth::CreateSasToken("hub.example/devices/d1", d.primary_key, clock_.Now() + minutes(10));
  auto principal = hub_->authenticator().Authenticate(token);
  ASSERT_TRUE(principal.has_value()) << principal.error().ToString();
  EXPECT_EQ(principal->device_id, "d1");
  EXPECT_TRUE(hub_->authenticator().AuthorizeDeviceConnect(*principal, "d1").ok());
  EXPECT_FALSE(hub_->authenticator().AuthorizeDeviceConnect(*principal, "d2").ok());
}

TEST_F(HubTest, SendToUnknownDeviceFails) {
  auto r = Send("nobody", Message{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.error().reason(), "DeviceNotFound");
}

TEST_F(HubTest, CompletionReachesTheFeedbackQueueWithTheDeviceGeneration) {
  Device d = CreateDevice("d1");
  Message m;
  m.message_id = "m1";
  m.ack = AckMode::kFull;
  ASSERT_TRUE(Send("d1", m).has_value());
  EXPECT_EQ(hub_->registry().Get("d1")->cloud_to_device_message_count, 1u);

  auto locked = QueuesOf("d1").ReceiveAndLock("d1");
  ASSERT_TRUE(locked.has_value());
  Status completed = Internal("not called");
  QueuesOf("d1").Complete("d1", locked->lock_token, [&](Status s) { completed = s; });
  RunAll();
  ASSERT_TRUE(completed.ok()) << completed.ToString();
  EXPECT_EQ(hub_->registry().Get("d1")->cloud_to_device_message_count, 0u);

  hub_->ProcessTimers(0);
  RunAll();
  auto feedback = hub_->feedback().ReceiveAndLock();
  ASSERT_TRUE(feedback.has_value());
  EXPECT_NE(feedback->body.find("\"originalMessageId\":\"m1\""), std::string::npos)
      << feedback->body;
  EXPECT_NE(feedback->body.find("\"statusCode\":\"Success\""), std::string::npos);
  EXPECT_NE(feedback->body.find(d.generation_id), std::string::npos);
}

TEST_F(HubTest, DeletingADeviceDropsItsQueue) {
  CreateDevice("d1");
  ASSERT_TRUE(Send("d1", Message{}).has_value());
  ASSERT_TRUE(hub_->registry().Delete("d1", "*").ok());
  RunAll();
  EXPECT_EQ(QueuesOf("d1").Depth("d1"), 0u);
  EXPECT_EQ(*store_.CountQueue(kC2dQueue, "d1"), 0u);
  // Re-created under the same id, the device starts with an empty queue.
  CreateDevice("d1");
  EXPECT_FALSE(QueuesOf("d1").ReceiveAndLock("d1").has_value());
}

TEST_F(HubTest, QueuedMessagesSurviveARestartOnTheirShard) {
  CreateDevice("d1");
  CreateDevice("d2");
  Message m;
  m.message_id = "kept";
  ASSERT_TRUE(Send("d1", m).has_value());
  ASSERT_TRUE(Send("d2", m).has_value());
  Restart();
  for (const char* id : {"d1", "d2"}) {
    auto locked = QueuesOf(id).ReceiveAndLock(id);
    ASSERT_TRUE(locked.has_value()) << id;
    EXPECT_EQ(locked->message_id, "kept");
  }
}

TEST_F(HubTest, QueueOfADeviceDeletedWhileDownIsDroppedAtOpen) {
  CreateDevice("d1");
  ASSERT_TRUE(Send("d1", Message{}).has_value());
  RunAll();
  hub_->Close();
  hub_.reset();
  // The registry record goes, the queue stays: as if the hub died between the two steps.
  auto rows = store_.Scan(kDevicesTable, "", "", 100);
  ASSERT_TRUE(rows.has_value());
  storage::WriteBatch batch;
  for (const auto& row : *rows) batch.Delete(kDevicesTable, row.key);
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  Start();
  RunAll();
  EXPECT_EQ(*store_.CountQueue(kC2dQueue, "d1"), 0u);
}

TEST_F(HubTest, MessagesOfAPredecessorNeverReachARecreatedDevice) {
  Device old_device = CreateDevice("d1");
  Message m;
  m.message_id = "for-the-old-d1";
  m.ack = AckMode::kFull;
  ASSERT_TRUE(Send("d1", m).has_value());
  // Delete and re-create; then a crash before the shard dropped the old queue.
  ASSERT_TRUE(hub_->registry().Delete("d1", "*").ok());
  Device new_device = CreateDevice("d1");
  ASSERT_NE(new_device.generation_id, old_device.generation_id);
  shard0_.Clear();
  shard1_.Clear();
  hub_.reset();
  Start();
  RunAll();
  EXPECT_FALSE(QueuesOf("d1").ReceiveAndLock("d1").has_value());
  EXPECT_EQ(*store_.CountQueue(kC2dQueue, "d1"), 0u);
  hub_->feedback().Flush();
  RunAll();
  EXPECT_EQ(hub_->feedback().Depth(), 0u) << "a dropped stale message made feedback";
}

TEST_F(HubTest, LockExpiryIsDrivenByProcessTimers) {
  CreateDevice("d1");
  ASSERT_TRUE(Send("d1", Message{}).has_value());
  ASSERT_TRUE(QueuesOf("d1").ReceiveAndLock("d1", seconds(5)).has_value());
  EXPECT_FALSE(QueuesOf("d1").ReceiveAndLock("d1").has_value());
  clock_.Advance(seconds(6));
  hub_->ProcessTimers(hub_->ShardOf("d1"));
  RunAll();
  EXPECT_TRUE(QueuesOf("d1").ReceiveAndLock("d1").has_value());
}

TEST_F(HubTest, PurgeReportsTheCount) {
  CreateDevice("d1");
  ASSERT_TRUE(Send("d1", Message{}).has_value());
  ASSERT_TRUE(Send("d1", Message{}).has_value());
  std::optional<Result<uint64_t>> purged;
  hub_->PurgeC2d("d1", reply_, [&](Result<uint64_t> r) { purged = std::move(r); });
  RunAll();
  ASSERT_TRUE(purged.has_value() && purged->has_value());
  EXPECT_EQ(**purged, 2u);
}

TEST_F(HubTest, QueueGaugesArePublishedByEachShardsTimers) {
  CreateDevice("d1");
  CreateDevice("d2");
  ASSERT_TRUE(Send("d1", Message{.body = "a"}).has_value());
  ASSERT_TRUE(Send("d2", Message{.body = "b"}).has_value());
  Message acked{.body = "c"};
  acked.message_id = "m3";
  acked.ack = AckMode::kFull;
  ASSERT_TRUE(Send("d2", acked).has_value());
  EXPECT_EQ(hub_->C2dQueuedTotal(), 0u);  // nothing published yet
  for (size_t shard = 0; shard < hub_->shard_count(); ++shard) hub_->ProcessTimers(shard);
  EXPECT_EQ(hub_->C2dQueuedTotal(), 3u);

  // d2's messages: receive and complete both; the acked one yields a feedback record.
  size_t shard = hub_->ShardOf("d2");
  for (int i = 0; i < 2; ++i) {
    auto m = QueuesOf("d2").ReceiveAndLock("d2");
    ASSERT_TRUE(m.has_value());
    QueuesOf("d2").Complete("d2", m->lock_token, [](Status s) { EXPECT_TRUE(s.ok()); });
    RunAll();
  }
  hub_->ProcessTimers(shard);
  hub_->ProcessTimers(0);
  EXPECT_EQ(hub_->C2dQueuedTotal(), 1u);
  // batch_size 1: the record became a feedback message at once.
  EXPECT_EQ(hub_->FeedbackMessages() + hub_->FeedbackPendingRecords(), 1u);
}

}  // namespace
}  // namespace iothub::core
