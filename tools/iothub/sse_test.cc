#include "tools/iothub/sse.h"

#include <gtest/gtest.h>

namespace iothub::cli {
namespace {

constexpr char kTwoEvents[] =
    "id: 0:5\nevent: message\ndata: {\"offset\":5}\n\n"
    ": keep-alive\n\n"
    "id: 1:9\nevent: message\ndata: {\"offset\":9}\n\n";

std::vector<SseEvent> FeedAll(SseParser& parser, std::string_view bytes) {
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed(bytes, &events).ok());
  return events;
}

TEST(SseParserTest, ParsesTheHubsEvents) {
  SseParser parser;
  std::vector<SseEvent> events = FeedAll(parser, kTwoEvents);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "0:5");
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "{\"offset\":5}");
  EXPECT_EQ(events[1].id, "1:9");
  EXPECT_EQ(parser.last_event_id(), "1:9");
}

TEST(SseParserTest, ByteAtATimeGivesTheSameEvents) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : std::string_view(kTwoEvents)) {
    ASSERT_TRUE(parser.Feed(std::string_view(&c, 1), &events).ok());
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "{\"offset\":9}");
}

TEST(SseParserTest, KeepAliveCommentsAloneGiveNothing) {
  SseParser parser;
  EXPECT_TRUE(FeedAll(parser, ": keep-alive\n\n: keep-alive\n\n").empty());
}

TEST(SseParserTest, AcceptsCrLfAndCrLineEndsEvenSplitBetweenChunks) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: a\r", &events).ok());
  ASSERT_TRUE(parser.Feed("\n\r", &events).ok());  // CRLF split, then a CR ending the event
  ASSERT_TRUE(parser.Feed("\ndata: b\r\r", &events).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
}

TEST(SseParserTest, JoinsDataLinesAndDefaultsTheType) {
  SseParser parser;
  std::vector<SseEvent> events = FeedAll(parser, "data: one\ndata:two\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "one\ntwo\n");
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].id, "");
}

TEST(SseParserTest, IdPersistsAndEventsWithoutDataAreDropped) {
  SseParser parser;
  std::vector<SseEvent> events =
      FeedAll(parser, "id: 3:1\nevent: other\n\ndata: x\n\nretry: 10\nunknown: y\ndata: z\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "3:1");
  EXPECT_EQ(events[0].type, "message");  // the type of the dropped event does not leak
  EXPECT_EQ(events[1].id, "3:1");
  EXPECT_EQ(events[1].data, "z");
}

TEST(SseParserTest, UnfinishedEventWaitsForItsBlankLine) {
  SseParser parser;
  EXPECT_TRUE(FeedAll(parser, "data: half").empty());
  EXPECT_TRUE(FeedAll(parser, "\n").empty());
  EXPECT_EQ(FeedAll(parser, "\n").size(), 1u);
}

TEST(SseParserTest, OverlongLineIsAnError) {
  SseParser parser;
  std::vector<SseEvent> events;
  std::string chunk(1 << 20, 'x');
  Status status;
  for (int i = 0; i < 5 && status.ok(); ++i) status = parser.Feed(chunk, &events);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iothub::cli
