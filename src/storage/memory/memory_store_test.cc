#include "storage/memory/memory_store.h"

#include <memory>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
                         ::testing::Values(StoreBackend{
                             "Memory",
                             [](const std::string&) -> std::unique_ptr<Store> {
                               return std::make_unique<MemoryStore>();
                             }}),
                         StoreBackendName);

TEST(MemoryStoreTest, CallbackRunsBeforeCommitReturns) {
  MemoryStore store;
  bool ran = false;
  WriteBatch batch;
  batch.Put("t", "k", "v");
  store.Commit(std::move(batch), Durability::kAsync, [&](Result<CommitResult> r) {
    EXPECT_TRUE(r.has_value());
    ran = true;
  });
  EXPECT_TRUE(ran);
}

TEST(MemoryStoreTest, CallbackMayCommitAgain) {
  // The callback runs after the mutex is released, so re-entering the store does not deadlock.
  MemoryStore store;
  WriteBatch batch;
  batch.Put("t", "a", "1");
  store.Commit(std::move(batch), Durability::kSync, [&](Result<CommitResult>) {
    WriteBatch next;
    next.Put("t", "b", "2");
    EXPECT_TRUE(store.CommitAndWait(std::move(next), Durability::kSync).has_value());
  });
  EXPECT_EQ(store.Get("t", "b")->value, "2");
}

}  // namespace
}  // namespace iothub::storage
