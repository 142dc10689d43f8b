// The registry against its store: reloads, runtime-state writes and their coalescing, and
// compare-and-set against writers the cache does not know about.

#include <gtest/gtest.h>

#include "core/registry/registry.h"
#include "core/registry/registry_test_store.h"

namespace iothub::core {
namespace {

using testing::HoldingStore;

class RegistryStoreTest : public ::testing::Test {
 protected:
  RegistryStoreTest() { Reopen(); }
  ~RegistryStoreTest() override {
    while (!store_.held.empty()) store_.Release();
  }

  void Reopen() {
    registry_.reset();
    registry_ = std::make_unique<Registry>(store_, clock_);
    ASSERT_TRUE(registry_->Open().ok());
  }
  Device MustCreate(std::string id) {
    Device d;
    d.id = std::move(id);
    Result<Device> r = registry_->Create(d);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : Device{};
  }
  // Writes `device` to the store directly, as another hub node sharing the store would.
  void WriteBehindTheRegistrysBack(Device device) {
    storage::WriteBatch batch;
    batch.Put(kDevicesTable, device.id, *EncodeDeviceIdentity(device));
    ASSERT_TRUE(store_.inner.CommitAndWait(std::move(batch), storage::Durability::kSync));
  }

  HoldingStore store_;
  FakeClock clock_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryStoreTest, ANewRegistrySeesTheSameDevices) {
  Device a = MustCreate("a");
  Device b = MustCreate("b");
  b.status = DeviceStatus::kDisabled;
  b.status_reason = "why";
  b = *registry_->Replace(b, "");
  clock_.Advance(std::chrono::seconds(3));
  registry_->SetConnectionState("a", true);
  registry_->TouchActivity("a");
  Timestamp active = clock_.Now();
  ASSERT_TRUE(registry_->FlushActivity().ok());

  Reopen();
  Device a2 = *registry_->Get("a");
  EXPECT_EQ(a2.connection_state, ConnectionState::kDisconnected) << "no connection survives";
  EXPECT_EQ(a2.connection_state_updated_time, active);
  EXPECT_EQ(a2.last_activity_time, active);
  a2.connection_state = a.connection_state;
  a2.connection_state_updated_time = a.connection_state_updated_time;
  a2.last_activity_time = a.last_activity_time;
  EXPECT_EQ(a2, a) << "etag, keys, generation id all the same";
  EXPECT_EQ(*registry_->Get("b"), b);
  RegistryStats s = registry_->Stats();
  EXPECT_EQ(s.total, 2u);
  EXPECT_EQ(s.enabled, 1u);
  EXPECT_EQ(s.disabled, 1u);
  EXPECT_EQ(s.connected, 0u);
  EXPECT_TRUE(registry_->Replace(b, b.etag)) << "etags stay valid across a restart";
}

TEST_F(RegistryStoreTest, ReloadsMoreThanOneScanPage) {
  for (int i = 0; i < 1005; ++i) {
    Device d;
    d.id = "d" + std::to_string(i);
    d.primary_key = "AAAAAAAAAAAAAAAAAAAAAA==";
    d.secondary_key = d.primary_key;
    d.generation_id = "1";
    WriteBehindTheRegistrysBack(d);
  }
  Reopen();
  EXPECT_EQ(registry_->Stats().total, 1005u);
}

TEST_F(RegistryStoreTest, OpenFailsOnACorruptRecord) {
  storage::WriteBatch batch;
  batch.Put(kDevicesTable, "bad", "{not json");
  ASSERT_TRUE(store_.inner.CommitAndWait(std::move(batch), storage::Durability::kSync));
  Registry registry(store_, clock_);
  EXPECT_EQ(registry.Open().code(), StatusCode::kCorruption);
}

TEST_F(RegistryStoreTest, OpenFailsOnARecordUnderAnotherId) {
  Device d;
  d.id = "x";
  storage::WriteBatch batch;
  batch.Put(kDevicesTable, "y", *EncodeDeviceIdentity(d));
  ASSERT_TRUE(store_.inner.CommitAndWait(std::move(batch), storage::Durability::kSync));
  Registry registry(store_, clock_);
  EXPECT_EQ(registry.Open().code(), StatusCode::kCorruption);
}

TEST_F(RegistryStoreTest, StaleActivityOfAnEarlierIdentityIsDropped) {
  Device d = MustCreate("d");
  storage::WriteBatch batch;
  batch.Put(kDeviceActivityTable, "d",
            EncodeDeviceActivity({"someone-else", ConnectionState::kConnected, FromUnixMillis(1),
                                  FromUnixMillis(2)}));
  batch.Put(kDeviceActivityTable, "gone",
            EncodeDeviceActivity(
                {"1", ConnectionState::kConnected, FromUnixMillis(1), FromUnixMillis(2)}));
  ASSERT_TRUE(store_.inner.CommitAndWait(std::move(batch), storage::Durability::kSync));
  Reopen();
  EXPECT_EQ(registry_->Get("d")->last_activity_time, Timestamp{});
  EXPECT_FALSE(store_.Get(kDeviceActivityTable, "d")) << "cleaned up";
  EXPECT_FALSE(store_.Get(kDeviceActivityTable, "gone"));
}

TEST_F(RegistryStoreTest, RuntimeUpdatesAreAsyncAndCoalesced) {
  MustCreate("a");
  MustCreate("b");
  MustCreate("c");
  store_.hold_async = true;
  size_t before = store_.seen.size();

  registry_->TouchActivity("a");
  ASSERT_EQ(store_.seen.size(), before + 1) << "first update commits at once";
  EXPECT_EQ(store_.seen.back().second, storage::Durability::kAsync);
  EXPECT_EQ(registry_->Get("a")->last_activity_time, clock_.Now()) << "cache is immediate";

  clock_.Advance(std::chrono::seconds(1));
  registry_->TouchActivity("a");
  registry_->SetConnectionState("b", true);
  registry_->TouchActivity("a");
  EXPECT_EQ(store_.seen.size(), before + 1) << "nothing more while one is in flight";
  EXPECT_EQ(registry_->Stats().connected, 1u);

  store_.Release();
  EXPECT_EQ(store_.seen.size(), before + 1);
  registry_->TouchActivity("c");
  ASSERT_EQ(store_.seen.size(), before + 2);
  const storage::WriteBatch& coalesced = store_.seen.back().first;
  ASSERT_EQ(coalesced.size(), 3u) << "a, b and c in one commit";
  for (const storage::WriteBatch::Op& op : coalesced.ops()) {
    EXPECT_EQ(op.name, kDeviceActivityTable);
    EXPECT_FALSE(op.conditional) << "runtime writes never CAS";
  }
  store_.Release();
  Result<DeviceActivity> stored =
      DecodeDeviceActivity(store_.Get(kDeviceActivityTable, "a")->value);
  EXPECT_EQ(stored->last_activity_time, clock_.Now());
  stored = DecodeDeviceActivity(store_.Get(kDeviceActivityTable, "b")->value);
  EXPECT_EQ(stored->connection_state, ConnectionState::kConnected);
}

TEST_F(RegistryStoreTest, FlushActivityWritesWhatIsPendingDurably) {
  MustCreate("a");
  store_.hold_async = true;
  registry_->TouchActivity("a");             // in flight
  registry_->SetConnectionState("a", true);  // pending
  store_.Release();
  size_t before = store_.seen.size();
  ASSERT_TRUE(registry_->FlushActivity().ok());
  ASSERT_EQ(store_.seen.size(), before + 1);
  EXPECT_EQ(store_.seen.back().second, storage::Durability::kSync);
  EXPECT_EQ(DecodeDeviceActivity(store_.Get(kDeviceActivityTable, "a")->value)->connection_state,
            ConnectionState::kConnected);
  ASSERT_TRUE(registry_->FlushActivity().ok());
  EXPECT_EQ(store_.seen.size(), before + 1) << "nothing pending, nothing written";
}

TEST_F(RegistryStoreTest, AFailedRuntimeCommitIsRetriedWithTheNextOne) {
  MustCreate("a");
  MustCreate("b");
  store_.hold_async = true;
  registry_->TouchActivity("a");
  store_.Release(/*fail=*/true);
  registry_->TouchActivity("b");
  ASSERT_EQ(store_.seen.back().first.size(), 2u) << "a again, with b";
}

TEST_F(RegistryStoreTest, RuntimeUpdatesOfUnknownDevicesAreIgnored) {
  size_t before = store_.seen.size();
  registry_->TouchActivity("ghost");
  registry_->SetConnectionState("ghost", true);
  EXPECT_EQ(store_.seen.size(), before);
  EXPECT_EQ(registry_->Stats().connected, 0u);
}

TEST_F(RegistryStoreTest, ControlPlaneWritesDoNotWaitForRuntimeWrites) {
  Device a = MustCreate("a");
  store_.hold_async = true;
  registry_->TouchActivity("a");  // held in flight
  EXPECT_TRUE(registry_->Replace(a, a.etag));
  EXPECT_TRUE(registry_->Delete("a", "").ok());
}

TEST_F(RegistryStoreTest, ConditionalReplaceLosesToAWriterItDidNotSee) {
  Device d = MustCreate("d");
  Device theirs = d;
  theirs.status_reason = "written by another node";
  WriteBehindTheRegistrysBack(theirs);

  Result<Device> r = registry_->Replace(d, d.etag);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kPreconditionFailed);
  Device now = *registry_->Get("d");
  EXPECT_EQ(now.status_reason, "written by another node") << "cache refreshed from the store";
  EXPECT_NE(now.etag, d.etag);
  EXPECT_TRUE(registry_->Replace(d, now.etag)) << "and the fresh etag works";
}

TEST_F(RegistryStoreTest, UnconditionalReplaceOverwritesAWriterItDidNotSee) {
  Device d = MustCreate("d");
  Device theirs = d;
  theirs.status_reason = "written by another node";
  WriteBehindTheRegistrysBack(theirs);
  for (std::string if_match : {"", "*"}) {
    d.status_reason = "ours " + if_match;
    Result<Device> r = registry_->Replace(d, if_match);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->status_reason, d.status_reason);
    WriteBehindTheRegistrysBack(theirs);
  }
}

TEST_F(RegistryStoreTest, ReplaceOfADeviceDeletedBehindItsBackIsNotFound) {
  Device d = MustCreate("d");
  storage::WriteBatch batch;
  batch.Delete(kDevicesTable, "d");
  ASSERT_TRUE(store_.inner.CommitAndWait(std::move(batch), storage::Durability::kSync));
  EXPECT_EQ(registry_->Replace(d, "").error().code(), StatusCode::kNotFound);
  EXPECT_FALSE(registry_->Get("d"));
}

TEST_F(RegistryStoreTest, CreateLosesToACreatorItDidNotSee) {
  Device theirs;
  theirs.id = "d";
  theirs.generation_id = "42";
  theirs.primary_key = "AAAAAAAAAAAAAAAAAAAAAA==";
  WriteBehindTheRegistrysBack(theirs);
  Result<Device> r = registry_->Create(theirs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_->Get("d")->generation_id, "42");
}

TEST_F(RegistryStoreTest, DeleteAgainstAWriterItDidNotSee) {
  Device d = MustCreate("d");
  WriteBehindTheRegistrysBack(d);
  EXPECT_EQ(registry_->Delete("d", d.etag).code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(registry_->Get("d"));
  WriteBehindTheRegistrysBack(d);
  EXPECT_TRUE(registry_->Delete("d", "").ok()) << "unconditional: retried with the fresh record";
  EXPECT_FALSE(store_.Get(kDevicesTable, "d"));
}

TEST_F(RegistryStoreTest, StoreFailuresAreReturned) {
  Device d = MustCreate("d");
  store_.Close();
  Result<Device> created = registry_->Create([] {
    Device n;
    n.id = "n";
    return n;
  }());
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(registry_->Get("n"));
  EXPECT_EQ(registry_->Replace(d, "").error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry_->Get("d")->etag, d.etag);
  EXPECT_EQ(registry_->Delete("d", "").code(), StatusCode::kUnavailable);
  EXPECT_TRUE(registry_->Get("d"));
}

}  // namespace
}  // namespace iothub::core
