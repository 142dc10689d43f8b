#include "storage/rocksdb/rocksdb_store.h"

#include <memory>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

std::unique_ptr<Store> OpenForConformance(const std::string& dir) {
  auto store = OpenRocksDbStore({.path = dir + "/db"});
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return store ? std::move(*store) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
                         ::testing::Values(StoreBackend{"RocksDb", OpenForConformance}),
                         StoreBackendName);

}  // namespace
}  // namespace iothub::storage
