#pragma once

// Test-only: a real core::Hub (MemoryStore, FakeClock, two manual shards) with an mqtt::Endpoint,
// and in-memory clients that speak to it packet by packet. Include it from *_test.cc only.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "mqtt/endpoint.h"
#include "mqtt/packets.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::mqtt {

// What a connection wrote, and whether it asked to pause or close.
class RecordingOutput final : public ConnectionOutput {
 public:
  void Write(std::string_view bytes) override { written.append(bytes); }
  void PauseReading() override { paused = true; }
  void ResumeReading() override { paused = false; }
  void Close() override { closed = true; }

  std::string written;
  bool paused = false;
  bool closed = false;
};

// One client connection: sends packets, reads what the server wrote.
class TestClient {
 public:
  TestClient(Endpoint& endpoint, size_t shard)
      : output_(std::make_shared<RecordingOutput>()),
        connection_(endpoint.Open(shard, output_, "test-client")) {}

  void Send(const Packet& packet) { connection_->OnData(EncodePacket(packet)); }
  void SendBytes(std::string_view bytes) { connection_->OnData(bytes); }
  // The transport ends (as a ByteStream reports it).
  void Drop() { connection_->OnClosed(); }

  // Every packet written since the last call; a failure when the bytes do not decode.
  std::vector<Packet> Received() {
    decoder_.Feed(std::string_view(output_->written).substr(read_));
    read_ = output_->written.size();
    std::vector<Packet> out = std::exchange(unread_, {});
    while (true) {
      Packet p;
      std::string why;
      DecodeStatus status = decoder_.Next(&p, &why);
      if (status == DecodeStatus::kIncomplete) break;
      if (status == DecodeStatus::kMalformed) {
        ADD_FAILURE() << "the server wrote a malformed packet: " << why;
        break;
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  // Puts packets back, to be returned first by the next Received().
  void Unread(std::vector<Packet> packets) { unread_ = std::move(packets); }

  bool closed() const { return output_->closed; }
  bool paused() const { return output_->paused; }
  Connection& connection() { return *connection_; }

 private:
  std::shared_ptr<RecordingOutput> output_;
  std::shared_ptr<Connection> connection_;
  Decoder decoder_{1 << 20};
  size_t read_ = 0;
  std::vector<Packet> unread_;
};

class SessionTest : public ::testing::Test {
 protected:
  static constexpr const char* kHost = "hub.example";

  void SetUp() override {
    core::HubOptions options;
    options.host_name = kHost;
    options.c2d.lock_timeout = std::chrono::seconds(60);
    options.session_expiry = SessionExpiry();
    hub_ = std::make_unique<core::Hub>(std::move(options), store_, clock_,
                                       std::vector<Executor*>{&shard0_, &shard1_});
    Status opened = hub_->Open();
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    endpoint_ = std::make_unique<Endpoint>(*hub_, clock_, Options());
  }
  void TearDown() override {
    RunAll();
    endpoint_.reset();
    hub_.reset();
  }
  virtual MqttOptions Options() const { return {}; }
  virtual Duration SessionExpiry() const { return core::HubOptions{}.session_expiry; }

  // The hub stops and starts again over the same store, as after a kill: the endpoint and the hub
  // go (their connections too: clients of before must not be used after) and come back.
  void Restart() {
    RunAll();
    endpoint_->CloseAll();
    endpoint_.reset();
    hub_->Close();
    hub_.reset();
    SetUp();
  }

  core::Device CreateDevice(const std::string& id,
                            core::DeviceStatus status = core::DeviceStatus::kEnabled) {
    core::Device d;
    d.id = id;
    d.status = status;
    auto created = hub_->registry().Create(d);
    EXPECT_TRUE(created.has_value()) << id;
    return created.value_or(core::Device{});
  }
  std::string DeviceToken(std::string_view id, const std::string& key,
                          Duration ttl = std::chrono::hours(1)) {
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/" + std::string(id), key,
                                      clock_.Now() + ttl);
  }
  std::string PolicyToken(const std::string& policy, std::string_view scope = kHost) {
    auto p = hub_->policies().Find(policy);
    EXPECT_TRUE(p.has_value()) << policy;
    return core::auth::CreateSasToken(std::string(scope), p ? p->primary_key : "",
                                      clock_.Now() + std::chrono::hours(1), policy);
  }

  // The CONNECT the Node SDK sends (mqtt-research.md, section 1).
  static Connect SdkConnect(const std::string& id, std::string token, bool clean = false) {
    Connect c;
    c.clean_session = clean;
    c.keep_alive = 180;
    c.client_id = id;
    c.user_name = std::string(kHost) + "/" + id +
                  "/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4";
    c.password = std::move(token);
    return c;
  }

  // A client on `shard` (the connection's own shard; the device's may be another).
  std::unique_ptr<TestClient> NewClient(size_t shard = 0) {
    return std::make_unique<TestClient>(*endpoint_, shard);
  }

  // Connects `device` and expects CONNACK 0; returns the client.
  std::unique_ptr<TestClient> Connected(const core::Device& device, bool clean = false,
                                        size_t shard = 0, bool* session_present = nullptr) {
    auto client = NewClient(shard);
    client->Send(SdkConnect(device.id, DeviceToken(device.id, device.primary_key), clean));
    RunAll();
    auto packets = client->Received();
    EXPECT_GE(packets.size(), 1u);
    if (!packets.empty()) {
      auto* connack = std::get_if<Connack>(&packets[0]);
      EXPECT_NE(connack, nullptr);
      if (connack != nullptr) {
        EXPECT_EQ(connack->return_code, ConnectReturnCode::kAccepted);
        if (session_present != nullptr) *session_present = connack->session_present;
      }
      packets.erase(packets.begin());
      client->Unread(std::move(packets));  // deliveries that followed the CONNACK
    }
    return client;
  }

  // Queues a C2D message for `device_id` and waits until it is durable.
  void SendC2d(const std::string& device_id, core::Message m) {
    bool done = false;
    hub_->SendC2d(device_id, std::move(m), shard0_, [&](Result<uint64_t> r) {
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      done = true;
    });
    RunAll();
    EXPECT_TRUE(done);
  }

  void RunAll() {
    while (shard0_.RunAll() + shard1_.RunAll() > 0) {
    }
  }

  FakeClock clock_;
  storage::MemoryStore store_;
  testing::ManualExecutor shard0_, shard1_;
  std::unique_ptr<core::Hub> hub_;
  std::unique_ptr<Endpoint> endpoint_;
};

}  // namespace iothub::mqtt
