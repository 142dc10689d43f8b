#include "http/event_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "base/strings.h"
#include "base/thread_pool.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::http {
namespace {

using nlohmann::json;

// Intercepts log reads: to append "while a read runs" (after the store answered, before the
// stream commits what it read), and to fail reads.
class HookStore final : public testing::ForwardingStore {
 public:
  explicit HookStore(storage::Store& inner) : ForwardingStore(inner) {}
  Result<std::vector<storage::LogEntry>> ReadLog(std::string_view log, uint32_t partition,
                                                 uint64_t from_offset, size_t max_count,
                                                 size_t max_bytes) override {
    ++reads;
    if (fail_reads) return Corruption("injected");
    auto result = inner_.ReadLog(log, partition, from_offset, max_count, max_bytes);
    if (after_read) std::exchange(after_read, nullptr)();
    return result;
  }
  std::function<void()> after_read;  // runs once
  bool fail_reads = false;
  int reads = 0;
};

// One SSE event as the client parses it.
struct SseEvent {
  uint32_t partition;
  uint64_t offset;
  json data;
};

class EventStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::TelemetryOptions options;
    options.partitions = 2;
    auto log = core::TelemetryLog::Open(store_, clock_, options);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  // A device id whose messages land in `partition` (the n-th such id).
  std::string DeviceIn(uint32_t partition, int n = 0) {
    for (int i = 0;; ++i) {
      std::string id = "dev-" + std::to_string(i);
      if (log_->PartitionOf(id) == partition && n-- == 0) return id;
    }
  }

  core::Position Append(const std::string& device, std::string body = "x") {
    core::Message m;
    m.body = std::move(body);
    std::optional<Result<core::Position>> out;
    log_->Append(device, std::move(m), core::AppendContext{},
                 [&](Result<core::Position> r) { out.emplace(std::move(r)); });
    EXPECT_TRUE(out.has_value() && out->has_value());
    return out && out->has_value() ? **out : core::Position{};
  }

  std::shared_ptr<EventStream> Stream(std::map<uint32_t, uint64_t> start, std::string device = "") {
    EventStreamOptions options;
    options.start = std::move(start);
    options.device_id = std::move(device);
    return EventStream::Start(*log_, blocking_, std::move(options));
  }

  // Pulls once and runs the reads; the piece, or nullopt when `next` was not called. `ended`
  // tells whether it was called with nullopt.
  std::optional<std::string> PullNow(EventStream& stream, bool* ended = nullptr) {
    Pull(stream);
    blocking_.RunAll();
    return Take(ended);
  }
  void Pull(EventStream& stream) {
    called_ = false;
    stream.Pull([this](std::optional<std::string> piece) {
      EXPECT_FALSE(called_) << "next called twice";
      called_ = true;
      piece_ = std::move(piece);
    });
  }
  std::optional<std::string> Take(bool* ended = nullptr) {
    if (ended) *ended = called_ && !piece_.has_value();
    if (!called_) return std::nullopt;
    called_ = false;
    return std::exchange(piece_, std::nullopt);
  }

  static std::vector<SseEvent> Parse(const std::string& text) {
    std::vector<SseEvent> events;
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find("\n\n", at);
      EXPECT_NE(end, std::string::npos) << "unterminated event";
      if (end == std::string::npos) break;
      std::string block = text.substr(at, end - at);
      at = end + 2;
      SseEvent e{};
      bool has_id = false;
      for (std::string_view line : Split(block, '\n')) {
        if (line.starts_with("id: ")) {
          auto colon = line.find(':', 4);
          e.partition = static_cast<uint32_t>(std::stoul(std::string(line.substr(4, colon - 4))));
          e.offset = std::stoull(std::string(line.substr(colon + 1)));
          has_id = true;
        } else if (line.starts_with("data: ")) {
          e.data = json::parse(line.substr(6));
        } else {
          EXPECT_EQ(line, "event: message");
        }
      }
      EXPECT_TRUE(has_id);
      events.push_back(std::move(e));
    }
    return events;
  }

  FakeClock clock_;
  storage::MemoryStore memory_;
  HookStore store_{memory_};
  testing::ManualExecutor blocking_;
  std::unique_ptr<core::TelemetryLog> log_;
  bool called_ = false;
  std::optional<std::string> piece_;
};

TEST_F(EventStreamTest, SendsTheBacklogInOffsetOrderWithSseFraming) {
  std::string d = DeviceIn(0);
  for (int i = 0; i < 3; ++i) Append(d, "m" + std::to_string(i));
  auto stream = Stream({{0, 0}});
  auto piece = PullNow(*stream);
  ASSERT_TRUE(piece.has_value());
  EXPECT_TRUE(piece->starts_with("id: 0:0\nevent: message\ndata: {")) << *piece;
  auto events = Parse(*piece);
  ASSERT_EQ(events.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].partition, 0u);
    EXPECT_EQ(events[i].offset, i);
    EXPECT_EQ(events[i].data["offset"], i);
    EXPECT_EQ(events[i].data["deviceId"], d);
    EXPECT_EQ(events[i].data["bodyText"], "m" + std::to_string(i));
  }
}

TEST_F(EventStreamTest, IdlePullWaitsWithoutPollingAndWakesOnAppend) {
  auto stream = Stream({{0, 0}, {1, 0}});
  EXPECT_FALSE(PullNow(*stream).has_value());
  EXPECT_EQ(blocking_.pending(), 0u) << "an idle stream must not poll the store";
  int reads = store_.reads;
  blocking_.RunAll();
  EXPECT_EQ(store_.reads, reads);

  Append(DeviceIn(1), "late");
  EXPECT_EQ(blocking_.pending(), 1u) << "the append notification starts a read";
  blocking_.RunAll();
  auto events = Parse(Take().value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].partition, 1u);
  EXPECT_EQ(events[0].data["bodyText"], "late");
}

TEST_F(EventStreamTest, AppendWhileAReadRunsIsSentByTheNextPull) {
  std::string d = DeviceIn(0);
  Append(d, "first");
  auto stream = Stream({{0, 0}});
  // The second append lands after the store answered the read: its notification arrives while
  // the read is still in flight.
  store_.after_read = [&] { Append(d, "second"); };
  auto events = Parse(PullNow(*stream).value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data["bodyText"], "first");
  events = Parse(PullNow(*stream).value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data["bodyText"], "second");
  EXPECT_EQ(events[0].offset, 1u);
  EXPECT_FALSE(PullNow(*stream).has_value());
}

TEST_F(EventStreamTest, AppendWhileAnEmptyReadRunsWakesTheWaitingPull) {
  std::string d = DeviceIn(0);
  auto stream = Stream({{0, 0}});
  store_.after_read = [&] { Append(d, "raced"); };
  Pull(*stream);
  blocking_.RunAll();  // the read found nothing, then was told of the append: it reads again
  auto events = Parse(Take().value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data["bodyText"], "raced");
}

TEST_F(EventStreamTest, NeverLosesOrDuplicatesUnderInterleavedAppendsAndPulls) {
  std::mt19937 random(7);
  std::vector<std::string> devices = {DeviceIn(0), DeviceIn(0, 1), DeviceIn(1), DeviceIn(1, 1)};
  EventStreamOptions options;
  options.start = {{0, 0}, {1, 0}};
  options.max_events_per_read = 3;  // backlogs span several pulls
  auto stream = EventStream::Start(*log_, blocking_, options);
  std::map<uint32_t, std::vector<uint64_t>> appended, received;
  bool pulling = false;
  auto collect = [&] {
    if (auto piece = Take(); piece.has_value()) {
      pulling = false;
      for (const SseEvent& e : Parse(*piece)) received[e.partition].push_back(e.offset);
    }
  };
  for (int step = 0; step < 400; ++step) {
    switch (random() % 4) {
      case 0:
      case 1: {
        core::Position p = Append(devices[random() % devices.size()]);
        appended[p.partition].push_back(p.offset);
        break;
      }
      case 2:
        if (!pulling) {
          Pull(*stream);
          pulling = true;
        }
        break;
      case 3:
        if (random() % 2 == 0) {
          store_.after_read = [&] {
            core::Position p = Append(devices[random() % devices.size()]);
            appended[p.partition].push_back(p.offset);
          };
        }
        blocking_.RunAll();
        collect();
        break;
    }
  }
  for (int i = 0; i < 100 && received != appended; ++i) {
    if (!pulling) {
      Pull(*stream);
      pulling = true;
    }
    blocking_.RunAll();
    collect();
  }
  EXPECT_EQ(received, appended);
}

TEST_F(EventStreamTest, ConcurrentAppendsAndPullsDeliverEachEventOnce) {
  // Real threads: reads on a pool, appends from another thread, pulls from this one.
  ThreadPoolExecutor pool(2);
  EventStreamOptions options;
  options.start = {{0, 0}, {1, 0}};
  options.max_events_per_read = 7;
  auto stream = EventStream::Start(*log_, pool, options);
  constexpr int kEvents = 2000;
  std::vector<std::string> devices = {DeviceIn(0), DeviceIn(1)};
  std::thread appender([&] {
    for (int i = 0; i < kEvents; ++i) Append(devices[i % 2]);
  });
  std::map<uint32_t, std::vector<uint64_t>> received;
  size_t count = 0;
  while (count < kEvents) {
    std::promise<std::optional<std::string>> piece;
    auto future = piece.get_future();
    stream->Pull([&piece](std::optional<std::string> p) { piece.set_value(std::move(p)); });
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "stalled after " << count << " events";
      stream->Cancel();
      break;
    }
    auto text = future.get();
    ASSERT_TRUE(text.has_value());
    for (const SseEvent& e : Parse(*text)) {
      received[e.partition].push_back(e.offset);
      ++count;
    }
  }
  appender.join();
  stream->Cancel();
  for (uint32_t p : {0u, 1u}) {
    std::vector<uint64_t> expected(kEvents / 2);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(received[p], expected) << "partition " << p;
  }
}

TEST_F(EventStreamTest, DeviceFilterSkipsOthersAndKeepsWaiting) {
  std::string mine = DeviceIn(0), other = DeviceIn(0, 1);
  Append(other, "a");
  Append(mine, "b");
  Append(other, "c");
  auto stream = Stream({{0, 0}, {1, 0}}, mine);
  auto events = Parse(PullNow(*stream).value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data["bodyText"], "b");
  EXPECT_EQ(events[0].offset, 1u);

  Append(other, "d");  // read, skipped; the stream goes back to waiting
  EXPECT_FALSE(PullNow(*stream).has_value());
  EXPECT_EQ(blocking_.pending(), 0u);
  Append(mine, "e");
  blocking_.RunAll();
  events = Parse(Take().value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data["bodyText"], "e");
}

TEST_F(EventStreamTest, FollowsSeveralPartitions) {
  Append(DeviceIn(0), "p0");
  Append(DeviceIn(1), "p1");
  auto stream = Stream({{0, 0}, {1, 0}});
  auto events = Parse(PullNow(*stream).value_or(""));
  ASSERT_EQ(events.size(), 2u);
  std::set<uint32_t> partitions = {events[0].partition, events[1].partition};
  EXPECT_EQ(partitions, (std::set<uint32_t>{0, 1}));
}

TEST_F(EventStreamTest, OnlyTheGivenPartitionsAreFollowed) {
  auto stream = Stream({{1, 0}});
  Append(DeviceIn(0), "elsewhere");
  EXPECT_EQ(blocking_.pending(), 0u);
  EXPECT_FALSE(PullNow(*stream).has_value());
}

TEST_F(EventStreamTest, StartsAtTheGivenOffset) {
  std::string d = DeviceIn(0);
  for (int i = 0; i < 4; ++i) Append(d);
  auto stream = Stream({{0, 2}});
  auto events = Parse(PullNow(*stream).value_or(""));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].offset, 2u);
  EXPECT_EQ(events[1].offset, 3u);
}

TEST_F(EventStreamTest, StartPastTheEndWaitsUntilTheLogReachesIt) {
  std::string d = DeviceIn(0);
  auto stream = Stream({{0, 2}});
  EXPECT_FALSE(PullNow(*stream).has_value());
  Append(d);
  Append(d);
  blocking_.RunAll();
  EXPECT_FALSE(Take().has_value());
  Append(d);
  blocking_.RunAll();
  auto events = Parse(Take().value_or(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].offset, 2u);
}

TEST_F(EventStreamTest, LargeBacklogIsSplitAcrossPulls) {
  std::string d = DeviceIn(0);
  for (int i = 0; i < 5; ++i) Append(d);
  EventStreamOptions options;
  options.start = {{0, 0}};
  options.max_events_per_read = 2;
  auto stream = EventStream::Start(*log_, blocking_, options);
  std::vector<size_t> sizes;
  for (int i = 0; i < 4; ++i) {
    auto piece = PullNow(*stream);
    sizes.push_back(piece ? Parse(*piece).size() : 0);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1, 0}));
}

TEST_F(EventStreamTest, PieceBudgetRotatesPartitionsSoNoneStarves) {
  for (int i = 0; i < 3; ++i) {
    Append(DeviceIn(0));
    Append(DeviceIn(1));
  }
  EventStreamOptions options;
  options.start = {{0, 0}, {1, 0}};
  options.max_events_per_read = 1;
  options.max_piece_bytes = 1;  // one partition per piece
  auto stream = EventStream::Start(*log_, blocking_, options);
  std::vector<uint32_t> order;
  for (int i = 0; i < 6; ++i) {
    auto events = Parse(PullNow(*stream).value_or(""));
    ASSERT_EQ(events.size(), 1u) << i;
    order.push_back(events[0].partition);
  }
  EXPECT_EQ(std::count(order.begin(), order.end(), 0u), 3);
  EXPECT_EQ(std::count(order.begin(), order.end(), 1u), 3);
  EXPECT_NE(order[0], order[1]);
}

TEST_F(EventStreamTest, CancelWhileReadingNeverCallsNext) {
  Append(DeviceIn(0));
  auto stream = Stream({{0, 0}});
  Pull(*stream);
  stream->Cancel();
  blocking_.RunAll();
  EXPECT_FALSE(called_);
}

TEST_F(EventStreamTest, CancelWhileWaitingUnsubscribes) {
  auto stream = Stream({{0, 0}});
  EXPECT_FALSE(PullNow(*stream).has_value());
  stream->Cancel();
  Append(DeviceIn(0));
  EXPECT_EQ(blocking_.pending(), 0u);
  blocking_.RunAll();
  EXPECT_FALSE(called_);
}

TEST_F(EventStreamTest, NextMayCancelInline) {
  Append(DeviceIn(0));
  auto stream = Stream({{0, 0}});
  bool called = false;
  stream->Pull([&](std::optional<std::string>) {
    called = true;
    stream->Cancel();  // a failed write noticed at once
  });
  blocking_.RunAll();
  EXPECT_TRUE(called);
}

TEST_F(EventStreamTest, DestroyedStreamIgnoresItsPostedReadAndLaterAppends) {
  Append(DeviceIn(0));
  auto stream = Stream({{0, 0}});
  Pull(*stream);
  stream.reset();
  blocking_.RunAll();
  EXPECT_FALSE(called_);
  Append(DeviceIn(0));
  EXPECT_EQ(blocking_.pending(), 0u);
}

TEST_F(EventStreamTest, ReadErrorEndsTheBody) {
  Append(DeviceIn(0));
  auto stream = Stream({{0, 0}});
  store_.fail_reads = true;
  bool ended = false;
  EXPECT_FALSE(PullNow(*stream, &ended).has_value());
  EXPECT_TRUE(ended);
  EXPECT_FALSE(PullNow(*stream, &ended).has_value());
  EXPECT_TRUE(ended) << "a later Pull ends at once";
}

TEST_F(EventStreamTest, HeartbeatIsAnSseComment) {
  auto stream = Stream({{0, 0}});
  EXPECT_EQ(stream->Heartbeat(), ": keep-alive\n\n");
}

}  // namespace
}  // namespace iothub::http
