#include "core/registry/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "base/crypto.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

Device NewDevice(std::string id) {
  Device d;
  d.id = std::move(id);
  return d;
}

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() { Reopen(); }

  void Reopen() {
    registry_.reset();
    registry_ = std::make_unique<Registry>(store_, clock_);
    ASSERT_TRUE(registry_->Open().ok());
  }
  Device MustCreate(std::string id) {
    Result<Device> d = registry_->Create(NewDevice(std::move(id)));
    EXPECT_TRUE(d) << d.error().ToString();
    return d ? *d : Device{};
  }
  Registry& registry() { return *registry_; }

  storage::MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, CreateFillsWhatTheRegistryOwns) {
  Device d = MustCreate("dev-1");
  EXPECT_EQ(d.id, "dev-1");
  EXPECT_EQ(d.generation_id.size(), 18u);
  EXPECT_TRUE(std::all_of(d.generation_id.begin(), d.generation_id.end(), ::isdigit));
  EXPECT_FALSE(d.etag.empty());
  EXPECT_EQ(d.status, DeviceStatus::kEnabled);
  EXPECT_EQ(d.status_updated_time, clock_.Now());
  EXPECT_EQ(d.auth_type, DeviceAuthType::kSas);
  ASSERT_TRUE(Base64Decode(d.primary_key));
  EXPECT_EQ(Base64Decode(d.primary_key)->size(), 32u);
  EXPECT_EQ(Base64Decode(d.secondary_key)->size(), 32u);
  EXPECT_NE(d.primary_key, d.secondary_key);
  EXPECT_EQ(d.connection_state, ConnectionState::kDisconnected);
  EXPECT_EQ(d.connection_state_updated_time, Timestamp{});
  EXPECT_EQ(d.last_activity_time, Timestamp{});
  EXPECT_EQ(*registry().Get("dev-1"), d);
  EXPECT_TRUE(store_.Get(kDevicesTable, "dev-1")) << "written through";
  EXPECT_EQ(store_.stats().syncs, 1u) << "committed with kSync";
}

TEST_F(RegistryTest, CreateIgnoresFieldsTheRegistryOwns) {
  Device in = NewDevice("d");
  in.generation_id = "1";
  in.etag = "x";
  in.connection_state = ConnectionState::kConnected;
  in.last_activity_time = FromUnixMillis(5);
  in.status_updated_time = FromUnixMillis(5);
  Device d = *registry().Create(in);
  EXPECT_NE(d.generation_id, "1");
  EXPECT_NE(d.etag, "x");
  EXPECT_EQ(d.connection_state, ConnectionState::kDisconnected);
  EXPECT_EQ(d.last_activity_time, Timestamp{});
  EXPECT_EQ(d.status_updated_time, clock_.Now());
}

TEST_F(RegistryTest, CreateKeepsGivenKeysAndStatus) {
  Device in = NewDevice("d");
  in.primary_key = Base64Encode(std::string(16, 'p'));
  in.status = DeviceStatus::kDisabled;
  in.status_reason = "not yet";
  Device d = *registry().Create(in);
  EXPECT_EQ(d.primary_key, in.primary_key);
  EXPECT_EQ(Base64Decode(d.secondary_key)->size(), 32u) << "the empty one is generated";
  EXPECT_EQ(d.status, DeviceStatus::kDisabled);
  EXPECT_EQ(d.status_reason, "not yet");
}

TEST_F(RegistryTest, CreateWithoutSasGeneratesNoKeys) {
  Device in = NewDevice("x509");
  in.auth_type = DeviceAuthType::kSelfSigned;
  in.primary_thumbprint = std::string(40, 'A');
  Device d = *registry().Create(in);
  EXPECT_EQ(d.primary_key, "");
  EXPECT_EQ(d.secondary_key, "");
  EXPECT_EQ(registry().Credentials("x509")->primary_key, "");
}

TEST_F(RegistryTest, CreateValidatesItsInput) {
  auto with = [](auto change) {
    Device d = NewDevice("d");
    change(d);
    return d;
  };
  const Device bad[] = {
      NewDevice(""),
      NewDevice("a b"),
      NewDevice(std::string(129, 'a')),
      with([](Device& d) { d.primary_key = "not base64"; }),
      with([](Device& d) { d.primary_key = Base64Encode(std::string(15, 'k')); }),
      with([](Device& d) { d.secondary_key = Base64Encode(std::string(65, 'k')); }),
      with([](Device& d) { d.auth_type = DeviceAuthType::kSelfSigned; }),
      with([](Device& d) { d.primary_thumbprint = "abc"; }),
      with([](Device& d) { d.secondary_thumbprint = std::string(40, 'g'); }),
      with([](Device& d) { d.status_reason = std::string(129, 'r'); }),
      with([](Device& d) { d.status_reason = "\xff"; }),
      with([](Device& d) { d.device_scope = "ms-azure-iot-edge://nobody-1"; }),
  };
  for (const Device& d : bad) {
    Result<Device> r = registry().Create(d);
    ASSERT_FALSE(r) << d.id;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
  }
  EXPECT_EQ(registry().Stats().total, 0u);
  EXPECT_EQ(store_.stats().commits, 0u);
}

TEST_F(RegistryTest, CreateOfAnExistingIdIsAlreadyExists) {
  Device first = MustCreate("d");
  Result<Device> again = registry().Create(NewDevice("d"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.error().reason(), "DeviceAlreadyExists");
  EXPECT_EQ(*registry().Get("d"), first);
  // Ids are case-sensitive.
  EXPECT_TRUE(registry().Create(NewDevice("D")));
}

TEST_F(RegistryTest, GetOfAnUnknownIdIsDeviceNotFound) {
  Result<Device> d = registry().Get("ghost");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(d.error().reason(), "DeviceNotFound");
}

TEST_F(RegistryTest, EtagChangesOnEveryWriteAndNeverRepeats) {
  std::set<std::string> etags;
  Device d = MustCreate("d");
  etags.insert(d.etag);
  for (int i = 0; i < 3; ++i) {
    d.status_reason = "v" + std::to_string(i);
    d = *registry().Replace(d, d.etag);
    EXPECT_EQ(registry().Get("d")->etag, d.etag);
    etags.insert(d.etag);
  }
  d = *registry().Replace(d, "");  // an identical write is still a write
  etags.insert(d.etag);
  ASSERT_TRUE(registry().Delete("d", "").ok());
  etags.insert(MustCreate("d").etag);
  EXPECT_EQ(etags.size(), 6u);
}

TEST_F(RegistryTest, RuntimeUpdatesLeaveTheEtagAlone) {
  Device d = MustCreate("d");
  registry().SetConnectionState("d", true);
  registry().TouchActivity("d");
  ASSERT_TRUE(registry().FlushActivity().ok());
  EXPECT_EQ(registry().Get("d")->etag, d.etag);
  EXPECT_TRUE(registry().Replace(d, d.etag)) << "a client's etag stays valid";
}

TEST_F(RegistryTest, ReplaceKeepsGenerationIdAndEmptyKeys) {
  Device d = MustCreate("d");
  Device in = NewDevice("d");
  in.status_reason = "changed";
  Device r = *registry().Replace(in, "*");
  EXPECT_EQ(r.generation_id, d.generation_id);
  EXPECT_EQ(r.primary_key, d.primary_key);
  EXPECT_EQ(r.secondary_key, d.secondary_key);
  EXPECT_EQ(r.status_reason, "changed");

  in.primary_key = Base64Encode(std::string(32, 'n'));
  r = *registry().Replace(in, "");
  EXPECT_EQ(r.primary_key, in.primary_key);
  EXPECT_EQ(r.secondary_key, d.secondary_key);
  EXPECT_EQ(registry().Credentials("d")->primary_key, in.primary_key);
}

TEST_F(RegistryTest, ReplaceHonoursIfMatch) {
  Device d = MustCreate("d");
  for (std::string stale : {std::string("bogus"), std::string("\"bogus\""), std::string("MA==")}) {
    Result<Device> r = registry().Replace(d, stale);
    ASSERT_FALSE(r) << stale;
    EXPECT_EQ(r.error().code(), StatusCode::kPreconditionFailed);
    EXPECT_EQ(r.error().reason(), "PreconditionFailed");
  }
  Device v2 = *registry().Replace(d, "\"" + d.etag + "\"");  // quoted, as in an HTTP header
  Result<Device> old_etag = registry().Replace(d, d.etag);
  ASSERT_FALSE(old_etag);
  EXPECT_EQ(old_etag.error().code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(registry().Replace(d, v2.etag));
  EXPECT_TRUE(registry().Replace(d, "*"));
  EXPECT_TRUE(registry().Replace(d, ""));
}

TEST_F(RegistryTest, ReplaceOfAnUnknownDeviceIsNotFound) {
  for (std::string if_match : {"", "*", "MQ=="}) {
    Result<Device> r = registry().Replace(NewDevice("ghost"), if_match);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
    EXPECT_EQ(r.error().reason(), "DeviceNotFound");
  }
  EXPECT_FALSE(registry().Get("ghost")) << "replace never creates";
}

TEST_F(RegistryTest, ReplaceValidatesItsInput) {
  Device d = MustCreate("d");
  d.primary_key = "!!";
  EXPECT_EQ(registry().Replace(d, "").error().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, StatusChangeMovesStatusUpdatedTime) {
  Device d = MustCreate("d");
  Timestamp created = clock_.Now();
  clock_.Advance(std::chrono::minutes(1));
  d.status_reason = "same status";
  d = *registry().Replace(d, "");
  EXPECT_EQ(d.status_updated_time, created);
  clock_.Advance(std::chrono::minutes(1));
  d.status = DeviceStatus::kDisabled;
  d = *registry().Replace(d, "");
  EXPECT_EQ(d.status_updated_time, clock_.Now());
  EXPECT_FALSE(registry().Credentials("d")->enabled);
}

TEST_F(RegistryTest, ReplaceKeepsRuntimeState) {
  Device d = MustCreate("d");
  clock_.Advance(std::chrono::seconds(5));
  registry().SetConnectionState("d", true);
  registry().TouchActivity("d");
  Device in = d;
  in.connection_state = ConnectionState::kDisconnected;
  in.last_activity_time = Timestamp{};
  Device r = *registry().Replace(in, "");
  EXPECT_EQ(r.connection_state, ConnectionState::kConnected);
  EXPECT_EQ(r.connection_state_updated_time, clock_.Now());
  EXPECT_EQ(r.last_activity_time, clock_.Now());
}

TEST_F(RegistryTest, DeleteRemovesTheDeviceDurably) {
  Device d = MustCreate("d");
  MustCreate("e");
  registry().TouchActivity("d");
  uint64_t syncs = store_.stats().syncs;
  ASSERT_TRUE(registry().Delete("d", d.etag).ok());
  EXPECT_EQ(store_.stats().syncs, syncs + 1);
  EXPECT_EQ(registry().Get("d").error().reason(), "DeviceNotFound");
  EXPECT_FALSE(registry().Credentials("d"));
  EXPECT_FALSE(store_.Get(kDevicesTable, "d"));
  EXPECT_FALSE(store_.Get(kDeviceActivityTable, "d"));
  EXPECT_EQ(registry().List("", 10)->devices.size(), 1u);
  EXPECT_EQ(registry().Stats().total, 1u);
}

TEST_F(RegistryTest, DeleteErrors) {
  Device d = MustCreate("d");
  Status s = registry().Delete("ghost", "");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.reason(), "DeviceNotFound");
  EXPECT_EQ(registry().Delete("ghost", "*").code(), StatusCode::kNotFound);
  s = registry().Delete("d", "stale");
  EXPECT_EQ(s.code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(registry().Get("d")) << "still there";
  EXPECT_TRUE(registry().Delete("d", "*").ok());
  EXPECT_EQ(registry().Delete("d", "*").code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, ReCreateAfterDeleteIsANewIdentity) {
  Device first = MustCreate("d");
  ASSERT_TRUE(registry().Delete("d", "").ok());
  Device second = MustCreate("d");
  EXPECT_NE(second.generation_id, first.generation_id);
  EXPECT_NE(second.primary_key, first.primary_key);
  EXPECT_NE(second.etag, first.etag);
  Result<Device> stale = registry().Replace(first, first.etag);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), StatusCode::kPreconditionFailed);
}

TEST_F(RegistryTest, ListPagesThrough25DevicesTenAtATime) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i)
    ids.push_back("dev-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
  std::vector<std::string> shuffled = ids;
  std::reverse(shuffled.begin(), shuffled.end());
  for (const std::string& id : shuffled) MustCreate(id);

  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  std::string continuation;
  do {
    Result<DevicePage> page = registry().List(continuation, 10);
    ASSERT_TRUE(page);
    page_sizes.push_back(page->devices.size());
    for (const Device& d : page->devices) {
      seen.push_back(d.id);
      EXPECT_FALSE(d.etag.empty());
    }
    continuation = page->continuation;
  } while (!continuation.empty());
  EXPECT_EQ(page_sizes, (std::vector<size_t>{10, 10, 5}));
  EXPECT_EQ(seen, ids) << "every device once, in id order";
}

TEST_F(RegistryTest, ListEndsWithoutAnEmptyPageAndSurvivesDeletes) {
  for (int i = 0; i < 20; ++i) MustCreate("d" + std::to_string(100 + i));
  Result<DevicePage> first = registry().List("", 10);
  ASSERT_EQ(first->continuation, "d109");
  ASSERT_TRUE(registry().Delete("d109", "").ok());  // the continuation itself vanishes
  Result<DevicePage> second = registry().List(first->continuation, 10);
  ASSERT_EQ(second->devices.size(), 10u);
  EXPECT_EQ(second->devices.front().id, "d110");
  EXPECT_EQ(second->continuation, "") << "exactly at the end";
  EXPECT_TRUE(registry().List("zzz", 10)->devices.empty());
  EXPECT_EQ(registry().List("", 0).error().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, DeleteListenersRunOnceTheDeleteIsDurable) {
  MustCreate("d");
  std::vector<std::string> calls;
  registry().AddDeleteListener([&](const std::string& id) {
    calls.push_back("a:" + id);
    EXPECT_FALSE(store_.Get(kDevicesTable, id)) << "already gone from the store";
    EXPECT_FALSE(registry().Get(id)) << "and from the cache";
  });
  registry().AddDeleteListener([&](const std::string& id) { calls.push_back("b:" + id); });
  EXPECT_FALSE(registry().Delete("d", "stale").ok());
  EXPECT_FALSE(registry().Delete("ghost", "").ok());
  EXPECT_TRUE(calls.empty()) << "failed deletes call nobody";
  ASSERT_TRUE(registry().Delete("d", "").ok());
  EXPECT_EQ(calls, (std::vector<std::string>{"a:d", "b:d"}));
}

TEST_F(RegistryTest, StatsFollowEveryChange) {
  auto stats = [&] {
    RegistryStats s = registry().Stats();
    return std::vector<uint64_t>{s.total, s.enabled, s.disabled, s.connected};
  };
  EXPECT_EQ(stats(), (std::vector<uint64_t>{0, 0, 0, 0}));
  Device a = MustCreate("a");
  MustCreate("b");
  Device c = NewDevice("c");
  c.status = DeviceStatus::kDisabled;
  ASSERT_TRUE(registry().Create(c));
  EXPECT_EQ(stats(), (std::vector<uint64_t>{3, 2, 1, 0}));
  registry().SetConnectionState("a", true);
  registry().SetConnectionState("b", true);
  registry().SetConnectionState("b", true);  // no change
  registry().SetConnectionState("ghost", true);
  EXPECT_EQ(stats(), (std::vector<uint64_t>{3, 2, 1, 2}));
  a.status = DeviceStatus::kDisabled;
  ASSERT_TRUE(registry().Replace(a, ""));
  EXPECT_EQ(stats(), (std::vector<uint64_t>{3, 1, 2, 2}));
  registry().SetConnectionState("b", false);
  EXPECT_EQ(stats(), (std::vector<uint64_t>{3, 1, 2, 1}));
  ASSERT_TRUE(registry().Delete("a", "").ok());  // connected and disabled
  EXPECT_EQ(stats(), (std::vector<uint64_t>{2, 1, 1, 0}));
}

TEST_F(RegistryTest, CredentialsForTheAuthenticator) {
  Device d = MustCreate("d");
  std::optional<auth::DeviceCredentials> c = registry().Credentials("d");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->primary_key, d.primary_key);
  EXPECT_EQ(c->secondary_key, d.secondary_key);
  EXPECT_TRUE(c->enabled);
  EXPECT_FALSE(registry().Credentials("ghost"));
  EXPECT_FALSE(registry().Credentials("D")) << "case-sensitive";
}

TEST_F(RegistryTest, CloudToDeviceMessageCountComesFromTheProvider) {
  MustCreate("a");
  MustCreate("b");
  EXPECT_EQ(registry().Get("a")->cloud_to_device_message_count, 0u);
  registry().SetC2dCountProvider([](std::string_view id) -> uint64_t { return id == "a" ? 7 : 3; });
  EXPECT_EQ(registry().Get("a")->cloud_to_device_message_count, 7u);
  Result<DevicePage> page = registry().List("", 10);
  EXPECT_EQ(page->devices[0].cloud_to_device_message_count, 7u);
  EXPECT_EQ(page->devices[1].cloud_to_device_message_count, 3u);
  EXPECT_EQ(registry().Replace(NewDevice("b"), "")->cloud_to_device_message_count, 3u);

  Registry with_ctor(store_, clock_, [](std::string_view) -> uint64_t { return 42; });
  ASSERT_TRUE(with_ctor.Open().ok());
  EXPECT_EQ(with_ctor.Get("b")->cloud_to_device_message_count, 42u);
}

TEST_F(RegistryTest, ConcurrentReplacesWithOneEtagHaveOneWinner) {
  Device d = MustCreate("d");
  std::atomic<int> wins{0}, precondition_failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Device mine = d;
      mine.status_reason = "writer " + std::to_string(i);
      Result<Device> r = registry().Replace(mine, d.etag);
      if (r) {
        ++wins;
      } else if (r.error().code() == StatusCode::kPreconditionFailed) {
        ++precondition_failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(precondition_failures.load(), 7);
}

}  // namespace
}  // namespace iothub::core
