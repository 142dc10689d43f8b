#include <gtest/gtest.h>

#include "tools/iothub/cli_status.h"
#include "tools/iothub/fake_transport.h"
#include "tools/iothub/sse.h"

namespace iothub::cli {
namespace {

std::string SseEventText(int partition, int offset, const std::string& device,
                         const std::string& body) {
  Json event = {{"partition", partition},
                {"offset", offset},
                {"sequenceNumber", offset},
                {"enqueuedTimeUtc", "2024-05-01T10:00:00.0000000Z"},
                {"deviceId", device},
                {"body", "eA=="},
                {"bodyText", body},
                {"properties", {{"k", "v"}}},
                {"systemProperties", {{"message-id", "m" + std::to_string(offset)}}}};
  return "id: " + std::to_string(partition) + ":" + std::to_string(offset) +
         "\nevent: message\ndata: " + event.dump() + "\n\n";
}

HttpResponse EventStreamHead() { return Reply(200, "", {{"Content-Type", "text/event-stream"}}); }

TEST(MonitorTest, PrintsEventsUntilTheCount) {
  CommandHarness hub;
  std::string first = SseEventText(0, 1, "d1", "hello");
  hub.transport.streams.push_back(
      {.head = EventStreamHead(),
       .chunks = {": keep-alive\n\n", first.substr(0, 10), first.substr(10),
                  SseEventText(1, 1, "d2", "second"), SseEventText(1, 2, "d2", "third")}});
  ASSERT_EQ(hub.Run({"monitor", "--count", "2", "--from", "start", "--device", "d1"}), kExitOk)
      << hub.err.str();
  std::string out = hub.out.str();
  EXPECT_NE(out.find("2024-05-01T10:00:00.0000000Z  d1  (partition 0, offset 1)\n"
                     "  body: hello\n"
                     "  properties: k=v\n"
                     "  system: message-id=m1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("body: second"), std::string::npos);
  EXPECT_EQ(out.find("third"), std::string::npos);
  const HttpRequest& request = hub.transport.requests.at(0);
  EXPECT_NE(request.target.find("from=start&deviceId=d1"), std::string::npos);
}

TEST(MonitorTest, JsonPrintsOneEventPerLine) {
  CommandHarness hub;
  hub.transport.streams.push_back(
      {.head = EventStreamHead(),
       .chunks = {SseEventText(0, 1, "d1", "a") + SseEventText(0, 2, "d1", "b")}});
  ASSERT_EQ(hub.Run({"monitor", "--count", "2", "--json"}), kExitOk);
  std::string out = hub.out.str();
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
  EXPECT_EQ(Json::parse(out.substr(0, out.find('\n')))["bodyText"], "a");
}

TEST(MonitorTest, ResumesALostStreamAfterEachPartitionsLastEvent) {
  CommandHarness hub;
  hub.transport.streams.push_back(
      {.head = EventStreamHead(),
       .chunks = {SseEventText(3, 7, "d1", "a") + SseEventText(10, 2, "d2", "b") +
                  SseEventText(3, 9, "d1", "before")}});
  hub.transport.streams.push_back(
      {.head = EventStreamHead(), .chunks = {SseEventText(3, 10, "d1", "after")}});
  ASSERT_EQ(hub.Run({"monitor", "--count", "4"}), kExitOk) << hub.err.str();
  ASSERT_EQ(hub.transport.requests.size(), 2u);
  EXPECT_EQ(HeaderOf(hub.transport.requests[0], "Last-Event-ID"), "");
  EXPECT_EQ(HeaderOf(hub.transport.requests[1], "Last-Event-ID"), "3:9,10:2");
  EXPECT_NE(hub.out.str().find("body: after"), std::string::npos);
  EXPECT_NE(hub.err.str().find("reconnecting"), std::string::npos);
}

TEST(MonitorTest, GivesUpWhenTheResumedStreamBringsNothing) {
  CommandHarness hub;
  hub.transport.streams.push_back(
      {.head = EventStreamHead(), .chunks = {SseEventText(0, 1, "d1", "x")}});
  hub.transport.streams.push_back({.head = EventStreamHead(), .chunks = {}});
  EXPECT_EQ(hub.Run({"monitor"}), kExitConnection);
  EXPECT_EQ(hub.transport.requests.size(), 2u);
}

TEST(MonitorTest, ConnectionFailureBeforeTheStreamIsAnError) {
  CommandHarness hub;  // no scripted stream: the transport fails
  EXPECT_EQ(hub.Run({"monitor"}), kExitConnection);
}

TEST(MonitorTest, ErrorAnswerIsReported) {
  CommandHarness hub;
  hub.transport.streams.push_back(
      {.head = ErrorReply(404, "ResourceNotFound", "no resource at this path")});
  EXPECT_EQ(hub.Run({"monitor"}), kExitNotFound);
  EXPECT_EQ(hub.err.str(), "iothub: ResourceNotFound: no resource at this path (HTTP 404)\n");
}

TEST(MonitorTest, CtrlCEndsItCleanly) {
  CommandHarness hub;
  hub.interrupted = true;
  hub.transport.streams.push_back(
      {.head = EventStreamHead(), .chunks = {SseEventText(0, 1, "d1", "x")}});
  EXPECT_EQ(hub.Run({"monitor"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "");
}

TEST(MonitorTest, BrokenStreamIsABadResponse) {
  CommandHarness hub;
  hub.transport.streams.push_back(
      {.head = EventStreamHead(), .chunks = {std::string(SseParser::kMaxLine + 1, 'x')}});
  EXPECT_EQ(hub.Run({"monitor"}), kExitFailure);
}

}  // namespace
}  // namespace iothub::cli
