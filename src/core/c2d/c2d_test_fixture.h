#pragma once

// Shared set-up of the c2d tests (not part of the library): a MemoryStore, a FakeClock and one
// ManualExecutor driving a C2dQueues wired to a FeedbackQueue, as the daemon wires them.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "core/c2d/c2d_queues.h"
#include "core/c2d/feedback_queue.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::core {

// One parsed record of a feedback message body.
struct ParsedFeedback {
  std::string original_message_id;
  std::string enqueued_time_utc;
  std::string status_code;
  std::string description;
  std::string device_id;
  std::string device_generation_id;
};

class C2dFixture : public ::testing::Test {
 protected:
  C2dFixture() {
    spdlog::set_level(spdlog::level::err);  // failures under test log warnings by design
    Start();
  }

  // Builds fresh queue objects over the same store, as a restarted hub would.
  void Start() {
    feedback_ =
        std::make_unique<FeedbackQueue>(store_, clock_, executor_, "testhub", feedback_limits_);
    ASSERT_TRUE(feedback_->Recover().ok());
    queues_ = std::make_unique<C2dQueues>(
        store_, clock_, executor_,
        [this](std::string_view id) -> std::optional<DeviceInfo> {
          auto it = devices_.find(std::string(id));
          if (it == devices_.end()) return std::nullopt;
          return DeviceInfo{.generation_id = it->second};
        },
        limits_);
    queues_->SetFeedbackCallback(
        [this](std::vector<StoredFeedbackRecord> r) { feedback_->AddRecords(std::move(r)); });
    queues_->AddAvailableListener([this](const std::string& id) { available_.push_back(id); });
    FeedbackQueue* feedback = feedback_.get();
    ASSERT_TRUE(queues_
                    ->Recover({},
                              [feedback](std::string_view id, uint64_t seq) {
                                return feedback->HasRecoveredOutcome(id, seq);
                              })
                    .ok());
    executor_.RunAll();
  }

  void Restart() {
    executor_.RunAll();
    queues_.reset();
    feedback_.reset();
    Start();
  }

  static Message Msg(std::string body, AckMode ack = AckMode::kNone, std::string id = "") {
    Message m;
    m.body = std::move(body);
    m.ack = ack;
    m.message_id = id.empty() ? "mid-" + m.body : std::move(id);
    return m;
  }

  Result<uint64_t> Send(std::string_view device, Message m) {
    std::optional<Result<uint64_t>> out;
    queues_->Enqueue(device, std::move(m), [&](Result<uint64_t> r) { out = std::move(r); });
    executor_.RunAll();
    if (!out) return Internal("enqueue never answered");
    return *out;
  }

  uint64_t SendOk(std::string_view device, Message m) {
    Result<uint64_t> r = Send(device, std::move(m));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(0);
  }

  template <typename Fn>
  Status Settle(Fn fn) {
    std::optional<Status> out;
    fn([&](Status s) { out = std::move(s); });
    executor_.RunAll();
    if (!out) return Internal("settle never answered");
    return *out;
  }
  Status Complete(std::string_view device, std::string_view token) {
    return Settle([&](auto done) { queues_->Complete(device, token, done); });
  }
  Status Reject(std::string_view device, std::string_view token) {
    return Settle([&](auto done) { queues_->Reject(device, token, done); });
  }
  Status Abandon(std::string_view device, std::string_view token) {
    return Settle([&](auto done) { queues_->Abandon(device, token, done); });
  }
  Status Release(std::string_view device, std::string_view token) {
    return Settle([&](auto done) { queues_->Release(device, token, done); });
  }

  Result<uint64_t> Purge(std::string_view device) {
    std::optional<Result<uint64_t>> out;
    queues_->Purge(device, [&](Result<uint64_t> r) { out = std::move(r); });
    executor_.RunAll();
    if (!out) return Internal("purge never answered");
    return *out;
  }

  std::optional<Message> Receive(std::string_view device,
                                 std::optional<Duration> lock_timeout = {}) {
    auto m = queues_->ReceiveAndLock(device, lock_timeout);
    executor_.RunAll();
    return m;
  }

  void Advance(Duration d) {
    clock_.Advance(d);
    queues_->ProcessTimers();
    feedback_->ProcessTimers();
    executor_.RunAll();
  }

  static std::vector<ParsedFeedback> ParseBody(const std::string& body) {
    std::vector<ParsedFeedback> out;
    nlohmann::json array = nlohmann::json::parse(body);
    for (const auto& r : array) {
      out.push_back(
          {r.at("originalMessageId").get<std::string>(), r.at("enqueuedTimeUtc").get<std::string>(),
           r.at("statusCode").get<std::string>(), r.at("description").get<std::string>(),
           r.at("deviceId").get<std::string>(), r.at("deviceGenerationId").get<std::string>()});
    }
    return out;
  }

  // Flushes pending records, then receives and completes every feedback message, returning all
  // records in order.
  std::vector<ParsedFeedback> DrainFeedback() {
    executor_.RunAll();
    feedback_->Flush();
    executor_.RunAll();
    std::vector<ParsedFeedback> out;
    while (auto m = feedback_->ReceiveAndLock()) {
      for (auto& r : ParseBody(m->body)) out.push_back(std::move(r));
      std::optional<Status> s;
      feedback_->Complete(m->lock_token, [&](Status st) { s = st; });
      executor_.RunAll();
      EXPECT_TRUE(s && s->ok());
    }
    return out;
  }

  // Status codes of every feedback record, in order.
  std::vector<std::string> FeedbackCodes() {
    std::vector<std::string> codes;
    for (const auto& r : DrainFeedback()) codes.push_back(r.status_code);
    return codes;
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  testing::ManualExecutor executor_;
  std::map<std::string, std::string> devices_{{"d1", "gen-1"}, {"d2", "gen-2"}};
  C2dLimits limits_;
  FeedbackLimits feedback_limits_;
  std::unique_ptr<FeedbackQueue> feedback_;
  std::unique_ptr<C2dQueues> queues_;
  std::vector<std::string> available_;
};

}  // namespace iothub::core
