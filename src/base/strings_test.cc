#include "base/strings.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/coding.h"

namespace iothub {
namespace {

TEST(UrlEncodeTest, EncodesReservedAndSpaceAsPercent20) {
  EXPECT_EQ(UrlEncode("a b/c=d&e+f%"), "a%20b%2Fc%3Dd%26e%2Bf%25");
  EXPECT_EQ(UrlEncode("AZaz09-._~"), "AZaz09-._~");
}

TEST(UrlDecodeTest, DecodesAndKeepsPlus) {
  std::string out;
  ASSERT_TRUE(UrlDecode("a%20b%2fc+d", &out));
  EXPECT_EQ(out, "a b/c+d");
  EXPECT_FALSE(UrlDecode("%2", &out));
  EXPECT_FALSE(UrlDecode("%zz", &out));
}

TEST(StringsTest, CaseInsensitive) {
  EXPECT_TRUE(EqualsIgnoreCase("/Messages/DeviceBound", "/messages/devicebound"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abd"));
  EXPECT_TRUE(StartsWithIgnoreCase("HOST/devices/x", "host/"));
  EXPECT_EQ(Split("a&&b", '&').size(), 3u);
}

TEST(StableHashTest, IsStable) {
  // FNV-1a 64 of "a" is a published constant; partitioning must not change between builds.
  EXPECT_EQ(StableHash("a"), 0xaf63dc4c8601ec8cull);
}

TEST(Iso8601Test, FormatsAndParses) {
  Timestamp t = FromUnixMillis(1714557600123);
  EXPECT_EQ(FormatIso8601(t), "2024-05-01T10:00:00.1230000Z");
  Timestamp back;
  ASSERT_TRUE(ParseIso8601("2024-05-01T10:00:00.1230000Z", &back));
  EXPECT_EQ(back, t);
  ASSERT_TRUE(ParseIso8601("2024-05-01T10:00:00Z", &back));
  EXPECT_EQ(ToUnixMillis(back), 1714557600000);
  EXPECT_FALSE(ParseIso8601("2024-05-01 10:00:00Z", &back));
  EXPECT_FALSE(ParseIso8601("2024-13-01T10:00:00Z", &back));
  EXPECT_FALSE(ParseIso8601("2024-05-01T10:00:00", &back));
}

TEST(Iso8601Test, FormatsTimesBeforeTheEpochAndExtremeValuesWithoutOverflow) {
  EXPECT_EQ(FormatIso8601(FromUnixMillis(-1)), "1969-12-31T23:59:59.9990000Z");
  // A damaged stored time must format to something, never overflow (UBSan checks).
  EXPECT_FALSE(FormatIso8601(FromUnixMillis(INT64_MIN)).empty());
  EXPECT_FALSE(FormatIso8601(FromUnixMillis(INT64_MAX)).empty());
}

TEST(CodingTest, RoundTripsAndRejectsTruncation) {
  std::string s;
  PutFixed64BE(&s, 0x0102030405060708ull);
  PutVarint64(&s, 300);
  PutLengthPrefixed(&s, "hello");
  Decoder d(s);
  uint64_t a, b;
  std::string c;
  ASSERT_TRUE(d.GetFixed64BE(&a));
  ASSERT_TRUE(d.GetVarint64(&b));
  ASSERT_TRUE(d.GetLengthPrefixed(&c));
  EXPECT_EQ(a, 0x0102030405060708ull);
  EXPECT_EQ(b, 300u);
  EXPECT_EQ(c, "hello");
  EXPECT_TRUE(d.done());
  Decoder truncated(std::string_view(s).substr(0, s.size() - 1));
  ASSERT_TRUE(truncated.GetFixed64BE(&a));
  ASSERT_TRUE(truncated.GetVarint64(&b));
  EXPECT_FALSE(truncated.GetLengthPrefixed(&c));
}

TEST(CodingTest, BigEndianSortsNumerically) {
  std::string a, b;
  PutFixed64BE(&a, 255);
  PutFixed64BE(&b, 256);
  EXPECT_LT(a, b);
}

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9t\xC3\xA9"));        // été
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));             // €
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));         // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));         // U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string_view("\0", 1)));  // NUL is a valid code point
}

TEST(Utf8Test, RejectsMalformedSequences) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));          // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

}  // namespace
}  // namespace iothub
