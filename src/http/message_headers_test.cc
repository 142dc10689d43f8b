#include "http/message_headers.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace iothub::http {
namespace {

using Property = std::pair<std::string, std::string>;

Timestamp Time(std::string_view iso) {
  Timestamp t;
  EXPECT_TRUE(ParseIso8601(iso, &t)) << iso;
  return t;
}

// The headers azure-iot-device-http's sendEvent writes for a message with every field set.
Headers NodeSdkSendEventHeaders() {
  return Headers{
      {"iothub-to", "/devices/d1/messages/events"},
      {"User-Agent", "azure-iot-device/1.18.0"},
      {"Authorization", "SharedAccessSignature sr=..."},
      {"iothub-app-temperature", "21.5"},
      {"iothub-app-Percent", "50% done & more"},
      {"dt-subject", "thermostat1"},
      {"IoTHub-MessageId", "m-1"},
      {"IoTHub-CorrelationId", "c-1"},
      {"IoTHub-UserId", "u-1"},
      {"IoTHub-Expiry", "2030-01-02T03:04:05.0000000Z"},
      {"IoTHub-Ack", "full"},
      {"iothub-contenttype", "application/json"},
      {"iothub-contentencoding", "utf-8"},
  };
}

TEST(MessageFromHeadersTest, ReadsWhatTheNodeSdkSends) {
  core::Message m;
  ASSERT_TRUE(MessageFromHeaders(NodeSdkSendEventHeaders(), &m).ok());
  EXPECT_EQ(m.message_id, "m-1");
  EXPECT_EQ(m.correlation_id, "c-1");
  EXPECT_EQ(m.user_id, "u-1");
  EXPECT_EQ(m.to, "/devices/d1/messages/events");
  ASSERT_TRUE(m.expiry.has_value());
  EXPECT_EQ(*m.expiry, Time("2030-01-02T03:04:05Z"));
  EXPECT_EQ(m.ack, core::AckMode::kFull);
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_EQ(m.content_encoding, "utf-8");
  // Names keep their case; values are not URL-decoded (the SDK writes them raw).
  EXPECT_EQ(m.properties, (std::vector<Property>{{"dt-subject", "thermostat1"},
                                                 {"Percent", "50% done & more"},
                                                 {"temperature", "21.5"}}));
}

TEST(MessageFromHeadersTest, HeaderNamesMatchCaseInsensitively) {
  Headers h{{"IOTHUB-APP-k", "v"},
            {"iothub-messageid", "m"},
            {"IOTHUB-ACK", "Positive"},
            {"iothub-expiry", "2030-01-01T00:00:00Z"}};
  core::Message m;
  ASSERT_TRUE(MessageFromHeaders(h, &m).ok());
  EXPECT_EQ(m.properties, (std::vector<Property>{{"k", "v"}}));
  EXPECT_EQ(m.message_id, "m");
  EXPECT_EQ(m.ack, core::AckMode::kPositive);
  EXPECT_TRUE(m.expiry.has_value());
}

TEST(MessageFromHeadersTest, PlainContentHeadersAreTheFallbackOnlyWhenAsked) {
  core::Message m;
  ASSERT_TRUE(MessageFromHeaders({{"Content-Type", "text/plain"}, {"Content-Encoding", "gzip"}}, &m,
                                 /*http_body_headers=*/true)
                  .ok());
  EXPECT_EQ(m.content_type, "text/plain");
  EXPECT_EQ(m.content_encoding, "gzip");

  // Device events: the transfer's Content-Type is not the message's.
  core::Message event;
  ASSERT_TRUE(MessageFromHeaders({{"Content-Type", "application/octet-stream"}}, &event).ok());
  EXPECT_EQ(event.content_type, "");

  core::Message n;
  ASSERT_TRUE(MessageFromHeaders({{"Content-Type", "text/plain"},
                                  {"iothub-contenttype", "application/json"},
                                  {"iothub-contentencoding", "utf-8"},
                                  {"Content-Encoding", "gzip"}},
                                 &n, /*http_body_headers=*/true)
                  .ok());
  EXPECT_EQ(n.content_type, "application/json");
  EXPECT_EQ(n.content_encoding, "utf-8");
}

TEST(MessageFromHeadersTest, IgnoresUnrelatedHeadersAndEmptyPropertyNames) {
  core::Message m;
  ASSERT_TRUE(
      MessageFromHeaders({{"Host", "hub"}, {"iothub-app-", "x"}, {"X-Other", "y"}}, &m).ok());
  EXPECT_EQ(m, core::Message{});
}

TEST(MessageFromHeadersTest, EmptyAckMeansNone) {
  core::Message m;
  m.ack = core::AckMode::kFull;
  ASSERT_TRUE(MessageFromHeaders({{"IoTHub-Ack", ""}}, &m).ok());
  EXPECT_EQ(m.ack, core::AckMode::kNone);
}

TEST(MessageFromHeadersTest, RejectsABadExpiryNamingTheHeader) {
  for (std::string bad : {"tomorrow", "2030-13-01T00:00:00Z", "1700000000"}) {
    core::Message m;
    Status s = MessageFromHeaders({{"IoTHub-Expiry", bad}}, &m);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("IoTHub-Expiry"), std::string::npos) << s.message();
  }
}

TEST(MessageFromHeadersTest, RejectsABadAckNamingTheHeader) {
  core::Message m;
  Status s = MessageFromHeaders({{"IoTHub-Ack", "sometimes"}}, &m);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("IoTHub-Ack"), std::string::npos) << s.message();
}

core::Message Delivery() {
  core::Message m;
  m.body = "hello";
  m.message_id = "m-1";
  m.correlation_id = "c-1";
  m.to = "/devices/d1/messages/devicebound";
  m.user_id = "u-1";
  m.content_type = "application/json";
  m.content_encoding = "utf-8";
  m.expiry = Time("2030-01-02T03:04:05Z");
  m.ack = core::AckMode::kNegative;
  m.sequence_number = 7;
  m.enqueued_time = Time("2029-12-31T23:00:00Z");
  m.lock_token = "0f8fad5b-d9cb-469f-a165-70867728950e";
  m.delivery_count = 2;
  m.properties = {{"alpha", "1"}, {"Beta", "two words"}};
  return m;
}

TEST(MessageToHeadersTest, WritesEveryFieldTheDeviceReads) {
  Headers h;
  MessageToHeaders(Delivery(), &h);
  EXPECT_EQ(h.at("iothub-messageid"), "m-1");
  EXPECT_EQ(h.at("iothub-correlationid"), "c-1");
  EXPECT_EQ(h.at("iothub-to"), "/devices/d1/messages/devicebound");
  EXPECT_EQ(h.at("iothub-userid"), "u-1");
  EXPECT_EQ(h.at("iothub-expiry"), "2030-01-02T03:04:05.0000000Z");
  EXPECT_EQ(h.at("iothub-enqueuedtime"), "2029-12-31T23:00:00.0000000Z");
  EXPECT_EQ(h.at("iothub-sequencenumber"), "7");
  EXPECT_EQ(h.at("iothub-deliverycount"), "2");
  EXPECT_EQ(h.at("iothub-ack"), "negative");
  EXPECT_EQ(h.at("iothub-contenttype"), "application/json");
  EXPECT_EQ(h.at("Content-Type"), "application/json");
  EXPECT_EQ(h.at("iothub-contentencoding"), "utf-8");
  EXPECT_EQ(h.count("Content-Encoding"), 0u);
  // The names the C SDK's HTTP transport reads.
  EXPECT_EQ(h.at("ContentType"), "application/json");
  EXPECT_EQ(h.at("ContentEncoding"), "utf-8");
  EXPECT_EQ(h.at("ETag"), "\"0f8fad5b-d9cb-469f-a165-70867728950e\"");
  EXPECT_EQ(h.at("iothub-app-alpha"), "1");
  EXPECT_EQ(h.at("iothub-app-Beta"), "two words");
  EXPECT_EQ(h.size(), 17u);
}

TEST(MessageToHeadersTest, WritesOnlyWhatIsSet) {
  core::Message m;
  m.body = "x";
  m.lock_token = "lock";
  Headers h;
  MessageToHeaders(m, &h);
  // No iothub-ack=none, no empty ids: only the delivery's own headers.
  EXPECT_EQ(h, (Headers{{"ETag", "\"lock\""}, {"iothub-deliverycount", "0"}}));

  Headers none;
  MessageToHeaders(core::Message{}, &none);
  EXPECT_TRUE(none.empty());
}

TEST(MessageToHeadersTest, LeavesOutWhatAHeaderCannotCarry) {
  core::Message m;
  m.message_id = "evil\r\nX-Injected: 1";
  m.properties = {{"ok", "fine"},          {"split", "a\nb"},
                  {"bad name", "v"},       {"nul", std::string("a\0b", 3)},
                  {"utf8", "caf\xc3\xa9"}, {"empty", ""}};
  Headers h;
  MessageToHeaders(m, &h);
  EXPECT_EQ(h, (Headers{{"iothub-app-empty", ""},
                        {"iothub-app-ok", "fine"},
                        {"iothub-app-utf8", "caf\xc3\xa9"}}));
}

TEST(LockedMessageResponseTest, Is200WithTheHeadersAndTheBody) {
  Response r = LockedMessageResponse(Delivery());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  Headers h;
  MessageToHeaders(Delivery(), &h);
  EXPECT_EQ(r.headers, h);
  EXPECT_EQ(r.headers.at("ETag"), "\"0f8fad5b-d9cb-469f-a165-70867728950e\"");
  EXPECT_EQ(r.stream, nullptr);
}

TEST(MessageHeadersTest, RoundTripKeepsWhatTheSenderSet) {
  core::Message sent = Delivery();
  Headers h;
  MessageToHeaders(sent, &h);
  core::Message back;
  ASSERT_TRUE(MessageFromHeaders(h, &back).ok());
  EXPECT_EQ(back.message_id, sent.message_id);
  EXPECT_EQ(back.correlation_id, sent.correlation_id);
  EXPECT_EQ(back.to, sent.to);
  EXPECT_EQ(back.user_id, sent.user_id);
  EXPECT_EQ(back.content_type, sent.content_type);
  EXPECT_EQ(back.content_encoding, sent.content_encoding);
  EXPECT_EQ(back.expiry, sent.expiry);
  EXPECT_EQ(back.ack, sent.ack);
  // Header order is by name, so compare as sets.
  EXPECT_EQ(back.properties.size(), sent.properties.size());
  for (const auto& [k, v] : sent.properties) {
    const std::string* got = back.FindProperty(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_EQ(*got, v);
  }
}

}  // namespace
}  // namespace iothub::http
