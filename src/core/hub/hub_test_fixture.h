#pragma once

// The fixture of the hub's own tests (hub_test.cc, presence_test.cc).

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hub/hub.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::core {

// A hub over a MemoryStore with two manually driven shards, so a test decides when every shard
// runs: the wiring between registry, C2D queues, feedback and auth is what is under test here
// (each component has its own exhaustive tests).
class HubFixture : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    HubOptions options;
    options.host_name = "hub.example";
    options.feedback.batch_size = 1;  // one record per feedback message: easy to observe
    hub_ =
        std::make_unique<Hub>(options, store_, clock_, std::vector<Executor*>{&shard0_, &shard1_});
    ASSERT_TRUE(hub_->Open().ok());
  }

  void Restart() {
    RunAll();
    hub_->Close();
    hub_.reset();
    Start();
  }

  void RunAll() {
    while (shard0_.RunAll() + shard1_.RunAll() + reply_.RunAll() > 0) {
    }
  }

  Device CreateDevice(const std::string& id) {
    Device d;
    d.id = id;
    auto created = hub_->registry().Create(d);
    EXPECT_TRUE(created.has_value()) << created.error().ToString();
    return created.value_or(Device{});
  }

  Result<uint64_t> Send(const std::string& id, Message m) {
    std::optional<Result<uint64_t>> result;
    hub_->SendC2d(id, std::move(m), reply_, [&](Result<uint64_t> r) { result = std::move(r); });
    RunAll();
    EXPECT_TRUE(result.has_value());
    return result.value_or(Result<uint64_t>(Internal("no reply")));
  }

  C2dQueues& QueuesOf(const std::string& id) { return hub_->c2d(hub_->ShardOf(id)); }

  FakeClock clock_;
  storage::MemoryStore store_;
  testing::ManualExecutor shard0_, shard1_, reply_;
  std::unique_ptr<Hub> hub_;
};

}  // namespace iothub::core
