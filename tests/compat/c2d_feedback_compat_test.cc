// Every C2D feedback outcome and send error of issue 5's seed scenario through the official Node
// SDKs: azure-iothub's Client over AMQP (5671) sends and receives the feedback, azure-iot-device
// over Amqp settles (the Mqtt transport can only complete). c2d_feedback_compat.js runs every case
// once, concurrently, each on a device of its own; each test here judges one case.
//
// The hub: --c2d-max-delivery-count 2 (a dead-letter after 3 abandoned deliveries instead of 11),
// --c2d-default-ttl 3 (the message meant to expire carries no expiry and gets this default; every
// other message carries an explicit expiryTimeUtc 10 minutes ahead, but for the short-expiry case),
// feedback batches after 300 ms.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/compat/node_sdk.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

class C2dFeedbackCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_ = new std::string();
    run_ = new SuiteRun(RunSuiteScript(
        "c2d_feedback_compat.js",
        {"azure-iothub", "azure-iot-common", "azure-iot-device", "azure-iot-device-amqp"},
        {"--shards", "2", "--feedback-batch-interval-ms", "300", "--c2d-max-delivery-count", "2",
         "--c2d-default-ttl", "3"},
        {{"owner", "iothubowner"}, {"service", "service"}}, /*mqtt_port=*/0, /*amqp_port=*/5671,
        std::chrono::minutes(2), log_));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete log_;
  }
  void SetUp() override {
    ASSERT_EQ(run_->error, "") << "cannot run the C2D feedback cases against iothubd";
    ASSERT_EQ(R("open")["ok"], true) << R("open") << Log();
  }

  static json R(const char* step) { return run_->Step(step); }
  static std::string Log() { return HubLogTail(*log_); }
  static std::string GenerationId(const char* device) {
    return R("open")["generationIds"].value(device, "");
  }
  // Every feedback record of `device` the service received during the whole run.
  static json AllRecords(const char* device) {
    return R("allRecords")["byDevice"].value(device, json::array());
  }
  // The record says what the case expects of it.
  static void ExpectRecord(const json& record, const char* device, const char* message_id,
                           const char* status) {
    EXPECT_EQ(record.value("originalMessageId", ""), message_id) << record;
    EXPECT_EQ(record.value("deviceId", ""), device) << record;
    EXPECT_EQ(record.value("deviceGenerationId", ""), GenerationId(device)) << record;
    EXPECT_EQ(record.value("statusCode", ""), status) << record;
    EXPECT_FALSE(record.value("enqueuedTimeUtc", "").empty()) << record;
  }

  static inline SuiteRun* run_ = nullptr;
  static inline std::string* log_ = nullptr;
};

TEST_F(C2dFeedbackCompatTest, RejectingAmqpDeviceGivesRejected) {
  json r = R("reject");
  ASSERT_EQ(r["ok"], true) << r << Log();
  EXPECT_EQ(r["sent"], "MessageEnqueued") << r;
  ASSERT_EQ(r["deliveries"].size(), 1u) << r;
  EXPECT_EQ(r["deliveries"][0].value("settled", json()), "MessageRejected") << r;
  ExpectRecord(r["record"], "fb-reject", "reject-1", "Rejected");
  EXPECT_EQ(AllRecords("fb-reject").size(), 1u) << AllRecords("fb-reject");
}

TEST_F(C2dFeedbackCompatTest, AbandoningPastMaxDeliveryCountGivesDeliveryCountExceeded) {
  json r = R("abandon");
  ASSERT_EQ(r["ok"], true) << r << Log();
  // Deliveries 0, 1 and 2 are abandoned; the third abandon takes the count past 2.
  ASSERT_EQ(r["deliveries"].size(), 3u) << r;
  for (const json& d : r["deliveries"]) {
    EXPECT_EQ(d.value("messageId", ""), "abandon-1") << d;
    EXPECT_EQ(d.value("settled", json()), "MessageAbandoned") << d;
  }
  ExpectRecord(r["record"], "fb-abandon", "abandon-1", "DeliveryCountExceeded");
  EXPECT_EQ(AllRecords("fb-abandon").size(), 1u) << AllRecords("fb-abandon");
}

TEST_F(C2dFeedbackCompatTest, MessageWhoseTtlRunsOutBeforeTheDeviceConnectsGivesExpired) {
  json r = R("expired");
  ASSERT_EQ(r["ok"], true) << r << Log();
  // The first record is the Expired one, not before the 3 s default TTL.
  ExpectRecord(r["record"], "fb-expired", "expired-1", "Expired");
  EXPECT_GE(r.value("expiredAfterMs", 0), 2900) << r;
  // Only the message with its own 10-minute expiryTimeUtc reaches the device, and succeeds.
  ASSERT_EQ(r["deliveries"].size(), 1u) << r;
  EXPECT_EQ(r["deliveries"][0].value("messageId", ""), "expiry-explicit") << r;
  ASSERT_EQ(r["records"].size(), 2u) << r;
  ExpectRecord(r["records"][1], "fb-expired", "expiry-explicit", "Success");
  EXPECT_EQ(AllRecords("fb-expired").size(), 2u) << AllRecords("fb-expired");
}

TEST_F(C2dFeedbackCompatTest, PurgeGivesPurgedForEachQueuedMessage) {
  json r = R("purge");
  ASSERT_EQ(r["ok"], true) << r << Log();
  EXPECT_EQ(r["purged"]["status"], 200) << r;
  EXPECT_EQ(r["purged"]["result"].value("totalMessagesPurged", -1), 2) << r;
  EXPECT_EQ(r["purged"]["result"].value("deviceId", ""), "fb-purge") << r;
  ASSERT_EQ(r["records"].size(), 2u) << r;
  std::set<std::string> ids;
  for (const json& record : r["records"]) {
    ExpectRecord(record, "fb-purge", record.value("originalMessageId", "").c_str(), "Purged");
    ids.insert(record.value("originalMessageId", ""));
  }
  EXPECT_EQ(ids, (std::set<std::string>{"purge-1", "purge-2"}));
  EXPECT_EQ(AllRecords("fb-purge").size(), 2u) << AllRecords("fb-purge");
}

TEST_F(C2dFeedbackCompatTest, FiftyFirstMessageToAnOfflineDeviceFailsWithQueueDepthExceeded) {
  json r = R("queueDepth");
  ASSERT_EQ(r["ok"], true) << r << Log();
  EXPECT_EQ(r["accepted"], 50) << r;
  EXPECT_EQ(r["sent51"]["ok"], false) << r;
  EXPECT_EQ(r["sent51"]["error"], "DeviceMaximumQueueDepthExceededError") << r;
  EXPECT_EQ(AllRecords("fb-depth").size(), 0u) << AllRecords("fb-depth");
}

TEST_F(C2dFeedbackCompatTest, SendToAnUnknownDeviceFailsWithDeviceNotFound) {
  json r = R("unknownDevice");
  EXPECT_EQ(r["ok"], false) << r;
  EXPECT_EQ(r["error"], "DeviceNotFoundError") << r << Log();
  EXPECT_EQ(AllRecords("no-such-device").size(), 0u) << AllRecords("no-such-device");
}

TEST_F(C2dFeedbackCompatTest, AckModesProduceExactlyTheRecordsTheyAskFor) {
  json r = R("ackModes");
  ASSERT_EQ(r["ok"], true) << r << Log();
  ASSERT_EQ(r["deliveries"].size(), 8u) << r;
  for (const json& d : r["deliveries"]) {
    std::string id = d.value("messageId", "");
    bool reject = id.size() > 7 && id.substr(id.size() - 7) == "-reject";
    EXPECT_EQ(d.value("settled", json()), reject ? "MessageRejected" : "MessageCompleted") << d;
  }
  // none: nothing; positive: Success only; negative: Rejected only; full: both. Nothing more
  // arrived during the quiet wait after them.
  json all = AllRecords("fb-ack");
  std::set<std::string> got;
  for (const json& record : all) {
    got.insert(record.value("originalMessageId", "") + " " + record.value("statusCode", ""));
    EXPECT_EQ(record.value("deviceGenerationId", ""), GenerationId("fb-ack")) << record;
  }
  EXPECT_EQ(got,
            (std::set<std::string>{"ack-positive-complete Success", "ack-negative-reject Rejected",
                                   "ack-full-complete Success", "ack-full-reject Rejected"}))
      << all;
  EXPECT_EQ(all.size(), 4u) << all;
}

TEST_F(C2dFeedbackCompatTest, NoRecordForAnyOtherDevice) {
  json by_device = R("allRecords")["byDevice"];
  for (const auto& [device, records] : by_device.items()) {
    EXPECT_TRUE(std::set<std::string>(
                    {"fb-reject", "fb-abandon", "fb-expired", "fb-purge", "fb-ack", "fb-short"})
                    .count(device))
        << device << ": " << records;
  }
}

// Azure's samples set expiryTimeUtc = now + 10 s or now + 60 s; the 1 minute minimum is for the
// hub's default TTL only (PROTOCOL.md, "C2D limits"). Both messages are taken and delivered.
TEST_F(C2dFeedbackCompatTest, ASendersExpiryUnderAMinuteIsAcceptedAndDelivered) {
  json r = R("shortExpiry");
  ASSERT_EQ(r["ok"], true) << r << Log();
  EXPECT_EQ(r["sent"], json::array({"MessageEnqueued", "MessageEnqueued"})) << r;
  ASSERT_EQ(r["deliveries"].size(), 2u) << r;
  std::set<std::string> ids;
  for (const json& record : r["records"]) {
    EXPECT_EQ(record.value("statusCode", ""), "Success") << record;
    ids.insert(record.value("originalMessageId", ""));
  }
  EXPECT_EQ(ids, (std::set<std::string>{"short-10s", "short-60s"})) << r;
}

}  // namespace
}  // namespace iothub::testing
