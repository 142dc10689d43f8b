#include "http/event_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace iothub::http {
namespace {

using nlohmann::json;

core::Message Stamped() {
  core::Message m;
  m.body = "{\"t\":21.5}";
  m.sequence_number = 42;
  m.enqueued_time = FromUnixMillis(1'700'000'000'123);
  m.connection_device_id = "d1";
  m.connection_auth_method = R"({"scope":"device","type":"sas"})";
  m.connection_auth_generation_id = "gen-1";
  return m;
}

TEST(EventJsonTest, CarriesPositionTimeDeviceAndBody) {
  json e = json::parse(EventToJson(3, Stamped()));
  EXPECT_EQ(e["partition"], 3);
  EXPECT_EQ(e["offset"], 42);
  EXPECT_EQ(e["sequenceNumber"], 42);
  EXPECT_EQ(e["enqueuedTimeUtc"], FormatIso8601(FromUnixMillis(1'700'000'000'123)));
  EXPECT_EQ(e["deviceId"], "d1");
  EXPECT_EQ(e["body"], "eyJ0IjoyMS41fQ==");
  EXPECT_EQ(e["bodyText"], "{\"t\":21.5}");
  EXPECT_EQ(e["systemProperties"]["iothub-connection-device-id"], "d1");
  EXPECT_EQ(e["systemProperties"]["iothub-connection-auth-method"],
            R"({"scope":"device","type":"sas"})");
  EXPECT_EQ(e["systemProperties"]["iothub-connection-auth-generation-id"], "gen-1");
  EXPECT_EQ(e["systemProperties"]["iothub-enqueuedtime"], e["enqueuedTimeUtc"]);
}

TEST(EventJsonTest, ListsOnlyTheSystemPropertiesThatAreSet) {
  core::Message m = Stamped();
  m.message_id = "m1";
  m.content_type = "application/json";
  json system = json::parse(EventToJson(0, m))["systemProperties"];
  EXPECT_EQ(system["message-id"], "m1");
  EXPECT_EQ(system["content-type"], "application/json");
  EXPECT_FALSE(system.contains("correlation-id"));
  EXPECT_FALSE(system.contains("content-encoding"));
  EXPECT_FALSE(system.contains("user-id"));
}

TEST(EventJsonTest, ApplicationPropertiesBecomeAnObject) {
  core::Message m = Stamped();
  json e = json::parse(EventToJson(0, m));
  EXPECT_TRUE(e["properties"].is_object());
  EXPECT_TRUE(e["properties"].empty());
  m.SetProperty("alert", "high");
  m.SetProperty("unit", "C");
  e = json::parse(EventToJson(0, m));
  EXPECT_EQ(e["properties"], json({{"alert", "high"}, {"unit", "C"}}));
}

TEST(EventJsonTest, BinaryBodyHasNoBodyText) {
  core::Message m = Stamped();
  m.body = std::string("\x00\xff\xfe", 3);
  json e = json::parse(EventToJson(0, m));
  EXPECT_EQ(e["body"], "AP/+");
  EXPECT_FALSE(e.contains("bodyText"));
}

TEST(EventJsonTest, EmptyBodyIsEmptyText) {
  core::Message m = Stamped();
  m.body.clear();
  json e = json::parse(EventToJson(0, m));
  EXPECT_EQ(e["body"], "");
  EXPECT_EQ(e["bodyText"], "");
}

TEST(EventJsonTest, IsOneLineEvenWithNewlinesInTheBody) {
  core::Message m = Stamped();
  m.body = "line 1\nline 2\r\n";
  std::string text = EventToJson(0, m);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(json::parse(text)["bodyText"], "line 1\nline 2\r\n");
}

TEST(EventJsonTest, InvalidUtf8InPropertiesIsReplacedNotThrown) {
  core::Message m = Stamped();
  m.SetProperty("k", std::string("\xc3\x28", 2));
  json e = json::parse(EventToJson(0, m));
  EXPECT_EQ(e["properties"]["k"], "\xEF\xBF\xBD(");
}

TEST(EventJsonTest, UnsetTimeAndDeviceAreOmitted) {
  core::Message m;
  json e = json::parse(EventToJson(1, m));
  EXPECT_FALSE(e.contains("enqueuedTimeUtc"));
  EXPECT_FALSE(e.contains("deviceId"));
  EXPECT_TRUE(e["systemProperties"].empty());
}

}  // namespace
}  // namespace iothub::http
