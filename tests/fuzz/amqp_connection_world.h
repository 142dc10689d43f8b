#pragma once

// The hub amqp_connection_fuzz runs each input against, shared with the test that writes its seed
// corpus (src/amqp/fuzz_seeds_test.cc): a real core::Hub over a MemoryStore with a FakeClock and
// two manually run shards, and an amqp::Endpoint. The host, the device keys and the policy keys
// are fixed, so the CBS put-tokens and SASL PLAIN passwords recorded in the seeds stay valid in
// every new World. Two devices exist; d1 has one C2D message waiting, and a feedback message
// waits for the service. Test and fuzz code only.

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "amqp/endpoint.h"
#include "amqp/options.h"
#include "base/clock.h"
#include "core/auth/policy.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::amqp::fuzz {

inline constexpr char kHost[] = "fuzz.example";
// base64 of "fuzzfuzz..." and "keyskeys..." (32 bytes each).
inline constexpr char kDeviceKey[] = "ZnV6emZ1enpmdXp6ZnV6emZ1enpmdXp6ZnV6emZ1eno=";
inline constexpr char kPolicyKey[] = "a2V5c2tleXNrZXlza2V5c2tleXNrZXlza2V5c2tleXM=";

// Small limits, so that inputs of a few KiB reach them.
inline AmqpOptions FuzzOptions() {
  AmqpOptions options;
  options.max_frame_size = 4096;
  options.max_message_bytes = 8 * 1024;
  options.link_credit = 8;
  options.max_sessions = 4;
  options.max_links = 8;
  return options;
}

class World {
 public:
  World() {
    // Policies with fixed keys: a store that holds policies keeps them (PolicyStore).
    storage::WriteBatch batch;
    for (core::auth::SharedAccessPolicy policy : core::auth::DefaultPolicies()) {
      policy.primary_key = kPolicyKey;
      policy.secondary_key = kPolicyKey;
      batch.Put(core::auth::kPoliciesTable, policy.name, core::auth::EncodePolicy(policy));
    }
    Require(store.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
    core::HubOptions options;
    options.host_name = kHost;
    options.c2d.max_queue_depth = 4;
    options.c2d.max_message_size = 2048;
    options.feedback.batch_size = 1;
    hub = std::make_unique<core::Hub>(std::move(options), store, clock,
                                      std::vector<Executor*>{&shard0, &shard1});
    Require(hub->Open().ok());
    for (const char* id : {"d1", "d2"}) {
      core::Device d;
      d.id = id;
      d.primary_key = kDeviceKey;
      d.secondary_key = kDeviceKey;
      Require(hub->registry().Create(d).has_value());
    }
    endpoint = std::make_unique<Endpoint>(*hub, clock, FuzzOptions());
    // A feedback message (d2's completed message), then a C2D message waiting for d1.
    Enqueue("d2", "c2d-0");
    size_t shard = hub->ShardOf("d2");
    hub->shard_executor(shard).Post([this, shard] {
      std::optional<core::Message> m = hub->c2d(shard).ReceiveAndLock("d2");
      Require(m.has_value());
      hub->c2d(shard).Complete("d2", m->lock_token, [](Status s) { Require(s.ok()); });
    });
    RunAll();
    Enqueue("d1", "c2d-1");
  }
  ~World() {
    RunAll();
    endpoint.reset();
    hub.reset();
  }

  size_t RunAll() {
    size_t total = 0;
    while (size_t n = shard0.RunAll() + shard1.RunAll()) total += n;
    return total;
  }
  void ProcessTimers() {
    shard0.Post([this] { hub->ProcessTimers(0); });
    shard1.Post([this] { hub->ProcessTimers(1); });
    RunAll();
  }

  // Tokens valid for a year from the World's start.
  std::string DeviceToken(const std::string& id) const {
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/" + id, kDeviceKey,
                                      clock.Now() + std::chrono::hours(24 * 365));
  }
  std::string PolicyToken(const std::string& policy) const {
    return core::auth::CreateSasToken(kHost, kPolicyKey, clock.Now() + std::chrono::hours(24 * 365),
                                      policy);
  }

  FakeClock clock;
  storage::MemoryStore store;
  testing::ManualExecutor shard0, shard1;
  std::unique_ptr<core::Hub> hub;
  std::unique_ptr<Endpoint> endpoint;

 private:
  static void Require(bool ok) {
    if (!ok) std::abort();
  }
  void Enqueue(const std::string& device, const std::string& id) {
    core::Message m;
    m.message_id = id;
    m.body = "hello";
    m.ack = core::AckMode::kFull;
    m.properties = {{"Property", "PropMsg_0"}};
    bool done = false;
    hub->SendC2d(device, std::move(m), shard0, [&done](Result<uint64_t> r) {
      Require(r.has_value());
      done = true;
    });
    RunAll();
    Require(done);
  }
};

}  // namespace iothub::amqp::fuzz
