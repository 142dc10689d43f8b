// The HTTPS device transport of a real iothubd as the official device SDK sees it
// (azure-iot-device Client + azure-iot-device-http, pinned in package.json): device_http_compat.js
// sends telemetry, receives and settles C2D messages sent through the hub's REST extension, reads
// the telemetry and feedback back, and prints what the SDK and the hub returned; the tests here
// judge that output, one behaviour each.
//
// Like registry_compat_test.cc, the hub runs on a loopback address of its own with HTTPS on port
// 443, the only port the SDK knows (node_sdk.h). Feedback batches are sent after 200 ms instead of
// 15 s so that the feedback step takes a moment, not a quarter of a minute.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/compat/node_sdk.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

constexpr char kDevice[] = "http-dev-1";

// Runs the hub and device_http_compat.js once for the whole suite; each test checks one part.
class DeviceHttpCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run_ = new SuiteRun(RunSuiteScript(
        "device_http_compat.js", {"azure-iot-device", "azure-iot-device-http", "azure-iothub"},
        {"--shards", "2", "--feedback-batch-interval-ms", "200"},
        {{"owner", "iothubowner"}, {"device", "device"}, {"service", "service"}}));
  }

  static void TearDownTestSuite() { delete run_; }

  void SetUp() override {
    ASSERT_EQ(run_->error, "") << "cannot run the Node device SDK against iothubd";
  }

  // The result of one step of device_http_compat.js.
  static json R(const char* step) { return run_->Step(step); }

  // The telemetry events the device sent, in log order.
  static json Events() { return R("telemetry").value("events", json::array()); }

  // The deliveries of C2D message `id`, in arrival order.
  static std::vector<json> Deliveries(const std::string& id) {
    std::vector<json> out;
    for (const json& d : R("receive").value("deliveries", json::array())) {
      if (d.value("messageId", "") == id) out.push_back(d);
    }
    return out;
  }

  // The feedback records about C2D message `id`.
  static std::vector<json> FeedbackFor(const std::string& id) {
    std::vector<json> out;
    for (const json& r : R("feedback").value("records", json::array())) {
      if (r.value("originalMessageId", "") == id) out.push_back(r);
    }
    return out;
  }

  static inline SuiteRun* run_ = nullptr;
};

TEST_F(DeviceHttpCompatTest, SendEventIsAcceptedWith204) {
  for (const char* step : {"sendEvent", "sendEventEmpty", "sendEventBatch"}) {
    json sent = R(step);
    ASSERT_EQ(sent["ok"], true) << step << ": " << sent;
    EXPECT_EQ(sent["result"], "MessageEnqueued") << step;
    EXPECT_EQ(sent["status"], 204) << step;
  }
}

TEST_F(DeviceHttpCompatTest, TelemetryHoldsExactlyTheEventsSent) {
  json telemetry = R("telemetry");
  ASSERT_EQ(telemetry["status"], 200) << telemetry;
  std::vector<std::string> bodies;
  for (const json& e : Events()) bodies.push_back(e.value("bodyText", "<no bodyText>"));
  // One single event, the empty one, the batch of three in order; not the oversized one.
  EXPECT_EQ(bodies, (std::vector<std::string>{"{\"temperature\":21.5}", "", "batch-1", "batch-2",
                                              "batch-3"}))
      << Events();
}

TEST_F(DeviceHttpCompatTest, SingleEventKeepsPropertiesAndSystemProperties) {
  ASSERT_GE(Events().size(), 1u) << R("telemetry");
  json event = Events()[0];
  EXPECT_EQ(event["deviceId"], kDevice);
  EXPECT_EQ(event["properties"], json({{"color", "red"}, {"level", "3"}})) << event;
  json system = event["systemProperties"];
  EXPECT_EQ(system["message-id"], "evt-1") << event;
  EXPECT_EQ(system["correlation-id"], "corr-1") << event;
  EXPECT_EQ(system["content-type"], "application/json") << event;
  EXPECT_EQ(system["content-encoding"], "utf-8") << event;
  EXPECT_EQ(system["iothub-connection-device-id"], kDevice) << event;
  EXPECT_EQ(system["iothub-connection-auth-method"].is_string(), true) << event;
  EXPECT_EQ(system["iothub-enqueuedtime"].is_string(), true) << event;
}

TEST_F(DeviceHttpCompatTest, EmptyBodyEventIsKept) {
  ASSERT_GE(Events().size(), 2u) << R("telemetry");
  json event = Events()[1];
  EXPECT_EQ(event["body"], "") << event;
  EXPECT_EQ(event["systemProperties"]["message-id"], "evt-empty") << event;
  EXPECT_EQ(event.value("properties", json::object()), json::object()) << event;
}

TEST_F(DeviceHttpCompatTest, BatchEventsKeepTheirOwnProperties) {
  ASSERT_EQ(Events().size(), 5u) << R("telemetry");
  EXPECT_EQ(Events()[2].value("properties", json::object()), json({{"seq", "1"}})) << Events()[2];
  EXPECT_EQ(Events()[3].value("properties", json::object()), json::object()) << Events()[3];
  EXPECT_EQ(Events()[4].value("properties", json::object()),
            json({{"seq", "3"}, {"kind", "batch"}}))
      << Events()[4];
  for (int i = 2; i < 5; ++i) {
    EXPECT_EQ(Events()[i]["systemProperties"]["iothub-connection-device-id"], kDevice);
  }
}

TEST_F(DeviceHttpCompatTest, OversizedEventIsMessageTooLargeError) {
  json large = R("sendEventTooLarge");
  EXPECT_EQ(large["error"], "MessageTooLargeError") << large;
  EXPECT_EQ(large["status"], 413) << large;
}

TEST_F(DeviceHttpCompatTest, C2dSendAnswers201WithSequenceNumbers) {
  int64_t previous = 0;
  for (const char* step : {"c2dSendComplete", "c2dSendReject", "c2dSendAbandon", "c2dSendEmpty"}) {
    json sent = R(step);
    ASSERT_EQ(sent["status"], 201) << step << ": " << sent;
    EXPECT_EQ(sent["body"]["deviceId"], kDevice) << sent;
    ASSERT_TRUE(sent["body"]["sequenceNumber"].is_number_integer()) << sent;
    int64_t sequence = sent["body"]["sequenceNumber"];
    EXPECT_GT(sequence, previous) << step;
    previous = sequence;
  }
  EXPECT_EQ(R("c2dSendComplete")["body"]["messageId"], "c2d-1");
  EXPECT_EQ(R("c2dSendUnknownDevice")["status"], 404) << R("c2dSendUnknownDevice");
}

TEST_F(DeviceHttpCompatTest, EveryC2dMessageArrivesAndIsSettled) {
  json receive = R("receive");
  EXPECT_EQ(receive["timedOut"], false) << receive;
  EXPECT_EQ(Deliveries("c2d-1").size(), 1u) << receive;
  EXPECT_EQ(Deliveries("c2d-2").size(), 1u) << receive;
  EXPECT_EQ(Deliveries("c2d-3").size(), 2u) << receive;  // abandoned once, then completed
  EXPECT_EQ(Deliveries("c2d-4").size(), 1u) << receive;
  EXPECT_EQ(receive["deliveries"].size(), 5u) << receive;
  // The queue's order: the first three arrive before anything else.
  ASSERT_GE(receive["deliveries"].size(), 3u);
  EXPECT_EQ(receive["deliveries"][0]["messageId"], "c2d-1");
  EXPECT_EQ(receive["deliveries"][1]["messageId"], "c2d-2");
  EXPECT_EQ(receive["deliveries"][2]["messageId"], "c2d-3");
}

TEST_F(DeviceHttpCompatTest, C2dMessageFieldsAsTheSdkReadsThem) {
  auto deliveries = Deliveries("c2d-1");
  ASSERT_EQ(deliveries.size(), 1u) << R("receive");
  json m = deliveries[0];
  EXPECT_EQ(m["data"], "to-complete");
  EXPECT_EQ(m["correlationId"], "corr-c2d-1");
  // The SDK keeps the header names of application properties as their keys; only the ones the
  // sender set are there (no iothub-ack or hub-internal properties).
  EXPECT_EQ(m["properties"], json({{"iothub-app-color", "blue"}, {"iothub-app-n", "7"}})) << m;
  EXPECT_EQ(m["expiryMs"], R("c2dExpirySentMs")) << m;
  EXPECT_EQ(m["to"], std::string("/devices/") + kDevice + "/messages/deviceBound") << m;
  EXPECT_FALSE(m.value("lockToken", "").empty()) << m;
  EXPECT_EQ(m["settle"],
            json({{"action", "complete"}, {"ok", true}, {"result", "MessageCompleted"}}));
}

TEST_F(DeviceHttpCompatTest, EmptyC2dBodyArrivesEmpty) {
  auto deliveries = Deliveries("c2d-4");
  ASSERT_EQ(deliveries.size(), 1u) << R("receive");
  EXPECT_EQ(deliveries[0]["data"], "");
  EXPECT_EQ(deliveries[0]["properties"], json::object());
  EXPECT_EQ(deliveries[0]["correlationId"], "");  // the SDK's Message default: not set
  EXPECT_EQ(deliveries[0]["settle"]["result"], "MessageCompleted") << deliveries[0];
}

TEST_F(DeviceHttpCompatTest, DeviceboundCarriesOnlyWhatTheSenderSet) {
  json raw = R("rawDevicebound");
  ASSERT_EQ(raw["status"], 200) << raw;
  EXPECT_EQ(raw["sendStatus"], 201) << raw;
  EXPECT_EQ(raw["body"], "raw");
  EXPECT_EQ(raw["app"], "v");
  std::set<std::string> headers = raw["iothubHeaders"].get<std::set<std::string>>();
  for (const char* required : {"iothub-messageid", "iothub-sequencenumber", "iothub-enqueuedtime",
                               "iothub-deliverycount"}) {
    EXPECT_TRUE(headers.count(required)) << required << " missing: " << raw;
  }
  // Sent with ack none, no correlation id, user id or other property.
  for (const char* absent : {"iothub-ack", "iothub-correlationid", "iothub-userid"}) {
    EXPECT_FALSE(headers.count(absent)) << absent << " present: " << raw;
  }
  for (const std::string& h : headers) {
    if (h.rfind("iothub-app-", 0) == 0) {
      EXPECT_EQ(h, "iothub-app-k") << raw;
    }
  }
  std::string etag = raw.value("etag", "");
  EXPECT_TRUE(etag.size() > 2 && etag.front() == '"' && etag.back() == '"') << etag;
  EXPECT_EQ(raw["completeStatus"], 204) << raw;
}

TEST_F(DeviceHttpCompatTest, RejectSettlesWithMessageRejected) {
  auto deliveries = Deliveries("c2d-2");
  ASSERT_EQ(deliveries.size(), 1u) << R("receive");
  EXPECT_EQ(deliveries[0]["data"], "to-reject");
  EXPECT_EQ(deliveries[0]["settle"],
            json({{"action", "reject"}, {"ok", true}, {"result", "MessageRejected"}}));
}

TEST_F(DeviceHttpCompatTest, AbandonedMessageIsRedeliveredUnderANewLock) {
  auto deliveries = Deliveries("c2d-3");
  ASSERT_EQ(deliveries.size(), 2u) << R("receive");
  EXPECT_EQ(deliveries[0]["settle"],
            json({{"action", "abandon"}, {"ok", true}, {"result", "MessageAbandoned"}}));
  EXPECT_EQ(deliveries[1]["data"], "to-abandon");
  EXPECT_NE(deliveries[1]["lockToken"], deliveries[0]["lockToken"]);
  EXPECT_EQ(deliveries[1]["settle"]["result"], "MessageCompleted") << deliveries[1];
}

TEST_F(DeviceHttpCompatTest, SettlingUnderASpentLockFailsWith412) {
  for (const char* step : {"completeStaleLock", "abandonStaleLock", "rejectStaleLock"}) {
    json stale = R(step);
    EXPECT_EQ(stale["ok"], false) << step << ": " << stale;
    EXPECT_EQ(stale["status"], 412) << step << ": " << stale;
  }
  EXPECT_EQ(R("queueEmptyAfter")["status"], 204) << R("queueEmptyAfter");
}

TEST_F(DeviceHttpCompatTest, FeedbackRecordsFollowTheSettlements) {
  json feedback = R("feedback");
  ASSERT_EQ(feedback["ok"], true) << feedback;
  auto completed = FeedbackFor("c2d-1");
  ASSERT_EQ(completed.size(), 1u) << feedback;
  EXPECT_EQ(completed[0]["statusCode"], "Success");
  EXPECT_EQ(completed[0]["deviceId"], kDevice);
  auto rejected = FeedbackFor("c2d-2");
  ASSERT_EQ(rejected.size(), 1u) << feedback;
  EXPECT_EQ(rejected[0]["statusCode"], "Rejected");
  auto abandoned_then_completed = FeedbackFor("c2d-3");
  ASSERT_EQ(abandoned_then_completed.size(), 1u) << feedback;
  EXPECT_EQ(abandoned_then_completed[0]["statusCode"], "Success");
  EXPECT_TRUE(FeedbackFor("c2d-4").empty()) << feedback;  // sent without ack
  for (const json& batch : feedback.value("batches", json::array())) {
    EXPECT_EQ(batch["contentType"], "application/vnd.microsoft.iothub.feedback.json") << batch;
    EXPECT_EQ(batch["completeStatus"], 204) << batch;
  }
}

TEST_F(DeviceHttpCompatTest, WrongKeyOrUnknownDeviceIsUnauthorizedError) {
  for (const char* step : {"wrongKey", "unknownDevice"}) {
    json refused = R(step);
    EXPECT_EQ(refused["error"], "UnauthorizedError") << step << ": " << refused;
    EXPECT_EQ(refused["status"], 401) << step << ": " << refused;
  }
  EXPECT_EQ(R("wrongKeyReceive")["status"], 401) << R("wrongKeyReceive");
}

TEST_F(DeviceHttpCompatTest, PolicyTokensNeedDeviceConnect) {
  json device_policy = R("policyDeviceConnect");
  EXPECT_EQ(device_policy["ok"], true) << device_policy;
  EXPECT_EQ(device_policy["result"], "MessageEnqueued") << device_policy;
  json service_policy = R("policyWithoutDeviceConnect");
  EXPECT_EQ(service_policy["error"], "UnauthorizedError") << service_policy;
  EXPECT_EQ(service_policy["status"], 401) << service_policy;
}

}  // namespace
}  // namespace iothub::testing
