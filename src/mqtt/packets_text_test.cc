// The text rules of the codec: MQTT UTF-8 (spec 1.5.3) and topic matching (spec 4.7).
#include <gtest/gtest.h>

#include "mqtt/packets.h"

namespace iothub::mqtt {
namespace {

using std::string_literals::operator""s;

TEST(MqttUtf8Test, WellFormedStringsAreValid) {
  for (const std::string& s : {
           ""s, "devices/d1/messages/events/"s,
           "A\xf0\xaa\x9b\x94"s,  // spec 1.5.3.1: U+0041 U+2A6D4
           "\xc2\x80"s,           // U+0080, the first two-byte code point
           "\xc3\xa9t\xc3\xa9"s,  // "été"
           "\xdf\xbf"s,           // U+07FF
           "\xe0\xa0\x80"s,       // U+0800, the first three-byte code point
           "\xe2\x82\xac"s,       // U+20AC
           "\xed\x9f\xbf"s,       // U+D7FF, just below the surrogates
           "\xee\x80\x80"s,       // U+E000, just above them
           "\xef\xbb\xbf"s,       // U+FEFF (a BOM is a code point like another, spec 1.5.3)
           "\xef\xbf\xbf"s,       // U+FFFF, a non-character: a SHOULD, not malformed
           "\xf0\x90\x80\x80"s,   // U+10000, the first four-byte code point
           "\xf4\x8f\xbf\xbf"s,   // U+10FFFF, the last
           "\x01\x1f\x7f"s,       // control characters: may be refused, are not malformed
       }) {
    EXPECT_TRUE(IsValidMqttUtf8(s)) << testing::PrintToString(s);
  }
}

TEST(MqttUtf8Test, MalformedStringsAreInvalid) {
  struct Case {
    const char* what;
    std::string text;
  };
  for (const Case& c : {
           Case{"NUL", "a\0b"s},
           Case{"NUL alone", "\0"s},
           Case{"overlong NUL", "\xc0\x80"s},
           Case{"overlong '/'", "\xc0\xaf"s},
           Case{"overlong U+007F", "\xc1\xbf"s},
           Case{"overlong U+07FF in three bytes", "\xe0\x9f\xbf"s},
           Case{"overlong U+FFFF in four bytes", "\xf0\x8f\xbf\xbf"s},
           Case{"surrogate U+D800", "\xed\xa0\x80"s},
           Case{"surrogate U+DBFF", "\xed\xaf\xbf"s},
           Case{"surrogate U+DC00", "\xed\xb0\x80"s},
           Case{"surrogate U+DFFF", "\xed\xbf\xbf"s},
           Case{"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80"s},
           Case{"above U+10FFFF", "\xf4\x90\x80\x80"s},
           Case{"lead byte F5", "\xf5\x80\x80\x80"s},
           Case{"byte FF", "\xff"s},
           Case{"byte FE", "\xfe"s},
           Case{"lone continuation byte", "a\x80"s},
           Case{"truncated two-byte sequence", "\xc3"s},
           Case{"truncated three-byte sequence", "ab\xe2\x82"s},
           Case{"truncated four-byte sequence", "\xf0\xaa\x9b"s},
           Case{"ASCII instead of a continuation byte", "\xc3\x28"s},
           Case{"lead byte instead of a continuation byte", "\xe2\xc3\xa9"s},
           Case{"bad third byte", "\xe2\x82\x28"s},
           Case{"bad fourth byte", "\xf0\xaa\x9b\x28"s},
       }) {
    EXPECT_FALSE(IsValidMqttUtf8(c.text)) << c.what;
  }
}

struct MatchCase {
  const char* filter;
  const char* name;
  bool matches;
};

TEST(TopicMatchesTest, ExamplesOfTheSpec) {
  for (const MatchCase& c : {
           // 4.7.1.2: multi-level wildcard.
           MatchCase{"sport/tennis/player1/#", "sport/tennis/player1", true},
           MatchCase{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
           MatchCase{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
           MatchCase{"sport/#", "sport", true},
           MatchCase{"#", "sport/tennis", true},
           MatchCase{"#", "/", true},
           MatchCase{"sport/#", "sports", false},
           // 4.7.1.3: single-level wildcard.
           MatchCase{"sport/tennis/+", "sport/tennis/player1", true},
           MatchCase{"sport/tennis/+", "sport/tennis/player2", true},
           MatchCase{"sport/tennis/+", "sport/tennis/player1/ranking", false},
           MatchCase{"sport/+", "sport", false},
           MatchCase{"sport/+", "sport/", true},
           MatchCase{"+/+", "/finance", true},
           MatchCase{"/+", "/finance", true},
           MatchCase{"+", "/finance", false},
           MatchCase{"+", "finance", true},
           MatchCase{"+/tennis/#", "sport/tennis/player1", true},
           MatchCase{"+/tennis/#", "sport/tennis", true},
           // 4.7.2: topics beginning with '$'.
           MatchCase{"#", "$SYS/broker", false},
           MatchCase{"+/monitor/Clients", "$SYS/monitor/Clients", false},
           MatchCase{"$SYS/#", "$SYS/monitor/Clients", true},
           MatchCase{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
           MatchCase{"$iothub/methods/POST/#", "$iothub/methods/POST/reboot/?$rid=1", true},
           MatchCase{"a/#", "a/$b", true},  // '$' only matters in the first character
           // 4.7.3: case sensitive, and empty levels are levels.
           MatchCase{"ACCOUNTS", "Accounts", false},
           MatchCase{"a//b", "a//b", true},
           MatchCase{"a/+/b", "a//b", true},
           MatchCase{"a/b", "a//b", false},
           MatchCase{"a/b", "a/b/", false},
           MatchCase{"a/b/", "a/b", false},
           MatchCase{"a/b/#", "a/b/", true},
           MatchCase{"/", "/", true},
           MatchCase{"+/+", "/", true},
           MatchCase{"a/b", "a/b", true},
           MatchCase{"a/b", "a/bc", false},
           MatchCase{"a/bc", "a/b", false},
           // IoT Hub's C2D filter.
           MatchCase{"devices/d1/messages/devicebound/#",
                     "devices/d1/messages/devicebound/%24.to=%2Fdevices%2Fd1", true},
           MatchCase{"devices/d1/messages/devicebound/#", "devices/d2/messages/devicebound/",
                     false},
           // Empty strings are not topics.
           MatchCase{"", "", false},
           MatchCase{"#", "", false},
       }) {
    EXPECT_EQ(TopicMatches(c.filter, c.name), c.matches) << c.filter << " vs " << c.name;
  }
}

}  // namespace
}  // namespace iothub::mqtt
