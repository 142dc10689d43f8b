#include "core/telemetry/ordered_commit.h"

#include <gtest/gtest.h>

#include <mutex>
#include <optional>

#include "core/telemetry/test_store.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

storage::WriteBatch OnePut() {
  storage::WriteBatch batch;
  batch.Put("t", "k", "v");
  return batch;
}

TEST(OrderedCommitTest, InlineCallbackWaitsForRelease) {
  storage::MemoryStore store;  // calls back before Commit returns
  std::optional<bool> done;
  OrderedCommit commit([&](Result<storage::CommitResult> r) { done = r.has_value(); });
  commit.Start(store, OnePut(), storage::Durability::kSync);
  EXPECT_FALSE(done.has_value());
  commit.Release();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(*done);
}

TEST(OrderedCommitTest, LateCallbackRunsWhenTheStoreCallsBack) {
  storage::MemoryStore inner;
  testing::TestStore store(inner);
  store.defer_callbacks = true;
  int runs = 0;
  OrderedCommit commit([&](Result<storage::CommitResult>) { ++runs; });
  commit.Start(store, OnePut(), storage::Durability::kSync);
  commit.Release();
  EXPECT_EQ(runs, 0);
  store.RunDeferred();
  EXPECT_EQ(runs, 1);
}

TEST(OrderedCommitTest, CallbackMayOutliveTheObject) {
  storage::MemoryStore inner;
  testing::TestStore store(inner);
  store.defer_callbacks = true;
  int runs = 0;
  {
    OrderedCommit commit([&](Result<storage::CommitResult>) { ++runs; });
    commit.Start(store, OnePut(), storage::Durability::kSync);
    commit.Release();
  }
  store.RunDeferred();
  EXPECT_EQ(runs, 1);
}

TEST(OrderedCommitTest, FailureIsPassedOn) {
  storage::MemoryStore inner;
  testing::TestStore store(inner);
  store.fail_commits = Unavailable("no");
  std::optional<Status> error;
  OrderedCommit commit([&](Result<storage::CommitResult> r) { error = r.error(); });
  commit.Start(store, OnePut(), storage::Durability::kSync);
  EXPECT_FALSE(error.has_value());
  commit.Release();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iothub::core
