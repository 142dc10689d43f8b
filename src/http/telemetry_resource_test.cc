#include "http/telemetry_resource.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "http/resource_test_fixture.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The telemetry resources over a real Hub with two partitions (MemoryStore, fake clock): requests
// go through the router onto a manual blocking pool, and streams are pulled by hand.
class TelemetryResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    core::HubOptions options;
    options.telemetry.partitions = 2;
    ASSERT_NO_FATAL_FAILURE(OpenHub(options));
    AddTelemetryRoutes(router_, *hub_, blocking_);
    device_ = CreateDevice("d1");
  }

  // `token` "" sends no Authorization header.
  Response Call(std::string method, std::string_view target, Headers headers = {},
                std::string body = "", std::optional<std::string> token = std::nullopt) {
    if (token != "") headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    Start(MakeRequest(std::move(method), target, std::move(headers), std::move(body)));
    EXPECT_FALSE(answer_.has_value()) << "a blocking handler ran on the caller's thread";
    blocking_.RunAll();
    EXPECT_TRUE(answer_.has_value()) << "no answer";
    return TakeAnswer();
  }
  Response Get(std::string_view target) { return Call("GET", target); }
  Response Stream(std::string_view target, Headers headers = {}) {
    headers.emplace("Accept", "text/event-stream");
    return Call("GET", target, std::move(headers));
  }

  // A device id whose messages land in `partition` (the n-th such id).
  std::string DeviceIn(uint32_t partition, int n = 0) {
    for (int i = 0;; ++i) {
      std::string id = "dev-" + std::to_string(i);
      if (hub_->telemetry().PartitionOf(id) == partition && n-- == 0) return id;
    }
  }

  core::Position Append(const std::string& device, std::string body) {
    core::Message m;
    m.body = std::move(body);
    std::optional<Result<core::Position>> out;
    hub_->telemetry().Append(device, std::move(m), core::AppendContext{},
                             [&](Result<core::Position> r) { out.emplace(std::move(r)); });
    EXPECT_TRUE(out.has_value() && out->has_value());
    return out && out->has_value() ? **out : core::Position{};
  }

  // Pulls one piece of `r`'s stream and runs the reads; the events' (partition, offset,
  // bodyText), or empty while the stream waits. A Pull still waiting is not repeated (the session
  // never pulls again before a piece came).
  struct Seen {
    uint32_t partition;
    uint64_t offset;
    std::string text;
    friend bool operator==(const Seen&, const Seen&) = default;
  };
  struct PullState {
    bool waiting = false;
    bool answered = false;
    std::optional<std::string> piece;
  };
  std::vector<Seen> Pull(const Response& r) {
    std::vector<Seen> seen;
    if (!r.stream) {
      ADD_FAILURE() << "not a stream: " << r.status << " " << r.body;
      return seen;
    }
    std::shared_ptr<PullState>& state = pulls_[r.stream.get()];
    if (!state) state = std::make_shared<PullState>();
    if (!state->waiting) {
      state->waiting = true;
      r.stream->Pull([state](std::optional<std::string> piece) {
        state->answered = true;
        state->piece = std::move(piece);
      });
    }
    blocking_.RunAll();
    if (!state->answered) return seen;
    state->waiting = state->answered = false;
    EXPECT_TRUE(state->piece.has_value()) << "the stream ended";
    const std::string piece = state->piece.value_or("");  // Split's views point into it
    for (std::string_view line : Split(piece, '\n')) {
      if (!line.starts_with("data: ")) continue;
      json e = json::parse(line.substr(6));
      seen.push_back({e["partition"], e["offset"], e["bodyText"]});
    }
    return seen;
  }

  core::Device device_;
  std::map<BodyStream*, std::shared_ptr<PullState>> pulls_;
};

TEST_F(TelemetryResourceTest, PartitionsDescribeOffsetsAndLastEnqueuedTime) {
  Append(DeviceIn(1), "a");
  Append(DeviceIn(1), "b");
  Response r = Get("/messages/events/partitions?api-version=2021-04-12");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["partitionCount"], 2);
  ASSERT_EQ(j["partitions"].size(), 2u);
  EXPECT_EQ(j["partitions"][0], json({{"partition", 0},
                                      {"firstOffset", 0},
                                      {"nextOffset", 0},
                                      {"lastEnqueuedTimeUtc", nullptr}}));
  EXPECT_EQ(j["partitions"][1]["nextOffset"], 2);
  EXPECT_EQ(j["partitions"][1]["lastEnqueuedTimeUtc"], FormatIso8601(clock_.Now()));
}

TEST_F(TelemetryResourceTest, ReadPagesThroughAPartition) {
  std::string d = DeviceIn(0);
  for (int i = 0; i < 3; ++i) Append(d, "m" + std::to_string(i));
  Response r = Get("/messages/events/partitions/0?max=2");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][0]["offset"], 0);
  EXPECT_EQ(j["events"][0]["deviceId"], d);
  EXPECT_EQ(j["events"][1]["bodyText"], "m1");
  EXPECT_EQ(j["nextOffset"], 2);
  j = json::parse(Get("/messages/events/partitions/0?from=2").body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["bodyText"], "m2");
  EXPECT_EQ(j["nextOffset"], 3);
  j = json::parse(Get("/messages/events/partitions/0?from=3").body);
  EXPECT_TRUE(j["events"].empty());
  EXPECT_EQ(j["nextOffset"], 3);
}

TEST_F(TelemetryResourceTest, ReadFromEndIsEmptyAtTheEnd) {
  Append(DeviceIn(0), "old");
  json j = json::parse(Get("/messages/events/partitions/0?from=end").body);
  EXPECT_TRUE(j["events"].empty());
  EXPECT_EQ(j["nextOffset"], 1);
}

TEST_F(TelemetryResourceTest, ReadEnqueuedAfterSkipsOlderEvents) {
  std::string d = DeviceIn(0);
  Append(d, "old");
  Timestamp cut = clock_.Now();
  clock_.Advance(seconds(5));
  Append(d, "new");
  json j = json::parse(
      Get("/messages/events/partitions/0?enqueuedAfter=" + UrlEncode(FormatIso8601(cut))).body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["bodyText"], "new");
}

TEST_F(TelemetryResourceTest, ReadFiltersByDeviceButAdvances) {
  std::string mine = DeviceIn(0), other = DeviceIn(0, 1);
  Append(other, "a");
  Append(mine, "b");
  Append(other, "c");
  json j = json::parse(Get("/messages/events/partitions/0?deviceId=" + mine).body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["bodyText"], "b");
  EXPECT_EQ(j["nextOffset"], 3);
}

TEST_F(TelemetryResourceTest, BadPartitionIs400) {
  for (const char* p : {"2", "-1", "x", "1x", "99999999999"}) {
    Response r = Get(std::string("/messages/events/partitions/") + p);
    EXPECT_EQ(r.status, 400) << p;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid") << p;
  }
  EXPECT_EQ(Stream("/messages/events/partitions/7").status, 400);
  EXPECT_EQ(Get("/messages/events/consumerGroups/$Default/partitions/2/checkpoint").status, 400);
}

TEST_F(TelemetryResourceTest, BadQueryParametersAre400) {
  for (const char* q :
       {"max=0", "max=1001", "max=ten", "from=middle", "from=-3", "enqueuedAfter=yesterday"}) {
    EXPECT_EQ(Get(std::string("/messages/events/partitions/0?") + q).status, 400) << q;
  }
  EXPECT_EQ(Get("/messages/events/partitions/0?max=1000").status, 200);
}

TEST_F(TelemetryResourceTest, RefusesMissingDeviceAndWeakTokens) {
  std::string device = DeviceToken(device_);
  for (const char* target : {"/messages/events/partitions", "/messages/events/partitions/0",
                             "/messages/events", "/messages/events/consumerGroups",
                             "/messages/events/consumerGroups/$Default/partitions/0/checkpoint"}) {
    EXPECT_EQ(Call("GET", target, {}, "", "").status, 401) << target;
    EXPECT_EQ(Call("GET", target, {}, "", device).status, 401) << target;
    Response r = Call("GET", target, {}, "", PolicyToken("registryRead"));
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:IotHubUnauthorizedAccess");
  }
  EXPECT_EQ(
      Call("PUT", "/messages/events/consumerGroups/g", {}, "", PolicyToken("registryRead")).status,
      401);
  EXPECT_FALSE(hub_->telemetry().ListConsumerGroups().size() > 1);
}

TEST_F(TelemetryResourceTest, ConsumerGroupsAndCheckpointsRoundTrip) {
  std::string d = DeviceIn(1);
  for (int i = 0; i < 3; ++i) Append(d, "m" + std::to_string(i));
  EXPECT_EQ(Call("PUT", "/messages/events/consumerGroups/dashboard").status, 201);
  Response again = Call("PUT", "/messages/events/consumerGroups/dashboard");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(ErrorCode(again), "ErrorCode:ConsumerGroupAlreadyExists");
  EXPECT_EQ(json::parse(Get("/messages/events/consumerGroups").body),
            json({"$Default", "dashboard"}));

  const std::string checkpoint =
      "/messages/events/consumerGroups/dashboard/partitions/1/checkpoint";
  Response none = Get(checkpoint);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(ErrorCode(none), "ErrorCode:CheckpointNotFound");
  // Without a checkpoint, from=checkpoint reads from the start.
  json j = json::parse(
      Get("/messages/events/partitions/1?from=checkpoint&consumerGroup=dashboard").body);
  EXPECT_EQ(j["events"].size(), 3u);

  EXPECT_EQ(Call("PUT", checkpoint, {}, R"({"offset":2})").status, 204);
  Response got = Get(checkpoint);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(json::parse(got.body), json({{"offset", 2}}));
  j = json::parse(
      Get("/messages/events/partitions/1?from=checkpoint&consumerGroup=dashboard").body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["bodyText"], "m2");
  // Other groups keep their own position.
  EXPECT_EQ(json::parse(Get("/messages/events/partitions/1?from=checkpoint").body)["events"].size(),
            3u);

  EXPECT_EQ(Call("DELETE", "/messages/events/consumerGroups/dashboard").status, 204);
  Response gone = Get(checkpoint);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(ErrorCode(gone), "ErrorCode:ConsumerGroupNotFound");
  EXPECT_EQ(Get("/messages/events/partitions/1?from=checkpoint&consumerGroup=dashboard").status,
            404);
}

TEST_F(TelemetryResourceTest, BadCheckpointsAndGroupsAreRefused) {
  const std::string checkpoint = "/messages/events/consumerGroups/$Default/partitions/0/checkpoint";
  for (const char* body : {"", "{", "[]", R"({"offset":-1})", R"({"offset":"1"})", "{}"}) {
    EXPECT_EQ(Call("PUT", checkpoint, {}, body).status, 400) << body;
  }
  EXPECT_EQ(Call("PUT", checkpoint, {}, R"({"offset":5})").status, 400) << "past the end";
  EXPECT_EQ(Call("PUT", checkpoint, {}, R"({"offset":0})").status, 204);
  EXPECT_EQ(Call("PUT", "/messages/events/consumerGroups/bad%20name").status, 400);
  EXPECT_EQ(Call("PUT", "/messages/events/consumerGroups/$Default").status, 409);
  EXPECT_EQ(Call("DELETE", "/messages/events/consumerGroups/$Default").status, 400);
  EXPECT_EQ(Call("DELETE", "/messages/events/consumerGroups/nobody").status, 404);
}

TEST_F(TelemetryResourceTest, PartitionStreamIsServerSentEvents) {
  std::string d = DeviceIn(0);
  Append(d, "before");
  Response r = Stream("/messages/events/partitions/0?from=start");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("Content-Type"), "text/event-stream");
  EXPECT_EQ(r.headers.at("Cache-Control"), "no-cache");
  EXPECT_EQ(r.stream->Heartbeat(), ": keep-alive\n\n");
  EXPECT_EQ(Pull(r), (std::vector<Seen>{{0, 0, "before"}}));
  EXPECT_TRUE(Pull(r).empty());
  Append(d, "after");
  blocking_.RunAll();
  EXPECT_EQ(Pull(r), (std::vector<Seen>{{0, 1, "after"}}));
  r.stream->Cancel();
}

TEST_F(TelemetryResourceTest, StreamsStartAtTheEndByDefault) {
  std::string d = DeviceIn(0);
  Append(d, "old");
  Response r = Stream("/messages/events/partitions/0");
  EXPECT_TRUE(Pull(r).empty());
  Append(d, "new");
  EXPECT_EQ(Pull(r), (std::vector<Seen>{{0, 1, "new"}}));
  Response all = Get("/messages/events");  // the all-partition form streams without Accept too
  EXPECT_TRUE(Pull(all).empty());
}

TEST_F(TelemetryResourceTest, WithoutAcceptAPartitionIsReadNotStreamed) {
  Response r = Get("/messages/events/partitions/0");
  EXPECT_EQ(r.stream, nullptr);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json; charset=utf-8");
}

TEST_F(TelemetryResourceTest, AllPartitionStreamFollowsEveryPartitionAndFilters) {
  std::string a = DeviceIn(0), b = DeviceIn(1);
  Append(a, "a0");
  Append(b, "b0");
  Response all = Stream("/messages/events?from=start");
  std::vector<Seen> seen = Pull(all);
  std::sort(seen.begin(), seen.end(),
            [](const Seen& x, const Seen& y) { return x.partition < y.partition; });
  EXPECT_EQ(seen, (std::vector<Seen>{{0, 0, "a0"}, {1, 0, "b0"}}));

  Response only_b = Stream("/messages/events?from=start&deviceId=" + b);
  EXPECT_EQ(Pull(only_b), (std::vector<Seen>{{1, 0, "b0"}}));
  Append(a, "a1");
  Append(b, "b1");
  EXPECT_EQ(Pull(only_b), (std::vector<Seen>{{1, 1, "b1"}}));
}

TEST_F(TelemetryResourceTest, LastEventIdResumesAfterThatEvent) {
  std::string d = DeviceIn(1);
  for (int i = 0; i < 4; ++i) Append(d, "m" + std::to_string(i));
  Response r = Stream("/messages/events/partitions/1?from=start", {{"Last-Event-ID", "1:1"}});
  EXPECT_EQ(Pull(r), (std::vector<Seen>{{1, 2, "m2"}, {1, 3, "m3"}}));
  // A full list resumes every partition exactly.
  Append(DeviceIn(0), "p0-0");
  Append(DeviceIn(0), "p0-1");
  Response all = Stream("/messages/events", {{"Last-Event-ID", "0:0, 1:2"}});
  std::vector<Seen> seen = Pull(all);
  std::sort(seen.begin(), seen.end(),
            [](const Seen& x, const Seen& y) { return x.partition < y.partition; });
  EXPECT_EQ(seen, (std::vector<Seen>{{0, 1, "p0-1"}, {1, 3, "m3"}}));
}

TEST_F(TelemetryResourceTest, SingleLastEventIdResumesOtherPartitionsFromItsTime) {
  std::string p0 = DeviceIn(0), p1 = DeviceIn(1);
  Append(p0, "early");
  clock_.Advance(seconds(1));
  Append(p1, "seen");  // the client's last event
  clock_.Advance(seconds(1));
  Append(p0, "missed");
  Response all = Stream("/messages/events", {{"Last-Event-ID", "1:0"}});
  EXPECT_EQ(Pull(all), (std::vector<Seen>{{0, 1, "missed"}}));
}

TEST_F(TelemetryResourceTest, BadStreamArgumentsAre400) {
  EXPECT_EQ(Stream("/messages/events/partitions/0", {{"Last-Event-ID", "zero"}}).status, 400);
  EXPECT_EQ(Stream("/messages/events/partitions/0", {{"Last-Event-ID", "5:1"}}).status, 400);
  EXPECT_EQ(Stream("/messages/events/partitions/0", {{"Last-Event-ID", "1:3"}}).status, 400)
      << "names another partition";
  EXPECT_EQ(Stream("/messages/events?from=3").status, 400) << "an offset names one partition";
  EXPECT_EQ(Stream("/messages/events?from=later").status, 400);
  EXPECT_EQ(Stream("/messages/events/partitions/0", {{"Last-Event-ID", ""}}).status, 200)
      << "a blank id is no id";
}

TEST_F(TelemetryResourceTest, PathsMatchCaseInsensitively) {
  EXPECT_EQ(Get("/messages/events/consumergroups").status, 200);
  EXPECT_EQ(Get("/Messages/Events/Partitions").status, 200);
}

}  // namespace
}  // namespace iothub::http
