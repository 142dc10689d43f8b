#include "tools/iothub/output.h"

#include <gtest/gtest.h>

namespace iothub::cli {
namespace {

Json Device() {
  return Json::parse(R"({
    "deviceId": "d1", "generationId": "638000000000000001", "etag": "MQ==", "status": "enabled",
    "statusReason": null, "connectionState": "Disconnected",
    "connectionStateUpdatedTime": "0001-01-01T00:00:00Z", "statusUpdatedTime": "0001-01-01T00:00:00Z",
    "lastActivityTime": "0001-01-01T00:00:00Z", "cloudToDeviceMessageCount": 2,
    "authentication": {"type": "sas", "symmetricKey": {"primaryKey": "cGs=", "secondaryKey": "c2s="},
                       "x509Thumbprint": {"primaryThumbprint": null, "secondaryThumbprint": null}},
    "capabilities": {"iotEdge": false}})");
}

TEST(OutputTest, DeviceShowsIdentityStateAndKeys) {
  std::string text = FormatDevice(Device());
  EXPECT_EQ(text,
            "Device d1\n"
            "  status:               enabled\n"
            "  status reason:        -\n"
            "  connection state:     Disconnected\n"
            "  last activity:        -\n"
            "  C2D messages:         2\n"
            "  authentication:       sas\n"
            "  primary key:          cGs=\n"
            "  secondary key:        c2s=\n"
            "  etag:                 MQ==\n"
            "  generation id:        638000000000000001\n");
}

TEST(OutputTest, EdgeDeviceShowsItsScope) {
  Json device = Device();
  device["capabilities"]["iotEdge"] = true;
  device["deviceScope"] = "ms-azure-iot-edge://d1-1";
  EXPECT_NE(FormatDevice(device).find("device scope:         ms-azure-iot-edge://d1-1\n"),
            std::string::npos);
}

TEST(OutputTest, MissingOrOddFieldsNeverThrow) {
  EXPECT_EQ(FormatDevice(Json::parse(R"({"deviceId":7,"authentication":[]})")).substr(0, 10),
            "Device 7\n ");
  EXPECT_NO_THROW(FormatDevice(Json()));
  EXPECT_NO_THROW(FormatDevice(Json::parse("[1]")));
  EXPECT_NO_THROW(FormatDeviceList(Json::parse(R"([1, "x", null, {}])")));
  EXPECT_NO_THROW(FormatEvent(Json::parse(R"({"properties": 5, "systemProperties": []})")));
  EXPECT_NO_THROW(FormatFeedbackRecord(Json()));
}

TEST(OutputTest, DeviceListIsAnAlignedTable) {
  Json second = Device();
  second["deviceId"] = "a-longer-id";
  second["status"] = "disabled";
  second["cloudToDeviceMessageCount"] = 0;
  second["lastActivityTime"] = "2024-05-01T10:00:00.0000000Z";
  std::string text = FormatDeviceList(Json::array({Device(), second}));
  EXPECT_EQ(text,
            "DEVICE ID    STATUS    CONNECTION    C2D  LAST ACTIVITY\n"
            "d1           enabled   Disconnected  2    -\n"
            "a-longer-id  disabled  Disconnected  0    2024-05-01T10:00:00.0000000Z\n");
  EXPECT_EQ(FormatDeviceList(Json::array()), "No devices.\n");
}

TEST(OutputTest, Statistics) {
  EXPECT_EQ(
      FormatStatistics(
          Json::parse(R"({"totalDeviceCount":3,"enabledDeviceCount":2,"disabledDeviceCount":1})"),
          Json::parse(R"({"connectedDeviceCount":0})")),
      "devices:    3 (2 enabled, 1 disabled)\n"
      "connected:  0\n");
}

TEST(OutputTest, SendAndPurgeResults) {
  EXPECT_EQ(
      FormatSendResult(Json::parse(R"({"deviceId":"d1","messageId":"m1","sequenceNumber":7})")),
      "Sent message m1 to d1 (sequence number 7).\n");
  EXPECT_EQ(FormatSendResult(Json::parse(R"({"deviceId":"d1","messageId":null})")),
            "Sent a message to d1.\n");
  EXPECT_EQ(FormatPurgeResult(Json::parse(R"({"totalMessagesPurged":1})"), "d1"),
            "Purged 1 message from the queue of d1.\n");
  EXPECT_EQ(FormatPurgeResult(Json::parse(R"({"totalMessagesPurged":0})"), "d1"),
            "Purged 0 messages from the queue of d1.\n");
}

TEST(OutputTest, FeedbackRecordOnOneLine) {
  Json record = Json::parse(R"({"originalMessageId":"m1","enqueuedTimeUtc":
      "2024-05-01T10:00:00.0000000Z","statusCode":"Success","description":"Success",
      "deviceId":"d1","deviceGenerationId":"g"})");
  EXPECT_EQ(FormatFeedbackRecord(record),
            "2024-05-01T10:00:00.0000000Z  Success               device d1  message m1  "
            "(Success)\n");
}

TEST(OutputTest, EventShowsBodyTextAndProperties) {
  Json event = Json::parse(R"({"partition":1,"offset":12,"sequenceNumber":12,
      "enqueuedTimeUtc":"2024-05-01T10:00:00.0000000Z","deviceId":"d1","body":"eyJ0IjoxfQ==",
      "bodyText":"{\"t\":1}","properties":{"alert":"yes","n":"2"},
      "systemProperties":{"message-id":"m1","content-type":"application/json"}})");
  EXPECT_EQ(FormatEvent(event),
            "2024-05-01T10:00:00.0000000Z  d1  (partition 1, offset 12)\n"
            "  body: {\"t\":1}\n"
            "  properties: alert=yes, n=2\n"
            "  system: message-id=m1, content-type=application/json\n");
}

TEST(OutputTest, BinaryEventBodyPrintsAsBase64) {
  Json event = Json::parse(R"({"deviceId":"d1","body":"/w==","properties":{}})");
  std::string text = FormatEvent(event);
  EXPECT_NE(text.find("  body (base64): /w==\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  properties: -\n"), std::string::npos) << text;
}

TEST(OutputTest, JsonForms) {
  Json json = {{"a", 1}, {"b", "x"}};
  EXPECT_EQ(JsonLine(json), "{\"a\":1,\"b\":\"x\"}\n");
  EXPECT_EQ(JsonDocument(json), "{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n");
  EXPECT_NO_THROW(JsonLine(Json(std::string("\xff\xfe"))));  // invalid UTF-8 from the wire
}

}  // namespace
}  // namespace iothub::cli
