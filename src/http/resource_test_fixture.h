#pragma once

// Test-only: the fixture every resource test of src/http shares. Include it from *_test.cc only.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "http/message.h"
#include "http/router.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::http {

// A real core::Hub (MemoryStore, FakeClock, two manual shards) and a Router, driven as the session
// drives it: requests go through the asynchronous Router::Dispatch with blocking handlers on a
// manual pool, and the answer comes once the test ran the executors. Everything runs on the test's
// thread.
//
// A test's SetUp calls OpenHub (with its options) and then registers its routes on router_.
class ResourceTest : public ::testing::Test {
 protected:
  static constexpr const char* kHost = "hub.example";

  // Builds and opens hub_ over `store` (default: store_) with host name kHost and the two shards.
  // Call it under ASSERT_NO_FATAL_FAILURE: it fails the test when Open fails.
  void OpenHub(core::HubOptions options = {}, storage::Store* store = nullptr) {
    options.host_name = kHost;
    hub_ = std::make_unique<core::Hub>(std::move(options), store ? *store : store_, clock_,
                                       std::vector<Executor*>{&shard0_, &shard1_});
    Status opened = hub_->Open();
    ASSERT_TRUE(opened.ok()) << opened.ToString();
  }

  // The hub goes before the derived fixture's members, which may include the store it uses; an
  // answer's stream (which reads the hub's telemetry log) goes before the hub.
  void TearDown() override {
    answer_.reset();
    hub_.reset();
  }

  // Registers device `id` (keys generated); the stored identity, or a failure and an empty one.
  core::Device CreateDevice(const std::string& id,
                            core::DeviceStatus status = core::DeviceStatus::kEnabled) {
    core::Device d;
    d.id = id;
    d.status = status;
    auto created = hub_->registry().Create(d);
    EXPECT_TRUE(created.has_value()) << id << ": " << created.error().ToString();
    return created.value_or(core::Device{});
  }

  // A token of the hub's shared access policy `policy`, for `scope` (default: the whole hub).
  std::string PolicyToken(const std::string& policy, std::string_view scope = kHost,
                          Duration ttl = std::chrono::hours(1)) {
    auto p = hub_->policies().Find(policy);
    EXPECT_TRUE(p.has_value()) << policy;
    return core::auth::CreateSasToken(std::string(scope), p ? p->primary_key : "",
                                      clock_.Now() + ttl, policy);
  }

  // A device token for `device_id` signed with `key` (any key: forged ones too).
  std::string DeviceToken(std::string_view device_id, const std::string& key,
                          Duration ttl = std::chrono::hours(1)) {
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/" + std::string(device_id),
                                      key, clock_.Now() + ttl);
  }
  // A device token of `device`, signed with its primary key.
  std::string DeviceToken(const core::Device& device, Duration ttl = std::chrono::hours(1)) {
    return DeviceToken(device.id, device.primary_key, ttl);
  }

  // A request as the session hands it to the router: `target` parsed into path and query (a
  // failure when it does not parse). No Authorization header unless `headers` has one.
  static std::shared_ptr<Request> MakeRequest(std::string method, std::string_view target,
                                              Headers headers = {}, std::string body = "") {
    auto request = std::make_shared<Request>();
    request->method = std::move(method);
    EXPECT_TRUE(ParseTarget(target, request.get()).ok()) << target;
    request->headers = std::move(headers);
    request->body = std::move(body);
    return request;
  }

  // Dispatches `request` on router_ (blocking handlers onto blocking_) without running any
  // executor. The answer lands in answer_ whenever it comes; answers_ counts them.
  void Start(std::shared_ptr<const Request> request) {
    answer_.reset();
    answers_ = 0;
    router_.Dispatch(
        std::move(request),
        [this](Response response) {
          ++answers_;
          answer_ = std::move(response);
        },
        &blocking_);
  }

  // Start, then runs every executor until all are quiet; the one answer (a failure when there was
  // none or more than one; status 0 when none came).
  Response Dispatch(std::shared_ptr<const Request> request) {
    std::string what = request->method + " " + request->target;
    Start(std::move(request));
    RunAll();
    EXPECT_EQ(answers_, 1) << what;
    return TakeAnswer();
  }

  // Moves the answer out of answer_ (so that it holds no stream); status 0 when none came.
  Response TakeAnswer() {
    std::optional<Response> answer = std::exchange(answer_, std::nullopt);
    return answer.value_or(Response{.status = 0, .headers = {}, .body = {}, .stream = {}});
  }

  // Runs the shards and the blocking pool until none has anything left to run.
  void RunAll() {
    while (shard0_.RunAll() + shard1_.RunAll() + blocking_.RunAll() > 0) {
    }
  }

  // "ErrorCode:<code>" from the Azure error body's Message, or "<no Azure body>".
  static std::string ErrorCode(const Response& r) {
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("Message") || !body["Message"].is_string()) {
      return "<no Azure body>";
    }
    std::string message = body["Message"];
    return message.substr(0, message.find(';'));
  }

  // The lock token of a delivery, from its quoted ETag; "<unquoted>" and a failure when the ETag
  // is missing, empty or not quoted.
  static std::string Lock(const Response& r) {
    auto etag = r.headers.find("ETag");
    if (etag == r.headers.end() || etag->second.size() < 3 || etag->second.front() != '"' ||
        etag->second.back() != '"') {
      ADD_FAILURE() << "no quoted ETag: " << r.status << " " << r.body;
      return "<unquoted>";
    }
    return etag->second.substr(1, etag->second.size() - 2);
  }

  FakeClock clock_;
  storage::MemoryStore store_;
  testing::ManualExecutor shard0_, shard1_;
  testing::ManualExecutor blocking_;  // the blocking-handler pool; also any other reply executor
  std::unique_ptr<core::Hub> hub_;
  Router router_;
  std::optional<Response> answer_;  // of the last Start
  int answers_ = 0;
};

}  // namespace iothub::http
