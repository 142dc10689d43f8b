#pragma once

// The Store conformance suite: one set of tests (store_conformance_*_test.cc) that every backend
// runs. A backend's test binary compiles those files (see memory/CMakeLists.txt) and instantiates
// the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
//                            ::testing::Values(StoreBackend{"Memory", factory}),
//                            StoreBackendName);

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace iothub::storage {

// Opens a fresh store keeping its files (if any) under `dir`, an empty directory. Returns null on
// failure (the test then fails).
using StoreFactory = std::function<std::unique_ptr<Store>(const std::string& dir)>;

struct StoreBackend {
  std::string name;  // test name suffix: letters and digits only
  StoreFactory factory;
};

// Keeps GoogleTest from dumping the factory's bytes in failure messages.
inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    store_ = GetParam().factory(dir_.str());
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_ != nullptr) store_->Close();
  }

  Result<CommitResult> Commit(WriteBatch batch, Durability durability = Durability::kSync) {
    return store_->CommitAndWait(std::move(batch), durability);
  }
  // Puts one record and returns its revision (0 after adding a test failure).
  uint64_t Put(std::string_view table, std::string_view key, std::string_view value) {
    WriteBatch batch;
    batch.Put(table, key, value);
    auto r = Commit(std::move(batch));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->revisions_or_ids.at(0) : 0;
  }
  uint64_t Append(std::string_view queue, std::string_view key, std::string_view value) {
    WriteBatch batch;
    batch.QueueAppend(queue, key, value);
    auto r = Commit(std::move(batch));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->revisions_or_ids.at(0) : 0;
  }
  uint64_t LogAppend(std::string_view log, uint32_t partition, Timestamp time,
                     std::string_view value) {
    WriteBatch batch;
    batch.LogAppend(log, partition, time, value);
    auto r = Commit(std::move(batch));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->revisions_or_ids.at(0) : 0;
  }

  iothub::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace iothub::storage
