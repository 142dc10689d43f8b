#pragma once

// Test-only: a real core::Hub (MemoryStore behind a store that can hold commits back, FakeClock,
// two manual shards) with an amqp::Endpoint, in-memory Proton clients (amqp_test_client.h), and
// helpers for devices, tokens, messages and the hub's queues. Include it from *_test.cc only.

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amqp/amqp_test_client.h"
#include "amqp/endpoint.h"
#include "amqp/message_codec_test_util.h"
#include "amqp/options.h"
#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "tests/testing/manual_executor.h"

namespace iothub::amqp {

// A hub with two shards and an AMQP endpoint, and helpers to make devices, tokens and messages.
class AmqpTest : public ::testing::Test {
 protected:
  static constexpr const char* kHost = "hub.example";

  void SetUp() override {
    core::HubOptions options;
    options.host_name = kHost;
    options.c2d.lock_timeout = std::chrono::seconds(60);
    options.c2d.max_queue_depth = 3;
    options.c2d.max_message_size = 4 * 1024;
    options.feedback.batch_size = 1;  // each record is a feedback message at once
    hub_ = std::make_unique<core::Hub>(std::move(options), store_, clock_,
                                       std::vector<Executor*>{&shard0_, &shard1_});
    Status opened = hub_->Open();
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    endpoint_ = std::make_unique<Endpoint>(*hub_, clock_, Options());
  }
  void TearDown() override {
    store_.Release();
    RunAll();
    clients_.clear();
    RunAll();
    endpoint_.reset();
    hub_.reset();
  }
  virtual AmqpOptions Options() const { return {}; }

  size_t RunAll() {
    size_t total = 0;
    while (size_t n = shard0_.RunAll() + shard1_.RunAll()) total += n;
    return total;
  }

  core::Device CreateDevice(const std::string& id) {
    core::Device d;
    d.id = id;
    auto created = hub_->registry().Create(d);
    EXPECT_TRUE(created.has_value()) << id;
    return created.value_or(core::Device{});
  }
  static std::string DeviceAudience(std::string_view id) {
    return std::string(kHost) + "/devices/" + std::string(id);
  }
  std::string DeviceToken(const core::Device& d, Duration ttl = std::chrono::hours(1)) {
    return core::auth::CreateSasToken(DeviceAudience(d.id), d.primary_key, clock_.Now() + ttl);
  }
  std::string PolicyToken(const std::string& policy, Duration ttl = std::chrono::hours(1)) {
    auto p = hub_->policies().Find(policy);
    EXPECT_TRUE(p.has_value()) << policy;
    return core::auth::CreateSasToken(kHost, p ? p->primary_key : "", clock_.Now() + ttl, policy);
  }

  // A client on shard 0 (the connection's shard; the device's may be the other one). The fixture
  // owns it: it outlives nothing of the hub's.
  TestClient& NewClient(ClientOptions options = {}) {
    clients_.push_back(std::make_unique<TestClient>(
        *endpoint_, 0, [this] { return RunAll(); }, std::move(options)));
    return *clients_.back();
  }
  // A client without SASL (as the Node SDKs) that put a token for `audience`.
  TestClient& Authorized(const std::string& token, const std::string& audience) {
    TestClient& client = NewClient();
    client.Open();
    auto response = client.PutToken(token, audience);
    EXPECT_TRUE(response.has_value());
    if (response) {
      EXPECT_EQ(response->status_code, 200) << response->description;
    }
    return client;
  }
  TestClient& DeviceClient(const core::Device& d) {
    return Authorized(DeviceToken(d), DeviceAudience(d.id));
  }
  TestClient& ServiceClient(const std::string& policy = "service") {
    return Authorized(PolicyToken(policy), kHost);
  }

  // An encoded message: a Data body, string message-id, `to`, application properties.
  static std::string MessageBytes(std::string_view body, std::string_view message_id = "",
                                  std::string_view to = "",
                                  std::vector<std::pair<std::string, std::string>> props = {}) {
    testing_util::MessagePtr m = testing_util::MakeMessage();
    if (!message_id.empty()) {
      pn_atom_t id;
      id.type = PN_STRING;
      id.u.as_bytes = pn_bytes(message_id.size(), message_id.data());
      pn_message_set_id(m.get(), id);
    }
    if (!to.empty()) pn_message_set_address(m.get(), std::string(to).c_str());
    if (!props.empty()) {
      pn_data_t* p = pn_message_properties(m.get());
      pn_data_put_map(p);
      pn_data_enter(p);
      for (const auto& [k, v] : props) {
        pn_data_put_string(p, pn_bytes(k.size(), k.data()));
        pn_data_put_string(p, pn_bytes(v.size(), v.data()));
      }
      pn_data_exit(p);
    }
    pn_message_set_inferred(m.get(), true);
    pn_data_put_binary(pn_message_body(m.get()), pn_bytes(body.size(), body.data()));
    return testing_util::Encode(m.get());
  }
  static std::string C2dTo(std::string_view device) {
    return "/devices/" + std::string(device) + "/messages/devicebound";
  }

  // Queues a C2D message for `device_id` through the hub and waits until it is durable.
  void EnqueueC2d(const std::string& device_id, core::Message m) {
    bool done = false;
    hub_->SendC2d(device_id, std::move(m), shard0_, [&](Result<uint64_t> r) {
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      done = true;
    });
    RunAll();
    EXPECT_TRUE(done);
  }
  // Depth of a device's C2D queue (read on its shard, as the threading contract asks).
  uint64_t C2dDepth(const std::string& device_id) {
    size_t shard = hub_->ShardOf(device_id);
    uint64_t depth = 0;
    (shard == 0 ? shard0_ : shard1_).Post([&] { depth = hub_->c2d(shard).Depth(device_id); });
    RunAll();
    return depth;
  }
  uint64_t FeedbackDepth() {
    uint64_t depth = 0;
    shard0_.Post([&] { depth = hub_->feedback().Depth(); });
    RunAll();
    return depth;
  }
  // Runs the hub's lock and TTL timers on every shard.
  void ProcessTimers() {
    shard0_.Post([this] { hub_->ProcessTimers(0); });
    shard1_.Post([this] { hub_->ProcessTimers(1); });
    RunAll();
  }
  // The endpoint's timers (AMQP time-outs, token expiry) on shard 0, then pumps every client.
  void Tick() {
    endpoint_->Tick(0);
    for (auto& c : clients_) c->Pump();
  }

  // Every telemetry record of `device_id`'s partition.
  std::vector<core::Message> Stored(const std::string& device_id) {
    auto read = hub_->telemetry().Read(hub_->telemetry().PartitionOf(device_id), 0, 100);
    EXPECT_TRUE(read.has_value());
    return read.value_or(std::vector<core::Message>{});
  }

  FakeClock clock_;
  HoldingStore store_;
  testing::ManualExecutor shard0_, shard1_;
  std::unique_ptr<core::Hub> hub_;
  std::unique_ptr<Endpoint> endpoint_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

}  // namespace iothub::amqp
