// Conformance: per-key queues (append, read, delete, delete-all, count, list keys).

#include <string>
#include <vector>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

using Strings = std::vector<std::string>;

std::vector<uint64_t> Seqs(const std::vector<QueueEntry>& entries) {
  std::vector<uint64_t> seqs;
  for (const auto& e : entries) seqs.push_back(e.seq);
  return seqs;
}

TEST_P(StoreConformanceTest, QueueAppendAssignsIncreasingSeqs) {
  const uint64_t a = Append("q", "dev", "1");
  const uint64_t b = Append("q", "dev", "2");
  const uint64_t other = Append("q", "dev2", "x");
  const uint64_t c = Append("q", "dev", "3");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(other, b);
  EXPECT_NE(other, c);
  auto r = store_->ReadQueue("q", "dev", 0, 100);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(Seqs(*r), (std::vector<uint64_t>{a, b, c}));
  EXPECT_EQ((*r)[0].value, "1");
  EXPECT_EQ((*r)[2].value, "3");
}

TEST_P(StoreConformanceTest, QueueAppendsInOneBatchGetIncreasingSeqs) {
  WriteBatch batch;
  batch.QueueAppend("q", "k", "1");
  batch.QueueAppend("q", "k", "2");
  batch.QueueAppend("q", "k", std::string("\0", 1));
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  const auto& ids = r->revisions_or_ids;
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  auto entries = store_->ReadQueue("q", "k", 0, 10);
  EXPECT_EQ(Seqs(*entries), ids);
  EXPECT_EQ((*entries)[2].value, std::string("\0", 1));
}

TEST_P(StoreConformanceTest, ReadQueueHonoursFromSeqAndLimit) {
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(Append("q", "k", std::to_string(i)));
  EXPECT_EQ(Seqs(*store_->ReadQueue("q", "k", seqs[2], 100)),
            (std::vector<uint64_t>{seqs[2], seqs[3], seqs[4]}));
  EXPECT_EQ(Seqs(*store_->ReadQueue("q", "k", seqs[1] + 1, 2)),
            (std::vector<uint64_t>{seqs[2], seqs[3]}));
  EXPECT_EQ(Seqs(*store_->ReadQueue("q", "k", 0, 1)), (std::vector<uint64_t>{seqs[0]}));
  EXPECT_TRUE(store_->ReadQueue("q", "k", seqs[4] + 1, 100)->empty());
  EXPECT_TRUE(store_->ReadQueue("q", "k", 0, 0)->empty());
  EXPECT_TRUE(store_->ReadQueue("q", "absent", 0, 100)->empty());
  EXPECT_TRUE(store_->ReadQueue("absent", "k", 0, 100)->empty());
}

TEST_P(StoreConformanceTest, QueuesAndKeysAreSeparateNamespaces) {
  Append("q", "ab", "1");
  Append("qa", "b", "2");
  Append("q", "a", "3");
  EXPECT_EQ(*store_->CountQueue("q", "ab"), 1u);
  EXPECT_EQ(*store_->CountQueue("q", "a"), 1u);
  EXPECT_EQ(*store_->CountQueue("qa", "b"), 1u);
  EXPECT_EQ((*store_->ReadQueue("q", "a", 0, 10)).at(0).value, "3");
  EXPECT_EQ(*store_->ListQueueKeys("q", "", 10), (Strings{"a", "ab"}));
  EXPECT_EQ(*store_->ListQueueKeys("qa", "", 10), Strings{"b"});
}

TEST_P(StoreConformanceTest, QueueDeleteRemovesOneEntryAndAbsentIsOk) {
  const uint64_t a = Append("q", "k", "1");
  const uint64_t b = Append("q", "k", "2");
  WriteBatch batch;
  batch.QueueDelete("q", "k", a);
  batch.QueueDelete("q", "k", b + 1000);
  batch.QueueDelete("q", "absent", a);
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->revisions_or_ids, (std::vector<uint64_t>{0, 0, 0}));
  EXPECT_EQ(Seqs(*store_->ReadQueue("q", "k", 0, 10)), std::vector<uint64_t>{b});
  EXPECT_EQ(*store_->CountQueue("q", "k"), 1u);
}

TEST_P(StoreConformanceTest, QueueDeleteAllEmptiesOnlyThatKey) {
  Append("q", "k", "1");
  Append("q", "k", "2");
  Append("q", "k2", "3");
  Append("q2", "k", "4");
  WriteBatch batch;
  batch.QueueDeleteAll("q", "k");
  batch.QueueDeleteAll("q", "absent");
  ASSERT_TRUE(Commit(std::move(batch)).has_value());
  EXPECT_EQ(*store_->CountQueue("q", "k"), 0u);
  EXPECT_EQ(*store_->CountQueue("q", "k2"), 1u);
  EXPECT_EQ(*store_->CountQueue("q2", "k"), 1u);
  EXPECT_EQ(*store_->ListQueueKeys("q", "", 10), Strings{"k2"});
}

TEST_P(StoreConformanceTest, SeqsAreNeverReusedAfterDeletes) {
  const uint64_t a = Append("q", "k", "1");
  const uint64_t b = Append("q", "k", "2");
  WriteBatch del;
  del.QueueDelete("q", "k", b);
  ASSERT_TRUE(Commit(std::move(del)).has_value());
  const uint64_t c = Append("q", "k", "3");
  EXPECT_GT(c, b);
  WriteBatch all;
  all.QueueDeleteAll("q", "k");
  ASSERT_TRUE(Commit(std::move(all)).has_value());
  const uint64_t d = Append("q", "k", "4");
  EXPECT_GT(d, c);
  EXPECT_GT(c, a);
  EXPECT_EQ(Seqs(*store_->ReadQueue("q", "k", 0, 10)), std::vector<uint64_t>{d});
}

TEST_P(StoreConformanceTest, CountQueueCountsEntriesOfOneKey) {
  EXPECT_EQ(*store_->CountQueue("q", "k"), 0u);
  for (int i = 0; i < 7; ++i) Append("q", "k", "x");
  Append("q", "k1", "x");
  EXPECT_EQ(*store_->CountQueue("q", "k"), 7u);
  EXPECT_EQ(*store_->CountQueue("q", "k1"), 1u);
}

TEST_P(StoreConformanceTest, ListQueueKeysPaginatesLiveKeysInOrder) {
  for (const char* k : {"b", "a", "ab", "c", "b"}) Append("q", k, "x");
  const uint64_t gone = Append("q", "d", "x");
  WriteBatch del;
  del.QueueDelete("q", "d", gone);
  ASSERT_TRUE(Commit(std::move(del)).has_value());

  EXPECT_EQ(*store_->ListQueueKeys("q", "", 100), (Strings{"a", "ab", "b", "c"}));
  EXPECT_EQ(*store_->ListQueueKeys("q", "", 2), (Strings{"a", "ab"}));
  EXPECT_EQ(*store_->ListQueueKeys("q", "ab", 2), (Strings{"b", "c"}));
  EXPECT_EQ(*store_->ListQueueKeys("q", "a", 100), (Strings{"ab", "b", "c"}));
  EXPECT_EQ(*store_->ListQueueKeys("q", "aa", 100), (Strings{"ab", "b", "c"}));
  EXPECT_TRUE(store_->ListQueueKeys("q", "c", 100)->empty());
  EXPECT_TRUE(store_->ListQueueKeys("q", "", 0)->empty());
  EXPECT_TRUE(store_->ListQueueKeys("absent", "", 100)->empty());
}

TEST_P(StoreConformanceTest, InvalidQueueNamesAndKeysAreRejected) {
  const std::string nul("a\0b", 3);
  EXPECT_EQ(store_->ReadQueue("", "k", 0, 1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReadQueue("q", nul, 0, 1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CountQueue("q", "").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CountQueue(nul, "k").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListQueueKeys("", "", 1).error().code(), StatusCode::kInvalidArgument);

  std::vector<WriteBatch> bad(4);
  bad[0].QueueAppend("", "k", "v");
  bad[1].QueueAppend("q", nul, "v");
  bad[2].QueueDelete("q", "", 1);
  bad[3].QueueDeleteAll(nul, "k");
  for (auto& batch : bad) {
    EXPECT_EQ(Commit(std::move(batch)).error().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(store_->ListQueueKeys("q", "", 10)->empty());
}

}  // namespace
}  // namespace iothub::storage
