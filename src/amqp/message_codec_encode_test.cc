#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <string>
#include <vector>

#include "amqp/message_codec.h"
#include "amqp/message_codec_test_util.h"

namespace iothub::amqp {
namespace {

using testing_util::DataPtr;
using testing_util::MakeMessage;
using testing_util::SectionCodes;
using testing_util::SplitSections;
using Properties = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kHeader = 0x70;
constexpr uint64_t kMessageAnnotations = 0x72;
constexpr uint64_t kProperties = 0x73;
constexpr uint64_t kApplicationProperties = 0x74;
constexpr uint64_t kData = 0x75;

std::string_view View(pn_bytes_t b) { return {b.start, b.size}; }

// A C2D message as the hub holds it: every sender field and every hub stamp set.
core::Message FullMessage() {
  core::Message m;
  m.body = std::string("bin\0ary", 7);
  m.message_id = "m1";
  m.correlation_id = "c1";
  m.to = "/devices/d1/messages/devicebound";
  m.user_id = std::string("u\0ser", 5);
  m.content_type = "application/json";
  m.content_encoding = "utf-8";
  m.expiry = FromUnixMillis(1'700'003'600'000);
  m.ack = core::AckMode::kPositive;
  m.sequence_number = 42;
  m.enqueued_time = FromUnixMillis(1'700'000'000'123);
  m.lock_token = "lock";
  m.delivery_count = 3;
  m.connection_device_id = "d1";
  m.connection_auth_method = "{}";
  m.connection_auth_generation_id = "g";
  m.properties = {{"k1", "v1"}, {"k2", ""}};
  return m;
}

// What a decoder sees of `m`: the sender's fields (the hub's stamps travel as annotations and
// creation-time, which DecodeMessage does not read).
core::Message SenderFields(core::Message m) {
  m.sequence_number = 0;
  m.enqueued_time.reset();
  m.lock_token.clear();
  m.delivery_count = 0;
  m.connection_device_id.clear();
  m.connection_auth_method.clear();
  m.connection_auth_generation_id.clear();
  return m;
}

TEST(AmqpEncodeTest, RoundTripKeepsEverySenderField) {
  core::Message m = FullMessage();
  Result<core::Message> decoded = DecodeMessage(amqp::EncodeMessage(m));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, SenderFields(m));
}

TEST(AmqpEncodeTest, EmptyBodyIsOneEmptyDataSection) {
  std::string bytes = amqp::EncodeMessage(core::Message());
  EXPECT_EQ(SectionCodes(bytes), (std::vector<uint64_t>{kHeader, kMessageAnnotations, kData}));
  auto m = MakeMessage();
  ASSERT_EQ(pn_message_decode(m.get(), bytes.data(), bytes.size()), 0);
  EXPECT_TRUE(pn_message_is_inferred(m.get()));  // Proton's name for "Data, not amqp-value"
  pn_data_t* body = pn_message_body(m.get());
  pn_data_rewind(body);
  ASSERT_TRUE(pn_data_next(body));
  ASSERT_EQ(pn_data_type(body), PN_BINARY);
  EXPECT_EQ(pn_data_get_binary(body).size, 0u);
  EXPECT_FALSE(pn_data_next(body));
}

TEST(AmqpEncodeTest, AnnotationsCarryTheHubStampsWithTheirTypes) {
  std::string bytes = amqp::EncodeMessage(FullMessage());
  auto m = MakeMessage();
  ASSERT_EQ(pn_message_decode(m.get(), bytes.data(), bytes.size()), 0);
  pn_data_t* annotations = pn_message_annotations(m.get());
  pn_data_rewind(annotations);
  ASSERT_TRUE(pn_data_next(annotations));
  ASSERT_EQ(pn_data_type(annotations), PN_MAP);
  ASSERT_EQ(pn_data_get_map(annotations), 6u);
  pn_data_enter(annotations);
  auto expect_key = [&](std::string_view key, pn_type_t type) {
    ASSERT_TRUE(pn_data_next(annotations));
    ASSERT_EQ(pn_data_type(annotations), PN_SYMBOL);
    EXPECT_EQ(View(pn_data_get_symbol(annotations)), key);
    ASSERT_TRUE(pn_data_next(annotations));
    ASSERT_EQ(pn_data_type(annotations), type) << key;
  };
  expect_key("iothub-enqueuedtime", PN_TIMESTAMP);
  EXPECT_EQ(pn_data_get_timestamp(annotations), 1'700'000'000'123);
  expect_key("iothub-deliverycount", PN_UINT);
  EXPECT_EQ(pn_data_get_uint(annotations), 3u);
  expect_key("x-opt-sequence-number", PN_LONG);
  EXPECT_EQ(pn_data_get_long(annotations), 42);
}

TEST(AmqpEncodeTest, UnsetStampsAreLeftOutButTheDeliveryCountIsNot) {
  std::string bytes = amqp::EncodeMessage(core::Message());
  auto m = MakeMessage();
  ASSERT_EQ(pn_message_decode(m.get(), bytes.data(), bytes.size()), 0);
  pn_data_t* annotations = pn_message_annotations(m.get());
  pn_data_rewind(annotations);
  ASSERT_TRUE(pn_data_next(annotations));
  ASSERT_EQ(pn_data_get_map(annotations), 2u);
  pn_data_enter(annotations);
  ASSERT_TRUE(pn_data_next(annotations));
  EXPECT_EQ(View(pn_data_get_symbol(annotations)), "iothub-deliverycount");
  ASSERT_TRUE(pn_data_next(annotations));
  ASSERT_EQ(pn_data_type(annotations), PN_UINT);
  EXPECT_EQ(pn_data_get_uint(annotations), 0u);
}

TEST(AmqpEncodeTest, PropertiesHaveTheirAmqpTypes) {
  std::string bytes = amqp::EncodeMessage(FullMessage());
  std::vector<DataPtr> sections = SplitSections(bytes);
  ASSERT_EQ(SectionCodes(bytes), (std::vector<uint64_t>{kHeader, kMessageAnnotations, kProperties,
                                                        kApplicationProperties, kData}));
  pn_data_t* d = sections[2].get();
  pn_data_next(d);
  pn_data_enter(d);
  pn_data_next(d);  // descriptor
  pn_data_next(d);
  ASSERT_EQ(pn_data_type(d), PN_LIST);
  ASSERT_EQ(pn_data_get_list(d), 10u);  // up to creation-time
  pn_data_enter(d);
  const pn_type_t expected[] = {PN_STRING, PN_BINARY, PN_STRING, PN_NULL,      PN_NULL,
                                PN_STRING, PN_SYMBOL, PN_SYMBOL, PN_TIMESTAMP, PN_TIMESTAMP};
  for (pn_type_t type : expected) {
    ASSERT_TRUE(pn_data_next(d));
    EXPECT_EQ(pn_data_type(d), type);
  }
  // And Proton's own reader agrees on the values.
  auto m = MakeMessage();
  ASSERT_EQ(pn_message_decode(m.get(), bytes.data(), bytes.size()), 0);
  EXPECT_EQ(View(pn_message_get_id(m.get()).u.as_bytes), "m1");
  EXPECT_EQ(View(pn_message_get_correlation_id(m.get()).u.as_bytes), "c1");
  EXPECT_EQ(View(pn_message_get_user_id(m.get())), std::string("u\0ser", 5));
  EXPECT_STREQ(pn_message_get_address(m.get()), "/devices/d1/messages/devicebound");
  EXPECT_STREQ(pn_message_get_content_type(m.get()), "application/json");
  EXPECT_STREQ(pn_message_get_content_encoding(m.get()), "utf-8");
  EXPECT_EQ(pn_message_get_expiry_time(m.get()), 1'700'003'600'000);
  EXPECT_EQ(pn_message_get_creation_time(m.get()), 1'700'000'000'123);
}

TEST(AmqpEncodeTest, PropertiesListEndsAtTheLastFieldSet) {
  core::Message m;
  m.message_id = "only";
  std::vector<DataPtr> sections = SplitSections(amqp::EncodeMessage(m));
  ASSERT_EQ(sections.size(), 4u);
  pn_data_t* d = sections[2].get();
  pn_data_next(d);
  pn_data_enter(d);
  pn_data_next(d);
  pn_data_next(d);
  EXPECT_EQ(pn_data_get_list(d), 1u);
}

TEST(AmqpEncodeTest, AckIsAddedOnlyWhenSetAndNotAlreadyAProperty) {
  core::Message m;
  m.properties = {{"a", "1"}};
  EXPECT_EQ(SectionCodes(amqp::EncodeMessage(core::Message())),
            (std::vector<uint64_t>{kHeader, kMessageAnnotations, kData}));  // no empty map either

  m.ack = core::AckMode::kFull;
  std::string bytes = amqp::EncodeMessage(m);
  auto proton = MakeMessage();
  ASSERT_EQ(pn_message_decode(proton.get(), bytes.data(), bytes.size()), 0);
  pn_data_t* properties = pn_message_properties(proton.get());
  pn_data_rewind(properties);
  ASSERT_TRUE(pn_data_next(properties));
  ASSERT_EQ(pn_data_get_map(properties), 4u);
  pn_data_enter(properties);
  std::vector<std::string> items;
  while (pn_data_next(properties)) {
    ASSERT_EQ(pn_data_type(properties), PN_STRING);
    items.emplace_back(View(pn_data_get_string(properties)));
  }
  EXPECT_EQ(items, (std::vector<std::string>{"a", "1", "iothub-ack", "full"}));

  m.properties.emplace_back("IoTHub-Ack", "full");  // forwarded from a transport that keeps it
  Result<core::Message> decoded = DecodeMessage(amqp::EncodeMessage(m));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->properties, (Properties{{"a", "1"}}));
  EXPECT_EQ(decoded->ack, core::AckMode::kFull);
}

TEST(AmqpEncodeTest, FeedbackMessageRoundTripsAndProtonReadsIt) {
  core::Message feedback;
  feedback.message_id = "5b2a8f0e-1c1d-4b4e-9a51-0d6f6d1f3b11";
  feedback.user_id = "myhub";
  feedback.content_type = "application/vnd.microsoft.iothub.feedback.json";
  feedback.body =
      R"([{"originalMessageId":"m1","enqueuedTimeUtc":"2024-05-01T10:00:00.1230000Z",)"
      R"("statusCode":"Success","description":"Success","deviceId":"d1","deviceGenerationId":"1"}])";
  feedback.enqueued_time = FromUnixMillis(1'714'557'600'123);
  std::string bytes = amqp::EncodeMessage(feedback);

  Result<core::Message> decoded = DecodeMessage(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, SenderFields(feedback));

  auto m = MakeMessage();
  ASSERT_EQ(pn_message_decode(m.get(), bytes.data(), bytes.size()), 0);
  EXPECT_EQ(View(pn_message_get_user_id(m.get())), "myhub");
  EXPECT_STREQ(pn_message_get_content_type(m.get()), feedback.content_type.c_str());
  pn_data_t* body = pn_message_body(m.get());
  pn_data_rewind(body);
  ASSERT_TRUE(pn_data_next(body));
  ASSERT_EQ(pn_data_type(body), PN_BINARY);
  EXPECT_EQ(View(pn_data_get_binary(body)), feedback.body);
}

TEST(AmqpEncodeTest, LargeValuesUseTheWideEncodings) {
  core::Message m;
  m.body = std::string(70'000, 'b');                      // vbin32
  m.message_id = std::string(300, 'i');                   // str32
  m.properties.emplace_back(std::string(300, 'k'), "v");  // str32 key, map32
  for (int i = 0; i < 300; ++i) m.properties.emplace_back("p" + std::to_string(i), "x");
  m.ack = core::AckMode::kNegative;
  std::string bytes = amqp::EncodeMessage(m);
  EXPECT_EQ(SplitSections(bytes).size(), 5u);
  Result<core::Message> decoded = DecodeMessage(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, m);
}

TEST(AmqpEncodeTest, SmallMapJustUnderTheMap8Limit) {
  // 255 bytes of size is the most a map8 can declare: its count byte plus 254 of entries.
  for (size_t value_size = 240; value_size < 256; ++value_size) {
    core::Message m;
    m.properties.emplace_back("k", std::string(value_size, 'v'));
    Result<core::Message> decoded = DecodeMessage(amqp::EncodeMessage(m));
    ASSERT_TRUE(decoded.has_value()) << value_size << ": " << decoded.error().ToString();
    EXPECT_EQ(*decoded, m);
  }
}

}  // namespace
}  // namespace iothub::amqp
