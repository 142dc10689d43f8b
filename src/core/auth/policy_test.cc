#include "core/auth/policy.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "base/crypto.h"
#include "storage/memory/memory_store.h"
#include "storage/rocksdb/rocksdb_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/temp_dir.h"

namespace iothub::core::auth {
namespace {

using storage::MemoryStore;

TEST(PolicyStoreTest, FirstStartCreatesTheFiveDefaultsDurably) {
  MemoryStore store;
  PolicyStore policies(store);
  ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());

  std::vector<SharedAccessPolicy> list = policies.List();
  ASSERT_EQ(list.size(), 5u);
  std::set<std::string> names;
  std::set<std::string> keys;
  for (const SharedAccessPolicy& p : list) {
    names.insert(p.name);
    keys.insert(p.primary_key);
    keys.insert(p.secondary_key);
    ASSERT_TRUE(Base64Decode(p.primary_key));
    EXPECT_EQ(Base64Decode(p.primary_key)->size(), 32u);
    EXPECT_EQ(Base64Decode(p.secondary_key)->size(), 32u);
  }
  EXPECT_EQ(names, (std::set<std::string>{"device", "iothubowner", "registryRead",
                                          "registryReadWrite", "service"}));
  EXPECT_EQ(keys.size(), 10u) << "every key is fresh";
  EXPECT_EQ(policies.Find("iothubowner")->rights,
            uint32_t{kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect});
  EXPECT_EQ(policies.Find("service")->rights, uint32_t{kServiceConnect});
  EXPECT_EQ(policies.Find("device")->rights, uint32_t{kDeviceConnect});
  EXPECT_EQ(policies.Find("registryRead")->rights, uint32_t{kRegistryRead});
  EXPECT_EQ(policies.Find("registryReadWrite")->rights, uint32_t{kRegistryRead | kRegistryWrite});

  // Durable: committed with kSync, and really in the table.
  EXPECT_EQ(store.stats().syncs, 1u);
  Result<storage::TableEntry> stored = store.Get(kPoliciesTable, "service");
  ASSERT_TRUE(stored);
  EXPECT_EQ(*DecodePolicy(stored->value), *policies.Find("service"));
}

TEST(PolicyStoreTest, LaterStartsReuseTheStoredKeys) {
  MemoryStore store;
  std::vector<SharedAccessPolicy> first;
  {
    PolicyStore policies(store);
    ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
    first = policies.List();
  }
  uint64_t commits = store.stats().commits;
  PolicyStore reopened(store);
  ASSERT_TRUE(reopened.LoadOrCreateDefaults().ok());
  EXPECT_EQ(reopened.List(), first);
  ASSERT_TRUE(reopened.LoadOrCreateDefaults().ok());
  EXPECT_EQ(reopened.List(), first);
  EXPECT_EQ(store.stats().commits, commits) << "nothing rewritten";
}

TEST(PolicyStoreTest, NamesAreCaseSensitive) {
  MemoryStore store;
  PolicyStore policies(store);
  ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
  EXPECT_TRUE(policies.Find("registryRead"));
  EXPECT_FALSE(policies.Find("registryread"));
  EXPECT_FALSE(policies.Find("IoTHubOwner"));
  EXPECT_FALSE(policies.Find(""));
}

TEST(PolicyStoreTest, EmptyBeforeLoad) {
  MemoryStore store;
  PolicyStore policies(store);
  EXPECT_TRUE(policies.List().empty());
  EXPECT_FALSE(policies.Find("iothubowner"));
}

TEST(PolicyStoreTest, ANonEmptyTableIsTakenAsIs) {
  MemoryStore store;
  SharedAccessPolicy custom{"custom", "AA==", "AQ==", kServiceConnect};
  storage::WriteBatch batch;
  batch.Put(kPoliciesTable, "custom", EncodePolicy(custom));
  ASSERT_TRUE(store.CommitAndWait(std::move(batch), storage::Durability::kSync));

  PolicyStore policies(store);
  ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
  ASSERT_EQ(policies.List().size(), 1u);
  EXPECT_EQ(*policies.Find("custom"), custom);
  EXPECT_FALSE(policies.Find("iothubowner"));
}

TEST(PolicyStoreTest, CorruptRecordFailsLoad) {
  MemoryStore store;
  storage::WriteBatch batch;
  batch.Put(kPoliciesTable, "bad", "\x01garbage");
  ASSERT_TRUE(store.CommitAndWait(std::move(batch), storage::Durability::kSync));
  PolicyStore policies(store);
  Status status = policies.LoadOrCreateDefaults();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_TRUE(policies.List().empty());
}

TEST(PolicyStoreTest, RecordUnderTheWrongKeyIsCorruption) {
  MemoryStore store;
  storage::WriteBatch batch;
  batch.Put(kPoliciesTable, "a", EncodePolicy({"b", "AA==", "AA==", 1}));
  ASSERT_TRUE(store.CommitAndWait(std::move(batch), storage::Durability::kSync));
  PolicyStore policies(store);
  EXPECT_EQ(policies.LoadOrCreateDefaults().code(), StatusCode::kCorruption);
}

TEST(PolicyStoreTest, StoreFailureIsReturned) {
  MemoryStore store;
  store.Close();
  PolicyStore policies(store);
  Status status = policies.LoadOrCreateDefaults();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(policies.List().empty());
}

TEST(PolicyCodingTest, RoundTripAndRejectsDamage) {
  SharedAccessPolicy policy{"registryReadWrite", "AAAA", "BBBB", kRegistryRead | kRegistryWrite};
  std::string bytes = EncodePolicy(policy);
  ASSERT_TRUE(DecodePolicy(bytes));
  EXPECT_EQ(*DecodePolicy(bytes), policy);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodePolicy(bytes.substr(0, n)).error().code(), StatusCode::kCorruption) << n;
  }
  EXPECT_FALSE(DecodePolicy(bytes + "x"));
  std::string other_format = bytes;
  other_format[0] = 2;
  EXPECT_FALSE(DecodePolicy(other_format));
}

// A store on which another hub process creates the defaults between our scan and our commit.
class RacingStore : public iothub::testing::ForwardingStore {
 public:
  RacingStore() : ForwardingStore(inner) {}
  void Commit(storage::WriteBatch batch, storage::Durability d,
              storage::CommitCallback done) override {
    if (before_commit) std::exchange(before_commit, nullptr)();
    inner.Commit(std::move(batch), d, std::move(done));
  }

  MemoryStore inner;
  std::function<void()> before_commit;
};

TEST(PolicyStoreTest, RacingFirstStartsAgreeOnOneSetOfKeys) {
  RacingStore store;
  PolicyStore other(store.inner);
  store.before_commit = [&] { ASSERT_TRUE(other.LoadOrCreateDefaults().ok()); };
  PolicyStore policies(store);
  ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
  EXPECT_EQ(policies.List().size(), 5u);
  EXPECT_EQ(policies.List(), other.List()) << "the first writer's keys win";
}

TEST(PolicyStoreTest, KeysSurviveReopeningTheRocksDbStore) {
  iothub::testing::TempDir dir;
  std::vector<SharedAccessPolicy> first;
  {
    Result<std::unique_ptr<storage::Store>> store = storage::OpenRocksDbStore({.path = dir.str()});
    ASSERT_TRUE(store) << store.error().ToString();
    PolicyStore policies(**store);
    ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
    first = policies.List();
    (*store)->Close();
  }
  Result<std::unique_ptr<storage::Store>> store = storage::OpenRocksDbStore({.path = dir.str()});
  ASSERT_TRUE(store) << store.error().ToString();
  PolicyStore policies(**store);
  ASSERT_TRUE(policies.LoadOrCreateDefaults().ok());
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(policies.List(), first);
}

}  // namespace
}  // namespace iothub::core::auth
