// Conformance: partitioned logs (append, read, info, trims).

#include <string>
#include <vector>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

const Timestamp kT0 = FromUnixMillis(1'700'000'000'000);

std::vector<uint64_t> Offsets(const std::vector<LogEntry>& entries) {
  std::vector<uint64_t> offsets;
  for (const auto& e : entries) offsets.push_back(e.offset);
  return offsets;
}

using Offs = std::vector<uint64_t>;

TEST_P(StoreConformanceTest, LogOffsetsAreDensePerPartition) {
  EXPECT_EQ(LogAppend("log", 0, kT0, "a"), 0u);
  EXPECT_EQ(LogAppend("log", 0, kT0, "b"), 1u);
  EXPECT_EQ(LogAppend("log", 1, kT0, "c"), 0u);
  EXPECT_EQ(LogAppend("other", 0, kT0, "d"), 0u);
  EXPECT_EQ(LogAppend("log", 4'000'000'000u, kT0, "e"), 0u);
  WriteBatch batch;
  batch.LogAppend("log", 0, kT0, "f");
  batch.LogAppend("log", 1, kT0, "g");
  batch.LogAppend("log", 0, kT0, "h");
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->revisions_or_ids, (Offs{2, 1, 3}));
  auto entries = store_->ReadLog("log", 0, 0, 100, 1 << 20);
  ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
  EXPECT_EQ(Offsets(*entries), (Offs{0, 1, 2, 3}));
  EXPECT_EQ((*entries)[3].value, "h");
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 1, 0, 100, 1 << 20)), (Offs{0, 1}));
  EXPECT_EQ((*store_->ReadLog("log", 4'000'000'000u, 0, 100, 1 << 20)).at(0).value, "e");
}

TEST_P(StoreConformanceTest, LogEntryKeepsValueAndAppendTime) {
  LogAppend("log", 0, kT0 + Duration(5), std::string("x\0y", 3));
  LogAppend("log", 0, FromUnixMillis(0), "");
  auto entries = *store_->ReadLog("log", 0, 0, 10, 100);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].append_time, kT0 + Duration(5));
  EXPECT_EQ(entries[0].value, std::string("x\0y", 3));
  EXPECT_EQ(entries[1].append_time, FromUnixMillis(0));
  EXPECT_EQ(entries[1].value, "");
}

TEST_P(StoreConformanceTest, ReadLogHonoursFromOffsetAndMaxCount) {
  for (int i = 0; i < 6; ++i) LogAppend("log", 0, kT0, std::to_string(i));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 2, 3, 1 << 20)), (Offs{2, 3, 4}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 4, 100, 1 << 20)), (Offs{4, 5}));
  EXPECT_TRUE(store_->ReadLog("log", 0, 6, 100, 1 << 20)->empty());
  EXPECT_TRUE(store_->ReadLog("log", 0, 0, 0, 1 << 20)->empty());
  EXPECT_TRUE(store_->ReadLog("log", 9, 0, 10, 1 << 20)->empty());
  EXPECT_TRUE(store_->ReadLog("absent", 0, 0, 10, 1 << 20)->empty());
}

TEST_P(StoreConformanceTest, ReadLogMaxBytesLimitsAllButTheFirstRecord) {
  LogAppend("log", 0, kT0, std::string(10, 'a'));
  LogAppend("log", 0, kT0, std::string(10, 'b'));
  LogAppend("log", 0, kT0, std::string(10, 'c'));
  // The first record is returned even when it alone exceeds max_bytes.
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 0)), (Offs{0}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 5)), (Offs{0}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 19)), (Offs{0}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 20)), (Offs{0, 1}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 30)), (Offs{0, 1, 2}));
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 1, 10, 29)), (Offs{1, 2}));
}

TEST_P(StoreConformanceTest, GetLogInfoTracksOffsetsAndBytes) {
  auto empty = store_->GetLogInfo("log", 0);
  ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
  EXPECT_EQ(empty->first_offset, 0u);
  EXPECT_EQ(empty->next_offset, 0u);
  EXPECT_EQ(empty->bytes, 0u);
  LogAppend("log", 0, kT0, "abc");
  LogAppend("log", 0, kT0, "de");
  LogAppend("log", 1, kT0, "fghij");
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.first_offset, 0u);
  EXPECT_EQ(info.next_offset, 2u);
  EXPECT_EQ(info.bytes, 5u);
  EXPECT_EQ(store_->GetLogInfo("log", 1)->bytes, 5u);
}

TEST_P(StoreConformanceTest, TrimLogBeforeDropsTheHead) {
  for (int i = 0; i < 5; ++i) LogAppend("log", 0, kT0, "xx");
  LogAppend("log", 1, kT0, "other partition");
  auto dropped = store_->TrimLogBefore("log", 0, 2);
  ASSERT_TRUE(dropped.has_value()) << dropped.error().ToString();
  EXPECT_EQ(*dropped, 2u);
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.first_offset, 2u);
  EXPECT_EQ(info.next_offset, 5u);
  EXPECT_EQ(info.bytes, 6u);
  // Reading before the head starts at the head.
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 100)), (Offs{2, 3, 4}));
  EXPECT_EQ(*store_->TrimLogBefore("log", 0, 2), 0u);
  EXPECT_EQ(*store_->TrimLogBefore("log", 0, 1), 0u);
  EXPECT_EQ(store_->GetLogInfo("log", 1)->next_offset, 1u);
  EXPECT_EQ(store_->GetLogInfo("log", 1)->first_offset, 0u);
}

TEST_P(StoreConformanceTest, TrimLogBeforePastTheEndEmptiesAndOffsetsContinue) {
  for (int i = 0; i < 3; ++i) LogAppend("log", 0, kT0, "xx");
  EXPECT_EQ(*store_->TrimLogBefore("log", 0, 100), 3u);
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.first_offset, 3u);
  EXPECT_EQ(info.next_offset, 3u);
  EXPECT_EQ(info.bytes, 0u);
  EXPECT_TRUE(store_->ReadLog("log", 0, 0, 10, 100)->empty());
  EXPECT_EQ(LogAppend("log", 0, kT0, "y"), 3u);
  EXPECT_EQ(Offsets(*store_->ReadLog("log", 0, 0, 10, 100)), (Offs{3}));
  EXPECT_EQ(store_->GetLogInfo("log", 0)->first_offset, 3u);
}

TEST_P(StoreConformanceTest, TrimLogOlderThanDropsHeadRecordsAppendedBefore) {
  LogAppend("log", 0, kT0, "a");
  LogAppend("log", 0, kT0 + Duration(10), "bb");
  LogAppend("log", 0, kT0 + Duration(20), "ccc");
  EXPECT_EQ(*store_->TrimLogOlderThan("log", 0, kT0), 0u);
  EXPECT_EQ(*store_->TrimLogOlderThan("log", 0, kT0 + Duration(10)), 1u);
  EXPECT_EQ(*store_->TrimLogOlderThan("log", 0, kT0 + Duration(15)), 1u);
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.first_offset, 2u);
  EXPECT_EQ(info.bytes, 3u);
  EXPECT_EQ(*store_->TrimLogOlderThan("log", 0, kT0 + Duration(1000)), 1u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->first_offset, 3u);
}

TEST_P(StoreConformanceTest, TrimLogToSizeDropsOldestUntilWithinBudget) {
  LogAppend("log", 0, kT0, std::string(10, 'a'));
  LogAppend("log", 0, kT0, std::string(20, 'b'));
  LogAppend("log", 0, kT0, std::string(30, 'c'));
  EXPECT_EQ(*store_->TrimLogToSize("log", 0, 60), 0u);
  EXPECT_EQ(*store_->TrimLogToSize("log", 0, 59), 1u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->bytes, 50u);
  EXPECT_EQ(*store_->TrimLogToSize("log", 0, 30), 1u);
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.first_offset, 2u);
  EXPECT_EQ(info.bytes, 30u);
  EXPECT_EQ(*store_->TrimLogToSize("log", 0, 0), 1u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->bytes, 0u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->first_offset, 3u);
}

TEST_P(StoreConformanceTest, TrimsOfAnAbsentLogDropNothing) {
  EXPECT_EQ(*store_->TrimLogBefore("absent", 0, 10), 0u);
  EXPECT_EQ(*store_->TrimLogOlderThan("absent", 0, kT0), 0u);
  EXPECT_EQ(*store_->TrimLogToSize("absent", 0, 0), 0u);
  EXPECT_EQ(store_->GetLogInfo("absent", 0)->next_offset, 0u);
}

TEST_P(StoreConformanceTest, InvalidLogNamesAreRejected) {
  const std::string nul("a\0b", 3);
  EXPECT_EQ(store_->ReadLog("", 0, 0, 1, 1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetLogInfo(nul, 0).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->TrimLogBefore("", 0, 1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->TrimLogOlderThan(nul, 0, kT0).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->TrimLogToSize("", 0, 1).error().code(), StatusCode::kInvalidArgument);
  WriteBatch bad;
  bad.LogAppend(nul, 0, kT0, "v");
  EXPECT_EQ(Commit(std::move(bad)).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetLogInfo("a", 0)->next_offset, 0u);
}

}  // namespace
}  // namespace iothub::storage
