#include "amqp/message_codec.h"

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "amqp/message_codec_test_util.h"

namespace iothub::amqp {
namespace {

using testing_util::Bytes;
using testing_util::DataSection;
using testing_util::Encode;
using testing_util::MakeData;
using testing_util::MakeMessage;
using testing_util::Section;
using testing_util::ValueSection;

constexpr uint64_t kMessageAnnotations = 0x72;
constexpr uint64_t kProperties = 0x73;
constexpr uint64_t kApplicationProperties = 0x74;
constexpr uint64_t kData = 0x75;

pn_bytes_t B(std::string_view s) { return pn_bytes(s.size(), s.data()); }

// An encoded message holding only an application-properties section filled by `fill`.
template <typename Fill>
std::string WithApplicationProperties(Fill fill) {
  return Section(kApplicationProperties, [&](pn_data_t* d) {
    pn_data_put_map(d);
    pn_data_enter(d);
    fill(d);
    pn_data_exit(d);
  });
}

std::string StringProperty(std::string_view key, std::string_view value) {
  return WithApplicationProperties([&](pn_data_t* d) {
    pn_data_put_string(d, B(key));
    pn_data_put_string(d, B(value));
  });
}

// An encoded properties section: a list of the values `fill` puts.
template <typename Fill>
std::string WithProperties(Fill fill) {
  return Section(kProperties, [&](pn_data_t* d) {
    pn_data_put_list(d);
    pn_data_enter(d);
    fill(d);
    pn_data_exit(d);
  });
}

// The full message a Proton client would send (pn_message_t, Proton's own encoder).
std::string ProtonMessage(pn_atom_t id, pn_atom_t correlation_id) {
  auto m = MakeMessage();
  pn_message_set_id(m.get(), id);
  pn_message_set_correlation_id(m.get(), correlation_id);
  pn_message_set_user_id(m.get(), B("owner"));
  pn_message_set_address(m.get(), "/devices/d1/messages/devicebound");
  pn_message_set_content_type(m.get(), "application/json");
  pn_message_set_content_encoding(m.get(), "utf-8");
  pn_message_set_expiry_time(m.get(), 1'700'000'123'456);
  pn_message_set_subject(m.get(), "ignored");
  pn_message_set_durable(m.get(), true);
  pn_data_t* properties = pn_message_properties(m.get());
  pn_data_put_map(properties);
  pn_data_enter(properties);
  pn_data_put_string(properties, B("k1"));
  pn_data_put_string(properties, B("v1"));
  pn_data_put_string(properties, B("iothub-ack"));
  pn_data_put_string(properties, B("full"));
  pn_data_put_string(properties, B("k2"));
  pn_data_put_string(properties, B("v2"));
  pn_data_exit(properties);
  pn_message_set_inferred(m.get(), true);
  pn_data_put_binary(pn_message_body(m.get()), B("{\"a\":1}"));
  return Encode(m.get());
}

pn_atom_t StringAtom(const char* s) {
  pn_atom_t atom{};
  atom.type = PN_STRING;
  atom.u.as_bytes = pn_bytes(std::strlen(s), s);
  return atom;
}

TEST(AmqpDecodeTest, ReadsEveryFieldOfAProtonMessage) {
  Result<core::Message> m = DecodeMessage(ProtonMessage(StringAtom("m1"), StringAtom("c1")));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->message_id, "m1");
  EXPECT_EQ(m->correlation_id, "c1");
  EXPECT_EQ(m->user_id, "owner");
  EXPECT_EQ(m->to, "/devices/d1/messages/devicebound");
  EXPECT_EQ(m->content_type, "application/json");
  EXPECT_EQ(m->content_encoding, "utf-8");
  EXPECT_EQ(m->expiry, FromUnixMillis(1'700'000'123'456));
  EXPECT_EQ(m->ack, core::AckMode::kFull);
  using Properties = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(m->properties, (Properties{{"k1", "v1"}, {"k2", "v2"}}));  // iothub-ack removed
  EXPECT_EQ(m->body, "{\"a\":1}");
}

// message-id and correlation-id of each AMQP id type, and the string each becomes.
struct IdCase {
  const char* name;
  pn_atom_t atom;
  std::string expected;
};

pn_atom_t UlongAtom(uint64_t v) {
  pn_atom_t atom{};
  atom.type = PN_ULONG;
  atom.u.as_ulong = v;
  return atom;
}

pn_atom_t BinaryAtom(const std::string& bytes) {
  pn_atom_t atom{};
  atom.type = PN_BINARY;
  atom.u.as_bytes = pn_bytes(bytes.size(), bytes.data());
  return atom;
}

pn_atom_t UuidAtom() {
  pn_atom_t atom{};
  atom.type = PN_UUID;
  const unsigned char bytes[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                   0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10};
  std::memcpy(atom.u.as_uuid.bytes, bytes, 16);
  return atom;
}

TEST(AmqpDecodeTest, IdsOfEveryTypeBecomeStrings) {
  const std::string printable = "order-42 ünïcode";
  const std::string binary("\x00\x01\xfe\xff", 4);
  const std::string control = "tab\there";
  const std::string overlong = "\xc0\xaf";  // not valid UTF-8
  pn_atom_t symbol = StringAtom("sym");
  symbol.type = PN_SYMBOL;
  pn_atom_t small_long{};
  small_long.type = PN_LONG;
  small_long.u.as_long = 7;
  pn_atom_t negative_int{};
  negative_int.type = PN_INT;
  negative_int.u.as_int = -5;
  const std::string c1 = "a\xc2\x85";
  const std::string nbsp = "\xc2\xa0";
  const IdCase cases[] = {
      {"string", StringAtom("abc"), "abc"},
      {"uuid", UuidAtom(), "01234567-89ab-cdef-fedc-ba9876543210"},
      {"ulong", UlongAtom(std::numeric_limits<uint64_t>::max()), "18446744073709551615"},
      {"ulong zero", UlongAtom(0), "0"},
      {"printable binary", BinaryAtom(printable), printable},
      {"binary", BinaryAtom(binary), "0001feff"},
      {"binary with a control character", BinaryAtom(control), "7461620968657265"},
      {"binary not UTF-8", BinaryAtom(overlong), "c0af"},
      {"binary with a C1 control (U+0085)", BinaryAtom(c1), "61c285"},
      {"binary just past the C1 controls (U+00A0)", BinaryAtom(nbsp), nbsp},
      {"symbol", symbol, "sym"},
      {"long", small_long, "7"},
      {"negative int", negative_int, "-5"},
  };
  for (const IdCase& c : cases) {
    SCOPED_TRACE(c.name);
    // In a properties section written field by field: message-id first, correlation-id sixth.
    std::string bytes = WithProperties([&](pn_data_t* d) {
      pn_data_put_atom(d, c.atom);
      for (int i = 1; i < 5; ++i) pn_data_put_null(d);
      pn_data_put_atom(d, c.atom);
    });
    Result<core::Message> m = DecodeMessage(bytes);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    EXPECT_EQ(m->message_id, c.expected);
    EXPECT_EQ(m->correlation_id, c.expected);
    // Proton's pn_message_t writes only the four id types of the spec (it drops the others).
    if (c.atom.type == PN_SYMBOL || c.atom.type == PN_LONG || c.atom.type == PN_INT) continue;
    m = DecodeMessage(ProtonMessage(c.atom, c.atom));
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    EXPECT_EQ(m->message_id, c.expected);
    EXPECT_EQ(m->correlation_id, c.expected);
  }
}

TEST(AmqpDecodeTest, IdOfAnotherTypeIsInvalid) {
  for (int field : {0, 5}) {  // message-id, correlation-id
    std::string bytes = WithProperties([&](pn_data_t* d) {
      for (int i = 0; i < field; ++i) pn_data_put_null(d);
      pn_data_put_bool(d, true);
    });
    EXPECT_EQ(DecodeMessage(bytes).error().code(), StatusCode::kInvalidArgument) << field;
  }
}

TEST(AmqpDecodeTest, UserIdKeepsItsBytesAndMayBeAString) {
  std::string binary = WithProperties([](pn_data_t* d) {
    pn_data_put_null(d);
    pn_data_put_binary(d, pn_bytes(3, "a\0b"));
  });
  EXPECT_EQ(DecodeMessage(binary)->user_id, std::string("a\0b", 3));
  std::string text = WithProperties([](pn_data_t* d) {
    pn_data_put_null(d);
    pn_data_put_string(d, B("hub"));
  });
  EXPECT_EQ(DecodeMessage(text)->user_id, "hub");
}

TEST(AmqpDecodeTest, KeptPropertiesOfTheWrongTypeAreInvalidOthersIgnored) {
  std::string bad_to = WithProperties([](pn_data_t* d) {
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_int(d, 3);  // to
  });
  EXPECT_EQ(DecodeMessage(bad_to).error().code(), StatusCode::kInvalidArgument);
  std::string bad_expiry = WithProperties([](pn_data_t* d) {
    for (int i = 0; i < 8; ++i) pn_data_put_null(d);
    pn_data_put_string(d, B("tomorrow"));  // absolute-expiry-time
  });
  EXPECT_EQ(DecodeMessage(bad_expiry).error().code(), StatusCode::kInvalidArgument);
  std::string odd_subject = WithProperties([](pn_data_t* d) {
    for (int i = 0; i < 3; ++i) pn_data_put_null(d);
    pn_data_put_list(d);  // subject: not kept, so not checked
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_symbol(d, B("text/plain"));  // content-type as the symbol it should be
  });
  Result<core::Message> m = DecodeMessage(odd_subject);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->content_type, "text/plain");
}

TEST(AmqpDecodeTest, ExpiryZeroOrAbsentIsUnset) {
  auto with_expiry = [](auto put) {
    return WithProperties([&](pn_data_t* d) {
      for (int i = 0; i < 8; ++i) pn_data_put_null(d);
      put(d);
    });
  };
  EXPECT_EQ(DecodeMessage(with_expiry([](pn_data_t* d) { pn_data_put_timestamp(d, 5); }))->expiry,
            FromUnixMillis(5));
  EXPECT_EQ(DecodeMessage(with_expiry([](pn_data_t* d) { pn_data_put_timestamp(d, 0); }))->expiry,
            std::nullopt);
  EXPECT_EQ(DecodeMessage(with_expiry([](pn_data_t* d) { pn_data_put_null(d); }))->expiry,
            std::nullopt);
  EXPECT_EQ(DecodeMessage(WithProperties([](pn_data_t*) {}))->expiry, std::nullopt);
}

TEST(AmqpDecodeTest, ApplicationPropertiesOfEveryScalarTypeBecomeStringsInOrder) {
  pn_uuid_t uuid;
  std::memcpy(uuid.bytes, UuidAtom().u.as_uuid.bytes, 16);
  std::string bytes = WithApplicationProperties([&](pn_data_t* d) {
    auto key = [d](const char* k) { pn_data_put_string(d, B(k)); };
    key("string"), pn_data_put_string(d, B("text"));
    key("symbol"), pn_data_put_symbol(d, B("sym"));
    key("true"), pn_data_put_bool(d, true);
    key("false"), pn_data_put_bool(d, false);
    key("ubyte"), pn_data_put_ubyte(d, 255);
    key("byte"), pn_data_put_byte(d, -128);
    key("ushort"), pn_data_put_ushort(d, 65535);
    key("short"), pn_data_put_short(d, -32768);
    key("uint"), pn_data_put_uint(d, 4294967295u);
    key("int"), pn_data_put_int(d, std::numeric_limits<int32_t>::min());
    key("ulong"), pn_data_put_ulong(d, std::numeric_limits<uint64_t>::max());
    key("long"), pn_data_put_long(d, std::numeric_limits<int64_t>::min());
    key("float"), pn_data_put_float(d, 0.1f);
    key("double"), pn_data_put_double(d, 0.1);
    key("big double"), pn_data_put_double(d, 1e300);
    key("char"), pn_data_put_char(d, 0xe9);
    key("emoji char"), pn_data_put_char(d, 0x1f600);
    key("timestamp"), pn_data_put_timestamp(d, 1'714'557'600'123);
    key("uuid"), pn_data_put_uuid(d, uuid);
    key("printable binary"), pn_data_put_binary(d, B("bin"));
    key("binary"), pn_data_put_binary(d, pn_bytes(2, "\x01\xff"));
    key("null"), pn_data_put_null(d);
    pn_data_put_symbol(d, B("symbol key")), pn_data_put_string(d, B("ok"));
  });
  Result<core::Message> m = DecodeMessage(bytes);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  using Properties = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(m->properties, (Properties{
                               {"string", "text"},
                               {"symbol", "sym"},
                               {"true", "true"},
                               {"false", "false"},
                               {"ubyte", "255"},
                               {"byte", "-128"},
                               {"ushort", "65535"},
                               {"short", "-32768"},
                               {"uint", "4294967295"},
                               {"int", "-2147483648"},
                               {"ulong", "18446744073709551615"},
                               {"long", "-9223372036854775808"},
                               {"float", "0.1"},
                               {"double", "0.1"},
                               {"big double", "1e+300"},
                               {"char", "\xc3\xa9"},
                               {"emoji char", "\xf0\x9f\x98\x80"},
                               {"timestamp", "2024-05-01T10:00:00.1230000Z"},
                               {"uuid", "01234567-89ab-cdef-fedc-ba9876543210"},
                               {"printable binary", "bin"},
                               {"binary", "01ff"},
                               {"null", ""},
                               {"symbol key", "ok"},
                           }));
  EXPECT_EQ(m->ack, core::AckMode::kNone);
}

TEST(AmqpDecodeTest, CompoundDecimalOrDescribedPropertyValuesAreInvalid) {
  const std::vector<std::pair<const char*, void (*)(pn_data_t*)>> values = {
      {"list", [](pn_data_t* d) { pn_data_put_list(d); }},
      {"map", [](pn_data_t* d) { pn_data_put_map(d); }},
      {"array",
       [](pn_data_t* d) {
         pn_data_put_array(d, false, PN_INT);
         pn_data_enter(d);
         pn_data_put_int(d, 1);
         pn_data_exit(d);
       }},
      {"decimal32", [](pn_data_t* d) { pn_data_put_decimal32(d, 1); }},
      {"described",
       [](pn_data_t* d) {
         pn_data_put_described(d);
         pn_data_enter(d);
         pn_data_put_symbol(d, B("x"));
         pn_data_put_string(d, B("y"));
         pn_data_exit(d);
       }},
      {"surrogate char", [](pn_data_t* d) { pn_data_put_char(d, 0xd800); }},
  };
  for (const auto& value : values) {
    std::string bytes = WithApplicationProperties([&](pn_data_t* d) {
      pn_data_put_string(d, B("k"));
      value.second(d);
    });
    EXPECT_EQ(DecodeMessage(bytes).error().code(), StatusCode::kInvalidArgument) << value.first;
  }
}

TEST(AmqpDecodeTest, NonStringKeyIsInvalid) {
  std::string bytes = WithApplicationProperties([](pn_data_t* d) {
    pn_data_put_int(d, 1);
    pn_data_put_string(d, B("v"));
  });
  EXPECT_EQ(DecodeMessage(bytes).error().code(), StatusCode::kInvalidArgument);
}

TEST(AmqpDecodeTest, RepeatedKeyKeepsTheLastValueInTheFirstPlace) {
  std::string bytes = WithApplicationProperties([](pn_data_t* d) {
    for (const char* s : {"a", "1", "b", "2", "a", "3"}) pn_data_put_string(d, B(s));
  });
  using Properties = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(DecodeMessage(bytes)->properties, (Properties{{"a", "3"}, {"b", "2"}}));
}

TEST(AmqpDecodeTest, IotHubAckInAnyCaseSetsAckAndIsRemoved) {
  Result<core::Message> m = DecodeMessage(StringProperty("IoTHub-Ack", "Positive"));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->ack, core::AckMode::kPositive);
  EXPECT_TRUE(m->properties.empty());
  EXPECT_EQ(DecodeMessage(StringProperty("iothub-ack", "negative"))->ack, core::AckMode::kNegative);
  EXPECT_EQ(DecodeMessage(StringProperty("iothub-ack", "none"))->ack, core::AckMode::kNone);
  EXPECT_EQ(DecodeMessage(StringProperty("iothub-ack", ""))->ack, core::AckMode::kNone);
  EXPECT_EQ(DecodeMessage(StringProperty("iothub-ack", "sometimes")).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeMessage(StringProperty("iothub-acks", "x"))->properties.size(), 1u);
}

TEST(AmqpDecodeTest, SeveralDataSectionsAreConcatenated) {
  // Proton 0.37's own pn_message_decode keeps only the last of these.
  std::string bytes = DataSection("hello ") + DataSection("") + DataSection("world");
  Result<core::Message> m = DecodeMessage(bytes);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->body, "hello world");
}

TEST(AmqpDecodeTest, AmqpValueStringBinarySymbolOrNullBody) {
  EXPECT_EQ(
      DecodeMessage(ValueSection([](pn_data_t* d) { pn_data_put_string(d, B("token")); }))->body,
      "token");
  EXPECT_EQ(DecodeMessage(ValueSection([](pn_data_t* d) {
              pn_data_put_binary(d, pn_bytes(2, "\0\1"));
            }))->body,
            std::string("\0\1", 2));
  EXPECT_EQ(
      DecodeMessage(ValueSection([](pn_data_t* d) { pn_data_put_symbol(d, B("sym")); }))->body,
      "sym");
  Result<core::Message> null_body = DecodeMessage(
      StringProperty("k", "v") + ValueSection([](pn_data_t* d) { pn_data_put_null(d); }));
  ASSERT_TRUE(null_body.has_value()) << null_body.error().ToString();
  EXPECT_EQ(null_body->body, "");
  EXPECT_EQ(DecodeMessage(StringProperty("k", "v"))->body, "");  // no body section at all
}

TEST(AmqpDecodeTest, OtherBodiesAreUnsupported) {
  const std::vector<std::pair<const char*, std::string>> bodies = {
      {"amqp-value map", ValueSection([](pn_data_t* d) { pn_data_put_map(d); })},
      {"amqp-value int", ValueSection([](pn_data_t* d) { pn_data_put_int(d, 1); })},
      {"amqp-sequence", Section(0x76,
                                [](pn_data_t* d) {
                                  pn_data_put_list(d);
                                  pn_data_enter(d);
                                  pn_data_put_string(d, B("x"));
                                  pn_data_exit(d);
                                })},
      {"data then amqp-value",
       DataSection("a") + ValueSection([](pn_data_t* d) { pn_data_put_string(d, B("b")); })},
      {"amqp-value then data",
       ValueSection([](pn_data_t* d) { pn_data_put_string(d, B("b")); }) + DataSection("a")},
      {"two amqp-values", ValueSection([](pn_data_t* d) { pn_data_put_null(d); }) +
                              ValueSection([](pn_data_t* d) { pn_data_put_null(d); })},
  };
  for (const auto& [name, bytes] : bodies) {
    EXPECT_EQ(DecodeMessage(bytes).error().code(), StatusCode::kInvalidArgument) << name;
  }
}

TEST(AmqpDecodeTest, SectionsMayUseSymbolicDescriptorsAndUnusedOnesAreIgnored) {
  auto symbolic = [](const char* name, std::string_view binary) {
    auto d = MakeData();
    pn_data_put_described(d.get());
    pn_data_enter(d.get());
    pn_data_put_symbol(d.get(), B(name));
    pn_data_put_binary(d.get(), B(binary));
    pn_data_exit(d.get());
    return Encode(d.get());
  };
  auto empty_map = [](pn_data_t* d) { pn_data_put_map(d); };
  std::string bytes = Section(0x70, [](pn_data_t* d) { pn_data_put_list(d); }) +  // header
                      Section(0x71, empty_map) +                                  // delivery ann.
                      Section(0x72, empty_map) + symbolic("amqp:data:binary", "x") +
                      Section(0x78, empty_map);  // footer
  Result<core::Message> m = DecodeMessage(bytes);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->body, "x");
  EXPECT_EQ(DecodeMessage(symbolic("amqp:nonsense:binary", "x")).error().code(),
            StatusCode::kInvalidArgument);
}

TEST(AmqpDecodeTest, MalformedMessagesAreInvalid) {
  auto plain_string = MakeData();
  pn_data_put_string(plain_string.get(), B("not a section"));
  const std::vector<std::pair<const char*, std::string>> inputs = {
      {"empty", ""},
      {"garbage", "GET / HTTP/1.1\r\n\r\n"},
      {"zeros", std::string(16, '\0')},
      {"not described", Encode(plain_string.get())},
      {"unknown section", Section(0x79, [](pn_data_t* d) { pn_data_put_null(d); })},
      {"data not binary", Section(kData, [](pn_data_t* d) { pn_data_put_string(d, B("x")); })},
      {"properties not a list",
       Section(kProperties, [](pn_data_t* d) { pn_data_put_string(d, B("x")); })},
      {"application-properties not a map",
       Section(kApplicationProperties, [](pn_data_t* d) { pn_data_put_list(d); })},
      {"two properties sections",
       WithProperties([](pn_data_t*) {}) + WithProperties([](pn_data_t*) {})},
      {"trailing byte", DataSection("x") + std::string(1, '\x40')},
      // A list8 declaring 3 bytes (count + 2) but holding one 1-byte element: Proton alone would
      // read the spare byte as the next section.
      {"list shorter than its size", Bytes({0x00, 0x53, 0x73, 0xc0, 0x03, 0x01, 0x40, 0x40})},
      {"odd map",
       Bytes({0x00, 0x53, 0x74, 0xc1, 0x04, 0x01, 0xa1, 0x01, 'k', 0x00, 0x53, 0x75, 0xa0, 0x00})},
      // array32 of 2^32 - 1 nulls (zero bytes each).
      {"huge array of nothing",
       Bytes({0x00, 0x53, 0x72, 0xf0, 0x00, 0x00, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0x40})},
      {"list descriptor", Bytes({0x00, 0x45, 0xa0, 0x00})},
      {"compound descriptor", Bytes({0x00, 0xc0, 0x01, 0x00, 0xa0, 0x00})},
      {"described descriptor", Bytes({0x00, 0x00, 0x53, 0x75, 0xa0, 0x00})},
  };
  for (const auto& [name, bytes] : inputs) {
    Result<core::Message> m = DecodeMessage(bytes);
    ASSERT_FALSE(m.has_value()) << name;
    EXPECT_EQ(m.error().code(), StatusCode::kInvalidArgument) << name;
  }
}

// Nested lists inside the (ignored) message annotations: deep enough for Proton's recursive
// decoder to exhaust a thread's stack if it were handed the bytes.
std::string NestedAnnotations(size_t levels) {
  std::string bytes = Bytes({0x00, 0x53, 0x72});
  for (size_t i = 0; i < levels; ++i) {
    // list32: size (the count, the lists inside and the null), count 1.
    auto size = static_cast<uint32_t>(4 + (levels - i - 1) * 9 + 1);
    bytes.push_back(static_cast<char>(0xd0));
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(size >> shift));
    bytes.append({0, 0, 0, 1});
  }
  bytes.push_back(0x40);  // null at the bottom
  return bytes + DataSection("x");
}

// Runs `f` on a thread with a 512 KiB stack (shard threads are not the 8 MiB main thread).
template <typename F>
void OnSmallStack(F f) {
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, size_t{512} * 1024), 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<F*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attributes, run, &f), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
}

TEST(AmqpDecodeTest, DeepNestingIsInvalidNotACrash) {
  EXPECT_TRUE(DecodeMessage(NestedAnnotations(20)).has_value());
  EXPECT_EQ(DecodeMessage(NestedAnnotations(33)).error().code(), StatusCode::kInvalidArgument);
  // 270 KB: Proton's recursive decoder alone needs megabytes of stack for this.
  std::string deep = NestedAnnotations(30'000);
  Status status;
  OnSmallStack([&] { status = DecodeMessage(deep).status(); });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

TEST(AmqpDecodeTest, EveryPrefixOfAMessageDecodesOnlyAtSectionBoundaries) {
  std::vector<std::string> sections = {
      Section(kMessageAnnotations,
              [](pn_data_t* d) {
                pn_data_put_map(d);
                pn_data_enter(d);
                pn_data_put_symbol(d, B("x-opt-a"));
                pn_data_put_long(d, 1);
                pn_data_exit(d);
              }),
      WithProperties([](pn_data_t* d) {
        pn_data_put_string(d, B("id"));
        pn_data_put_binary(d, B("user"));
      }),
      StringProperty("key", "value"),
      DataSection("first"),
      DataSection(std::string(300, 'b')),  // vbin32
  };
  std::string bytes;
  std::vector<size_t> boundaries;
  for (const std::string& s : sections) {
    bytes += s;
    boundaries.push_back(bytes.size());
  }
  for (size_t n = 0; n <= bytes.size(); ++n) {
    // A copy of exactly n bytes, so that reading past them is caught by ASan.
    std::unique_ptr<char[]> prefix(new char[n]);
    std::memcpy(prefix.get(), bytes.data(), n);
    Result<core::Message> m = DecodeMessage(std::string_view(prefix.get(), n));
    bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    EXPECT_EQ(m.has_value(), boundary) << n;
  }
  // The same for a message Proton encoded (it writes a header section first).
  std::string proton = ProtonMessage(StringAtom("m"), UuidAtom());
  for (size_t n = 0; n < proton.size(); ++n) {
    std::unique_ptr<char[]> prefix(new char[n]);
    std::memcpy(prefix.get(), proton.data(), n);
    DecodeMessage(std::string_view(prefix.get(), n)).status().IgnoreError();
  }
  EXPECT_TRUE(DecodeMessage(proton).has_value());
}

}  // namespace
}  // namespace iothub::amqp
