#include "mqtt/topics.h"

#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/strings.h"

namespace iothub::mqtt {
namespace {

using core::AckMode;
using core::Message;
using Properties = std::vector<std::pair<std::string, std::string>>;

const Timestamp k2030 = FromUnixMillis(1'893'456'000'000);  // 2030-01-01T00:00:00Z

// ---- DecodeEventsTopic ----

// The topic the Node SDK sent in the capture of mqtt-research.md §2 (message id `mid 1/=`, ...).
constexpr std::string_view kCapturedTopic =
    "devices/dev1/messages/events/"
    "%24.mid=mid%201%2F%3D&%24.cid=c%261&%24.uid=u&%24.to=%2Fx&%24.ct=application%2Fjson&%24.ce="
    "utf-"
    "8&%24.exp=2030-01-01T00%3A00%3A00.000Z&k%20y=a%3Db%26c%2Fd%20e%2Bf%25&%24.sub=subj&%24.x=%C3%"
    "BC";

TEST(DecodeEventsTopicTest, CapturedNodeSdkTopicGivesTheMessageItSent) {
  Message m;
  m.body = "payload";
  ASSERT_TRUE(DecodeEventsTopic("dev1", kCapturedTopic, &m).ok());
  Message want;
  want.body = "payload";  // untouched
  want.message_id = "mid 1/=";
  want.correlation_id = "c&1";
  want.user_id = "u";
  want.to = "/x";
  want.content_type = "application/json";
  want.content_encoding = "utf-8";
  want.expiry = k2030;
  want.properties = {{"k y", "a=b&c/d e+f%"}, {"dt-subject", "subj"}, {"$.x", "\xC3\xBC"}};
  EXPECT_EQ(m, want);
}

TEST(DecodeEventsTopicTest, BagForms) {
  struct Row {
    std::string name;
    std::string device;
    std::string topic;
    Message want;
  };
  auto props = [](Properties p) {
    Message m;
    m.properties = std::move(p);
    return m;
  };
  auto mid = [](std::string id) {
    Message m;
    m.message_id = std::move(id);
    return m;
  };
  Message system_raw;
  system_raw.message_id = "m";
  system_raw.correlation_id = "c";
  system_raw.user_id = "u";
  system_raw.to = "t";
  system_raw.content_type = "ct";
  system_raw.content_encoding = "ce";
  system_raw.expiry = FromUnixMillis(1'893'456'000'123);
  const std::vector<Row> rows = {
      {"no bag, no slash", "dev1", "devices/dev1/messages/events", {}},
      {"empty bag", "dev1", "devices/dev1/messages/events/", {}},
      {"module style trailing slash", "dev1", "devices/dev1/messages/events/k=v/",
       props({{"k", "v"}})},
      {"raw system keys", "dev1",
       "devices/dev1/messages/events/$.mid=m&$.cid=c&$.uid=u&$.to=t&$.ct=ct&$.ce=ce&"
       "$.exp=2030-01-01T00:00:00.123Z",
       system_raw},
      {"encoded dot and lower-case hex in keys", "dev1",
       "devices/dev1/messages/events/%24%2emid=m&%24%2ecid=c&%24%2euid=u&%24%2eto=t&%24%2ect=ct&"
       "%24%2ece=ce&%24%2eexp=2030-01-01T00%3a00%3a00.1230000%2B00%3A00",
       system_raw},
      {"plus stays plus", "dev1", "devices/dev1/messages/events/a+b=c+d", props({{"a+b", "c+d"}})},
      {"key without =", "dev1", "devices/dev1/messages/events/noval&k=v",
       props({{"noval", ""}, {"k", "v"}})},
      {"empty value", "dev1", "devices/dev1/messages/events/k=", props({{"k", ""}})},
      {"raw = in value splits at the first", "dev1", "devices/dev1/messages/events/k=a=b",
       props({{"k", "a=b"}})},
      {"empty keys skipped", "dev1", "devices/dev1/messages/events/&&k=v&=x&=%zz&",
       props({{"k", "v"}})},
      {"duplicate key: later replaces in place", "dev1", "devices/dev1/messages/events/a=1&b=2&a=3",
       props({{"a", "3"}, {"b", "2"}})},
      {"duplicate system key: later wins", "dev1", "devices/dev1/messages/events/$.mid=1&$.mid=2",
       mid("2")},
      {"$.sub and dt-subject are one property", "dev1",
       "devices/dev1/messages/events/dt-subject=a&%24.sub=b", props({{"dt-subject", "b"}})},
      {"unknown $. key kept as a property", "dev1", "devices/dev1/messages/events/%24.ifid=i",
       props({{"$.ifid", "i"}})},
      {"system keys are case-sensitive", "dev1", "devices/dev1/messages/events/$.MID=m",
       props({{"$.MID", "m"}})},
      {"empty $.exp means none", "dev1", "devices/dev1/messages/events/$.exp=", {}},
      {"raw slash inside a value", "dev1", "devices/dev1/messages/events/$.to=/a/b",
       [] {
         Message m;
         m.to = "/a/b";
         return m;
       }()},
      {"device id with reserved characters, raw", "d%$'(:)=@,",
       "devices/d%$'(:)=@,/messages/events/k=v", props({{"k", "v"}})},
      {"percent-encoded NUL and UTF-8", "dev1", "devices/dev1/messages/events/k=%00%E2%82%AC",
       props({{"k", std::string("\0\xE2\x82\xAC", 4)}})},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Message m;
    Status s = DecodeEventsTopic(row.device, row.topic, &m);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(m, row.want);
  }
}

TEST(DecodeEventsTopicTest, AddsToTheMessageItIsGiven) {
  Message m;
  m.message_id = "kept";
  m.properties = {{"a", "old"}, {"z", "z"}};
  ASSERT_TRUE(DecodeEventsTopic("dev1", "devices/dev1/messages/events/a=new&b=b", &m).ok());
  EXPECT_EQ(m.message_id, "kept");
  EXPECT_EQ(m.properties, (Properties{{"a", "new"}, {"z", "z"}, {"b", "b"}}));
}

TEST(DecodeEventsTopicTest, ErrorsAreArgumentInvalidAndLeaveTheMessageAlone) {
  struct Row {
    std::string name;
    std::string topic;
  };
  const std::vector<Row> rows = {
      {"another device", "devices/dev2/messages/events/"},
      {"device id prefix of a longer id", "devices/dev10/messages/events/"},
      {"longer id than ours", "devices/dev/messages/events/"},
      {"device id case differs", "devices/DEV1/messages/events/"},
      {"eventsX", "devices/dev1/messages/eventsX"},
      {"events prefix of a longer segment", "devices/dev1/messages/events2/k=v"},
      {"devicebound", "devices/dev1/messages/devicebound/"},
      {"twin", "$iothub/twin/GET/?$rid=1"},
      {"empty topic", ""},
      {"leading slash", "/devices/dev1/messages/events/"},
      {"wildcard device", "devices/+/messages/events/"},
      {"module topic", "devices/dev1/modules/m/messages/events/"},
      {"lone % in value", "devices/dev1/messages/events/k=%"},
      {"one hex digit in value", "devices/dev1/messages/events/k=%4"},
      {"non-hex escape in value", "devices/dev1/messages/events/k=%G0"},
      {"malformed escape in key", "devices/dev1/messages/events/%2=v"},
      {"malformed escape after a good pair", "devices/dev1/messages/events/$.mid=m&k=a%zz"},
      {"bad expiry", "devices/dev1/messages/events/$.exp=tomorrow"},
      {"expiry without zone", "devices/dev1/messages/events/$.exp=2030-01-01T00:00:00"},
      {"expiry month 13", "devices/dev1/messages/events/$.exp=2030-13-01T00:00:00Z"},
      {"encoded bad expiry", "devices/dev1/messages/events/%24.exp=2030-01-01%2000%3A00%3A00Z"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Message m;
    m.message_id = "before";
    m.properties = {{"p", "q"}};
    const Message before = m;
    Status s = DecodeEventsTopic("dev1", row.topic, &m);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.reason(), "ArgumentInvalid");
    EXPECT_EQ(m, before);
  }
}

// What the Node SDK's telemetry encoder does (mqtt.js:917-969): querystring.stringify for the
// system keys and encodeURIComponent for the application properties; both leave
// `A-Za-z0-9 - _ . ! ~ * ' ( )` raw.
std::string JsEncodeURIComponent(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) ||
        std::string_view("-_.!~*'()").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

TEST(DecodeEventsTopicTest, WhatTheNodeEncoderSendsDecodesBack) {
  const Properties app = {{"k y", "a=b&c/d e+f%"},  {"ü", "€ 1/2"},
                          {"(x)", "!~*'"},          {"empty", ""},
                          {"%41", "%2541"},         {"a&b=c", "d&e=f"},
                          {"tab\t", "line\nbreak"}, {"dt-subject", "subj"}};
  std::string topic = "devices/dev1/messages/events/";
  auto add = [&](std::string_view k, std::string_view v) {
    if (!topic.ends_with('/')) topic += '&';
    topic += JsEncodeURIComponent(k) + "=" + JsEncodeURIComponent(v);
  };
  add("$.mid", "m & m=/ +");
  add("$.cid", "(cid)");
  add("$.exp", "2030-01-01T00:00:00.000Z");
  for (const auto& [k, v] : app) add(k == "dt-subject" ? "$.sub" : k, v);
  Message m;
  ASSERT_TRUE(DecodeEventsTopic("dev1", topic, &m).ok()) << topic;
  EXPECT_EQ(m.message_id, "m & m=/ +");
  EXPECT_EQ(m.correlation_id, "(cid)");
  EXPECT_EQ(m.expiry, k2030);
  EXPECT_EQ(m.properties, app);
}

// ---- DeviceboundTopic ----

TEST(DeviceboundTopicTest, FieldOrderAndEncoding) {
  Message m;
  m.body = "ignored";
  m.properties = {{"k y", "a=b&c/d e+f%"}, {"z", ""}, {"$x", "~.-_"}};
  m.expiry = k2030;
  m.ack = AckMode::kFull;
  m.content_encoding = "utf-8";
  m.content_type = "application/json";
  m.to = "/devices/dev1/messages/devicebound";
  m.user_id = "u";
  m.correlation_id = "c&1";
  m.message_id = "mid 1/=";
  EXPECT_EQ(DeviceboundTopic("dev1", m),
            "devices/dev1/messages/devicebound/"
            "%24.mid=mid%201%2F%3D&%24.cid=c%261&%24.uid=u&%24.to=%2Fdevices%2Fdev1%2Fmessages%"
            "2Fdevicebound&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2030-01-01T00%3A00%3A00."
            "0000000Z&iothub-ack=full&k%20y=a%3Db%26c%2Fd%20e%2Bf%25&z=&%24x=~.-_");
}

TEST(DeviceboundTopicTest, Rows) {
  struct Row {
    std::string name;
    std::string device;
    Message message;
    std::string want;
  };
  auto with = [](auto set) {
    Message m;
    set(m);
    return m;
  };
  const std::string kDefaultTo = "%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound";
  const std::string kPrefix = "devices/dev1/messages/devicebound/";
  const std::vector<Row> rows = {
      {"empty message: only the default $.to", "dev1", {}, kPrefix + kDefaultTo},
      {"device id raw in the topic and in the default $.to",
       "d%$'(:",
       {},
       "devices/d%$'(:/messages/devicebound/%24.to=%2Fdevices%2Fd%25%24%27%28%3A%2Fmessages%"
       "2FdeviceBound"},
      {"ack none is not sent", "dev1", with([](Message& m) { m.ack = AckMode::kNone; }),
       kPrefix + kDefaultTo},
      {"ack positive", "dev1", with([](Message& m) { m.ack = AckMode::kPositive; }),
       kPrefix + kDefaultTo + "&iothub-ack=positive"},
      {"ack negative", "dev1", with([](Message& m) { m.ack = AckMode::kNegative; }),
       kPrefix + kDefaultTo + "&iothub-ack=negative"},
      {"an app iothub-ack without a system ack is forwarded", "dev1", with([](Message& m) {
         m.properties = {{"iothub-ack", "x"}};
       }),
       kPrefix + kDefaultTo + "&iothub-ack=x"},
      {"an app iothub-ack beside the system ack is left out", "dev1", with([](Message& m) {
         m.ack = AckMode::kFull;
         m.properties = {{"iothub-ack", "x"}, {"k", "v"}};
       }),
       kPrefix + kDefaultTo + "&iothub-ack=full&k=v"},
      {"app properties named like system keys are left out", "dev1", with([](Message& m) {
         m.properties = {{"$.mid", "1"}, {"$.cid", "1"}, {"$.uid", "1"}, {"$.to", "1"},
                         {"$.ct", "1"},  {"$.ce", "1"},  {"$.exp", "1"}, {"$.sub", "s"}};
       }),
       kPrefix + kDefaultTo + "&%24.sub=s"},
      {"empty key left out", "dev1", with([](Message& m) {
         m.properties = {{"", "v"}};
       }),
       kPrefix + kDefaultTo},
      {"invalid UTF-8 left out, valid kept", "dev1", with([](Message& m) {
         m.message_id = "\xFF";
         m.to = "\xC0\xAF";                        // overlong '/'
         m.properties = {{"bad", "\xED\xA0\x80"},  // a surrogate
                         {"\xE2\x82", "truncated"},
                         {"big", "\xF4\x90\x80\x80"},  // past U+10FFFF
                         {"ok", "\xF0\x9F\x98\x80"}};
       }),
       kPrefix + kDefaultTo + "&ok=%F0%9F%98%80"},
      {"expiry with milliseconds", "dev1",
       with([](Message& m) { m.expiry = FromUnixMillis(1'893'456'000'123); }),
       kPrefix + kDefaultTo + "&%24.exp=2030-01-01T00%3A00%3A00.1230000Z"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(DeviceboundTopic(row.device, row.message), row.want);
  }
}

// What the Node SDK makes of a C2D topic (NM/azure-iot-device-mqtt/dist/mqtt.js:764,827-877),
// translated line by line: the dispatch regex, split('/')[4], split('&'), split('=') taking [0]
// and [1] (undefined → "undefined"), decodeURIComponent (throws on a bad escape or bad UTF-8).
struct NodeC2dMessage {
  std::string message_id, to, expiry_time_utc, correlation_id, user_id, content_type,
      content_encoding;
  Properties properties;
};

bool JsDecodeURIComponent(std::string_view s, std::string* out) {
  if (!UrlDecode(s, out)) return false;
  // Every escape sequence must decode to UTF-8; the topic is ASCII here, so validating the result
  // is the same check. Strict, as ECMAScript's Decode: no overlongs, surrogates or > U+10FFFF.
  const std::string& b = *out;
  for (size_t i = 0; i < b.size();) {
    auto c = static_cast<unsigned char>(b[i]);
    size_t n = c < 0x80             ? 0
               : (c & 0xE0) == 0xC0 ? 1
               : (c & 0xF0) == 0xE0 ? 2
               : (c & 0xF8) == 0xF0 ? 3
                                    : 9;
    if (n == 9 || i + n >= b.size() + (n == 0 ? 1 : 0)) return false;
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(b[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Empty optional: the SDK drops the message (no regex match) or throws URIError.
std::optional<NodeC2dMessage> NodeParseC2dTopic(const std::string& topic) {
  static const std::regex kDispatch(R"(^devices\/.*\/messages\/devicebound\/.*$)");
  if (!std::regex_match(topic, kDispatch)) return std::nullopt;
  NodeC2dMessage msg;
  std::vector<std::string_view> parts = Split(topic, '/');
  if (parts.size() <= 4 || parts[4].empty()) return msg;
  for (std::string_view pair : Split(parts[4], '&')) {
    std::vector<std::string_view> kv = Split(pair, '=');
    std::string k, v;
    if (!JsDecodeURIComponent(kv[0], &k)) return std::nullopt;
    if (!JsDecodeURIComponent(kv.size() > 1 ? kv[1] : "undefined", &v)) return std::nullopt;
    if (k == "$.mid") {
      msg.message_id = v;
    } else if (k == "$.to") {
      msg.to = v;
    } else if (k == "$.exp") {
      msg.expiry_time_utc = v;
    } else if (k == "$.cid") {
      msg.correlation_id = v;
    } else if (k == "$.uid") {
      msg.user_id = v;
    } else if (k == "$.ct") {
      msg.content_type = v;
    } else if (k == "$.ce") {
      msg.content_encoding = v;
    } else {
      msg.properties.emplace_back(k, v);  // Message.properties.add
    }
  }
  return msg;
}

TEST(DeviceboundTopicTest, NodeSdkParserReadsBackEveryField) {
  const std::vector<std::string> tricky = {"",
                                           "=",
                                           "&",
                                           "/",
                                           " ",
                                           "+",
                                           "%",
                                           "%25",
                                           "%zz",
                                           "ü",
                                           "a=b&c/d e+f%",
                                           "==&&//",
                                           "undefined",
                                           "€ \xF0\x9F\x98\x80",
                                           "#",
                                           "?x=1",
                                           "'()*!~",
                                           "$.mid",
                                           std::string("\0nul", 4),
                                           "\t\r\n"};
  int row = 0;
  for (const std::string& t : tricky) {
    SCOPED_TRACE("value #" + std::to_string(row++) + " '" + t + "'");
    Message m;
    m.message_id = t;
    m.correlation_id = t + "c";
    m.user_id = t;
    m.to = t.empty() ? "" : "/devices/dev1/" + t;
    m.content_type = t;
    m.content_encoding = "e" + t;
    m.expiry = FromUnixMillis(1'893'456'000'007);
    m.ack = row % 2 == 0 ? AckMode::kNone : AckMode::kNegative;
    m.properties = {{"k " + t, t}, {"empty", ""}, {t + "=" + t, "v"}};
    if (!t.empty() && t != "$.mid") m.properties.emplace_back(t, t + t);

    const std::string topic = DeviceboundTopic("d%$'(:", m);
    std::optional<NodeC2dMessage> got = NodeParseC2dTopic(topic);
    ASSERT_TRUE(got.has_value()) << topic;
    EXPECT_EQ(got->message_id, m.message_id);
    EXPECT_EQ(got->correlation_id, m.correlation_id);
    EXPECT_EQ(got->user_id, m.user_id);
    EXPECT_EQ(got->to, m.to.empty() ? "/devices/d%$'(:/messages/deviceBound" : m.to);
    EXPECT_EQ(got->content_type, m.content_type);
    EXPECT_EQ(got->content_encoding, m.content_encoding);
    Timestamp expiry;
    ASSERT_TRUE(ParseIso8601(got->expiry_time_utc, &expiry)) << got->expiry_time_utc;
    EXPECT_EQ(expiry, *m.expiry);
    Properties want;
    if (m.ack != AckMode::kNone) want.emplace_back("iothub-ack", "negative");
    want.insert(want.end(), m.properties.begin(), m.properties.end());
    EXPECT_EQ(got->properties, want) << topic;
  }
}

TEST(DeviceboundTopicTest, NodeSdkParserMimicRejectsWhatTheSdkWould) {
  // Guards the mimic itself: it must fail where the SDK fails, or the round trip proves nothing.
  EXPECT_FALSE(NodeParseC2dTopic("devices/dev1/messages/devicebound").has_value());
  EXPECT_FALSE(NodeParseC2dTopic("devices/dev1/messages/devicebound/k=%E").has_value());
  EXPECT_FALSE(NodeParseC2dTopic("devices/dev1/messages/devicebound/k=%FF").has_value());
  EXPECT_FALSE(NodeParseC2dTopic("devices/dev1/messages/devicebound/k=%C0%AF").has_value());
  std::optional<NodeC2dMessage> got =
      NodeParseC2dTopic("devices/dev1/messages/devicebound/noval&$.to=/a/b&k=a=b&plus=a+b");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->to, "");  // a raw '/' truncates the bag
  EXPECT_EQ(got->properties, (Properties{{"noval", "undefined"}}));
}

// ---- Bag components ----

TEST(BagComponentTest, EncodeKeepsOnlyUnreservedUpperCaseHex) {
  struct Row {
    std::string in, want;
  };
  for (const Row& row : std::vector<Row>{
           {"", ""},
           {"AZaz09-_.~", "AZaz09-_.~"},
           {"$.mid", "%24.mid"},
           {"/ = & + % ?#", "%2F%20%3D%20%26%20%2B%20%25%20%3F%23"},
           {"!*'()", "%21%2A%27%28%29"},
           {"ü", "%C3%BC"},
           {std::string("\0\xff", 2), "%00%FF"},
       }) {
    SCOPED_TRACE(row.in);
    EXPECT_EQ(EncodeBagComponent(row.in), row.want);
    std::string back;
    ASSERT_TRUE(DecodeBagComponent(row.want, &back).ok());
    EXPECT_EQ(back, row.in);
  }
}

TEST(BagComponentTest, Decode) {
  struct Row {
    std::string in;
    std::optional<std::string> want;  // nullopt: InvalidArgument
  };
  for (const Row& row : std::vector<Row>{
           {"", ""},
           {"a+b", "a+b"},
           {"%2f%2F", "//"},
           {"%24.mid", "$.mid"},
           {"raw $/=&", "raw $/=&"},
           {"%", std::nullopt},
           {"%4", std::nullopt},
           {"a%4", std::nullopt},
           {"%G1", std::nullopt},
           {"%1G", std::nullopt},
           {"%%41", std::nullopt},
           {"ok%41%", std::nullopt},
       }) {
    SCOPED_TRACE(row.in);
    std::string out;
    Status s = DecodeBagComponent(row.in, &out);
    if (row.want) {
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(out, *row.want);
    } else {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(s.reason(), "ArgumentInvalid");
    }
  }
}

// ---- Classification ----

TEST(TopicPrefixTest, PrefixAndFilter) {
  EXPECT_EQ(EventsTopicPrefix("d%$'"), "devices/d%$'/messages/events/");
  EXPECT_EQ(DeviceboundFilter("d%$'"), "devices/d%$'/messages/devicebound/#");
}

TEST(ClassifyFilterTest, Rows) {
  struct Row {
    std::string name;
    std::string filter;
    FilterKind want;
  };
  const std::vector<Row> rows = {
      {"own C2D", "devices/dev1/messages/devicebound/#", FilterKind::kDevicebound},
      {"methods", "$iothub/methods/POST/#", FilterKind::kMethods},
      {"twin responses", "$iothub/twin/res/#", FilterKind::kTwinResponses},
      {"desired patches", "$iothub/twin/PATCH/properties/desired/#",
       FilterKind::kTwinDesiredPatches},
      {"another device's C2D", "devices/dev2/messages/devicebound/#", FilterKind::kRefused},
      {"longer id with our prefix", "devices/dev10/messages/devicebound/#", FilterKind::kRefused},
      {"shorter id", "devices/dev/messages/devicebound/#", FilterKind::kRefused},
      {"id case differs", "devices/Dev1/messages/devicebound/#", FilterKind::kRefused},
      {"deviceBound spelling", "devices/dev1/messages/deviceBound/#", FilterKind::kRefused},
      {"C2D without #", "devices/dev1/messages/devicebound/", FilterKind::kRefused},
      {"C2D with +", "devices/dev1/messages/devicebound/+", FilterKind::kRefused},
      {"every topic", "#", FilterKind::kRefused},
      {"every device", "devices/+/messages/devicebound/#", FilterKind::kRefused},
      {"everything of a device", "devices/dev1/#", FilterKind::kRefused},
      {"own telemetry", "devices/dev1/messages/events/#", FilterKind::kRefused},
      {"methods lower-case", "$iothub/methods/post/#", FilterKind::kRefused},
      {"methods wider", "$iothub/methods/#", FilterKind::kRefused},
      {"twin wider", "$iothub/twin/#", FilterKind::kRefused},
      {"twin res single level", "$iothub/twin/res/+", FilterKind::kRefused},
      {"twin patch wider", "$iothub/twin/PATCH/#", FilterKind::kRefused},
      {"all $iothub", "$iothub/#", FilterKind::kRefused},
      {"empty", "", FilterKind::kRefused},
      {"trailing space", "$iothub/twin/res/# ", FilterKind::kRefused},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ClassifyFilter("dev1", row.filter), row.want);
  }
}

TEST(ClassifyFilterTest, DeviceIdWithReservedCharactersMatchesRaw) {
  EXPECT_EQ(ClassifyFilter("a$'(:%", "devices/a$'(:%/messages/devicebound/#"),
            FilterKind::kDevicebound);
  EXPECT_EQ(ClassifyFilter("a$'(:%", "devices/a%24%27%28%3A%25/messages/devicebound/#"),
            FilterKind::kRefused);
}

TEST(ClassifyPublishTest, Rows) {
  struct Row {
    std::string name;
    std::string topic;
    PublishKind want;
  };
  const std::vector<Row> rows = {
      {"events, no slash", "devices/dev1/messages/events", PublishKind::kTelemetry},
      {"events, empty bag", "devices/dev1/messages/events/", PublishKind::kTelemetry},
      {"events with a bag", "devices/dev1/messages/events/$.mid=1&k=v", PublishKind::kTelemetry},
      {"events, malformed bag (decode reports it)", "devices/dev1/messages/events/k=%",
       PublishKind::kTelemetry},
      {"events, deeper", "devices/dev1/messages/events/a/b/", PublishKind::kTelemetry},
      {"twin GET", "$iothub/twin/GET/?$rid=1", PublishKind::kTwinRequest},
      {"twin reported PATCH", "$iothub/twin/PATCH/properties/reported/?$rid=2",
       PublishKind::kTwinRequest},
      {"method response", "$iothub/methods/res/200/?$rid=3", PublishKind::kMethodResponse},
      {"eventsX", "devices/dev1/messages/eventsX", PublishKind::kRefused},
      {"events2 with a bag", "devices/dev1/messages/events2/k=v", PublishKind::kRefused},
      {"another device", "devices/dev2/messages/events/", PublishKind::kRefused},
      {"longer id with our prefix", "devices/dev10/messages/events/", PublishKind::kRefused},
      {"shorter id", "devices/dev/messages/events/", PublishKind::kRefused},
      {"id case differs", "devices/DEV1/messages/events/", PublishKind::kRefused},
      {"own devicebound", "devices/dev1/messages/devicebound/", PublishKind::kRefused},
      {"module events", "devices/dev1/modules/m/messages/events/", PublishKind::kRefused},
      {"method request topic", "$iothub/methods/POST/m/?$rid=1", PublishKind::kRefused},
      {"$iothub/twin without slash", "$iothub/twin", PublishKind::kRefused},
      {"$iothub/methods/res without slash", "$iothub/methods/res", PublishKind::kRefused},
      {"twin lookalike", "$iothub/twinX/GET/", PublishKind::kRefused},
      {"leading slash", "/devices/dev1/messages/events/", PublishKind::kRefused},
      {"random", "hello/world", PublishKind::kRefused},
      {"empty", "", PublishKind::kRefused},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ClassifyPublish("dev1", row.topic), row.want);
  }
}

TEST(TwinTopicsTest, RequestIdsComeFromTheQuery) {
  EXPECT_EQ(TwinRequestId("$iothub/twin/GET/?$rid=7"), "7");
  EXPECT_EQ(TwinRequestId("$iothub/twin/PATCH/properties/reported/?$rid=8&$version=3"), "8");
  EXPECT_EQ(TwinRequestId("$iothub/twin/PATCH/properties/reported/?$version=3&$rid=x-y"), "x-y");
  EXPECT_EQ(TwinRequestId("$iothub/twin/GET/"), "");
  EXPECT_EQ(TwinRequestId("$iothub/twin/GET/?rid=1"), "");
  EXPECT_EQ(TwinResponseTopic(501, "7"), "$iothub/twin/res/501/?$rid=7");
}

}  // namespace
}  // namespace iothub::mqtt
