// Conformance: batches, commit order, preconditions, results, Close, stats, concurrency.

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/store_conformance.h"

namespace iothub::storage {
namespace {

const Timestamp kT0 = FromUnixMillis(1'700'000'000'000);

// Issues commits without waiting (so a backend may group them) and collects their results in
// the order the callbacks ran.
class Pipeline {
 public:
  explicit Pipeline(Store* store) : store_(store) {}

  // Returns the commit's index.
  size_t Commit(WriteBatch batch, Durability durability = Durability::kSync) {
    size_t index;
    {
      std::lock_guard lock(mu_);
      index = results_.size();
      results_.emplace_back(Status(StatusCode::kInternal, "callback never ran"));
    }
    store_->Commit(std::move(batch), durability, [this, index](Result<CommitResult> r) {
      std::lock_guard lock(mu_);
      results_[index] = std::move(r);
      order_.push_back(index);
      cv_.notify_all();
    });
    return index;
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return order_.size() == results_.size(); });
  }
  size_t done() {
    std::lock_guard lock(mu_);
    return order_.size();
  }
  const Result<CommitResult>& result(size_t i) const { return results_[i]; }
  const std::vector<size_t>& order() const { return order_; }

 private:
  Store* store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Result<CommitResult>> results_;
  std::vector<size_t> order_;
};

TEST_P(StoreConformanceTest, CommitResultHasOneEntryPerOp) {
  Put("t", "gone", "x");
  WriteBatch batch;
  batch.Put("t", "a", "1");             // revision
  batch.Delete("t", "gone");            // 0
  batch.QueueAppend("q", "k", "e");     // seq
  batch.LogAppend("log", 3, kT0, "r");  // offset 0
  batch.DeletePrefix("t", "zz");        // 0
  batch.QueueDeleteAll("q", "other");   // 0
  batch.PutIf("t", "b", "2", 0);        // revision
  batch.LogAppend("log", 3, kT0, "s");  // offset 1
  auto r = Commit(std::move(batch));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  const auto& ids = r->revisions_or_ids;
  ASSERT_EQ(ids.size(), 8u);
  EXPECT_EQ(ids[0], store_->Get("t", "a")->revision);
  EXPECT_EQ(ids[1], 0u);
  EXPECT_EQ(ids[2], store_->ReadQueue("q", "k", 0, 1)->at(0).seq);
  EXPECT_EQ(ids[3], 0u);
  EXPECT_EQ(ids[4], 0u);
  EXPECT_EQ(ids[5], 0u);
  EXPECT_EQ(ids[6], store_->Get("t", "b")->revision);
  EXPECT_EQ(ids[7], 1u);
  EXPECT_LT(ids[0], ids[2]);
  EXPECT_LT(ids[2], ids[6]);
}

TEST_P(StoreConformanceTest, EmptyBatchCommits) {
  auto r = Commit(WriteBatch());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->revisions_or_ids.empty());
  EXPECT_TRUE(Commit(WriteBatch(), Durability::kAsync).has_value());
}

TEST_P(StoreConformanceTest, FailedPreconditionAppliesNothingOfTheBatch) {
  const uint64_t keep_rev = Put("t", "keep", "1");
  const uint64_t seq = Append("q", "k", "e1");
  LogAppend("log", 0, kT0, "r0");

  WriteBatch batch;
  batch.Put("t", "new", "x");
  batch.Delete("t", "keep");
  batch.QueueAppend("q", "k", "e2");
  batch.QueueDelete("q", "k", seq);
  batch.LogAppend("log", 0, kT0, "r1");
  batch.DeletePrefix("t", "");
  batch.QueueDeleteAll("q", "k");
  batch.QueueAppend("q", "k2", "e3");
  batch.LogAppend("log", 1, kT0, "p1");
  batch.PutIf("t", "keep", "y", keep_rev + 1000);
  auto r = Commit(std::move(batch));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kPreconditionFailed);

  EXPECT_FALSE(store_->Get("t", "new").has_value());
  EXPECT_EQ(store_->Get("t", "keep")->revision, keep_rev);
  EXPECT_EQ(store_->ReadQueue("q", "k", 0, 10)->size(), 1u);
  EXPECT_EQ(store_->ReadQueue("q", "k", 0, 10)->at(0).value, "e1");
  EXPECT_EQ(*store_->ListQueueKeys("q", "", 10), std::vector<std::string>{"k"});
  auto info = *store_->GetLogInfo("log", 0);
  EXPECT_EQ(info.next_offset, 1u);
  EXPECT_EQ(info.bytes, 2u);
  EXPECT_EQ(store_->GetLogInfo("log", 1)->next_offset, 0u);
  // The failed batch consumed no log offset.
  EXPECT_EQ(LogAppend("log", 0, kT0, "r1"), 1u);
  EXPECT_EQ(LogAppend("log", 1, kT0, "p1"), 0u);
  EXPECT_GT(Put("t", "keep", "2"), keep_rev);
}

TEST_P(StoreConformanceTest, FailedDeleteIfAppliesNothingOfTheBatch) {
  WriteBatch batch;
  batch.Put("t", "a", "1");
  batch.QueueAppend("q", "k", "e");
  batch.LogAppend("log", 0, kT0, "r");
  batch.DeleteIf("t", "absent", 5);
  EXPECT_EQ(Commit(std::move(batch)).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_FALSE(store_->Get("t", "a").has_value());
  EXPECT_EQ(*store_->CountQueue("q", "k"), 0u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->next_offset, 0u);
}

TEST_P(StoreConformanceTest, InvalidOpFailsTheWholeBatch) {
  WriteBatch batch;
  batch.Put("t", "a", "1");
  batch.QueueAppend("q", "k", "e");
  batch.LogAppend("log", 0, kT0, "r");
  batch.Put("t", "", "bad key");
  EXPECT_EQ(Commit(std::move(batch)).error().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(store_->Get("t", "a").has_value());
  EXPECT_EQ(*store_->CountQueue("q", "k"), 0u);
  EXPECT_EQ(store_->GetLogInfo("log", 0)->next_offset, 0u);
}

TEST_P(StoreConformanceTest, PreconditionsSeeEarlierOpsOfTheSameBatch) {
  Put("t", "k", "old");
  WriteBatch ok;
  ok.Delete("t", "k");
  ok.PutIf("t", "k", "new", 0);  // absent after the delete above
  ok.DeletePrefix("t", "x");
  ok.PutIf("t", "x1", "v", 0);
  ASSERT_TRUE(Commit(std::move(ok)).has_value());
  EXPECT_EQ(store_->Get("t", "k")->value, "new");
  EXPECT_EQ(store_->Get("t", "x1")->value, "v");

  WriteBatch fails;
  fails.Put("t", "y", "v");
  fails.PutIf("t", "y", "again", 0);  // present after the put above
  EXPECT_EQ(Commit(std::move(fails)).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_FALSE(store_->Get("t", "y").has_value());

  WriteBatch fails2;
  fails2.DeletePrefix("t", "");
  fails2.DeleteIf("t", "k", store_->Get("t", "k")->revision);  // gone after the prefix delete
  EXPECT_EQ(Commit(std::move(fails2)).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(store_->Get("t", "k")->value, "new");
}

TEST_P(StoreConformanceTest, PipelinedCommitsSeeEachOthersWrites) {
  Pipeline p(store_.get());
  WriteBatch b;
  b.PutIf("t", "k", "1", 0);
  const size_t first = p.Commit(std::move(b));
  b = WriteBatch();
  b.PutIf("t", "k", "2", 0);
  const size_t second = p.Commit(std::move(b));  // fails: the first wrote k
  b = WriteBatch();
  b.DeletePrefix("t", "");
  b.QueueAppend("q", "k", "a");
  p.Commit(std::move(b));
  b = WriteBatch();
  b.PutIf("t", "k", "3", 0);  // succeeds: the prefix delete removed k
  b.QueueDeleteAll("q", "k");
  const size_t fourth = p.Commit(std::move(b));
  b = WriteBatch();
  b.QueueAppend("q", "k", "b");
  b.Put("t", "j", "j");
  p.Commit(std::move(b));
  b = WriteBatch();
  b.DeleteIf("t", "j", 0);  // fails alone
  b.LogAppend("log", 0, kT0, "not written");
  const size_t sixth = p.Commit(std::move(b));
  b = WriteBatch();
  b.LogAppend("log", 0, kT0, "written");
  const size_t seventh = p.Commit(std::move(b));
  p.Wait();

  EXPECT_TRUE(p.result(first).has_value());
  ASSERT_FALSE(p.result(second).has_value());
  EXPECT_EQ(p.result(second).error().code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(p.result(fourth).has_value()) << p.result(fourth).error().ToString();
  EXPECT_EQ(p.result(sixth).error().code(), StatusCode::kPreconditionFailed);
  ASSERT_TRUE(p.result(seventh).has_value());
  EXPECT_EQ(p.result(seventh)->revisions_or_ids[0], 0u);
  EXPECT_EQ(store_->Get("t", "k")->value, "3");
  EXPECT_EQ(store_->Get("t", "k")->revision, p.result(fourth)->revisions_or_ids[0]);
  auto queue = *store_->ReadQueue("q", "k", 0, 10);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].value, "b");
  EXPECT_EQ(store_->ReadLog("log", 0, 0, 10, 100)->at(0).value, "written");
}

TEST_P(StoreConformanceTest, CommitsApplyAndCompleteInCallOrder) {
  Pipeline p(store_.get());
  constexpr int kCommits = 100;
  for (int i = 0; i < kCommits; ++i) {
    WriteBatch b;
    b.Put("t", "k", std::to_string(i));
    b.LogAppend("log", 0, kT0, std::to_string(i));
    p.Commit(std::move(b), i % 3 == 0 ? Durability::kSync : Durability::kAsync);
  }
  p.Wait();
  uint64_t last_revision = 0;
  for (int i = 0; i < kCommits; ++i) {
    ASSERT_TRUE(p.result(i).has_value()) << p.result(i).error().ToString();
    EXPECT_GT(p.result(i)->revisions_or_ids[0], last_revision);
    last_revision = p.result(i)->revisions_or_ids[0];
    EXPECT_EQ(p.result(i)->revisions_or_ids[1], static_cast<uint64_t>(i));
    EXPECT_EQ(p.order()[i], static_cast<size_t>(i));
  }
  EXPECT_EQ(store_->Get("t", "k")->value, std::to_string(kCommits - 1));
}

TEST_P(StoreConformanceTest, CallbackSeesItsOwnWrite) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<TableEntry> seen = Status(StatusCode::kInternal, "not run");
  WriteBatch b;
  b.Put("t", "k", "v");
  store_->Commit(std::move(b), Durability::kSync, [&](Result<CommitResult> r) {
    EXPECT_TRUE(r.has_value());
    auto got = store_->Get("t", "k");
    std::lock_guard lock(mu);
    seen = std::move(got);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(seen.has_value()) << seen.error().ToString();
  EXPECT_EQ(seen->value, "v");
}

TEST_P(StoreConformanceTest, CloseCompletesPendingCommitsThenRejects) {
  Pipeline p(store_.get());
  for (int i = 0; i < 50; ++i) {
    WriteBatch b;
    b.Put("t", "k" + std::to_string(i), "v");
    p.Commit(std::move(b));
  }
  store_->Close();
  EXPECT_EQ(p.done(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(p.result(i).has_value()) << i;

  WriteBatch after;
  after.Put("t", "late", "v");
  auto r = Commit(std::move(after));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Commit(WriteBatch()).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->TrimLogBefore("log", 0, 1).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->TrimLogOlderThan("log", 0, kT0).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->TrimLogToSize("log", 0, 0).error().code(), StatusCode::kUnavailable);
  store_->Close();  // idempotent
}

TEST_P(StoreConformanceTest, StatsCountSuccessfulCommits) {
  const StoreStats before = store_->stats();
  Put("t", "a", "1");
  Put("t", "b", "2");
  WriteBatch failing;
  failing.PutIf("t", "a", "x", 0);
  EXPECT_FALSE(Commit(std::move(failing)).has_value());
  WriteBatch async;
  async.Put("t", "c", "3");
  ASSERT_TRUE(Commit(std::move(async), Durability::kAsync).has_value());
  const StoreStats after = store_->stats();
  EXPECT_EQ(after.commits - before.commits, 3u);
  EXPECT_GE(after.write_groups - before.write_groups, 1u);
  EXPECT_LE(after.write_groups - before.write_groups, 3u);
  EXPECT_GE(after.syncs - before.syncs, 1u);
  EXPECT_LE(after.syncs - before.syncs, 2u);
}

TEST_P(StoreConformanceTest, ConcurrentCommitsAllApplyWithUniqueIds) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::vector<CommitResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        const std::string key = std::to_string(t) + "-" + std::to_string(i);
        b.Put("t", key, key);
        b.QueueAppend("q", std::to_string(t), key);
        b.LogAppend("log", 0, kT0, key);
        auto r =
            store_->CommitAndWait(std::move(b), i % 2 ? Durability::kSync : Durability::kAsync);
        EXPECT_TRUE(r.has_value()) << r.error().ToString();
        if (r) results[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> ids;
  std::set<uint64_t> offsets;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(results[t].size(), static_cast<size_t>(kPerThread));
    uint64_t last_seq = 0;
    for (const auto& r : results[t]) {
      EXPECT_TRUE(ids.insert(r.revisions_or_ids[0]).second);
      EXPECT_TRUE(ids.insert(r.revisions_or_ids[1]).second);
      EXPECT_GT(r.revisions_or_ids[1], last_seq);
      last_seq = r.revisions_or_ids[1];
      offsets.insert(r.revisions_or_ids[2]);
    }
    EXPECT_EQ(*store_->CountQueue("q", std::to_string(t)), static_cast<uint64_t>(kPerThread));
  }
  EXPECT_EQ(offsets.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*offsets.rbegin(), static_cast<uint64_t>(kThreads * kPerThread - 1));
  EXPECT_EQ(store_->Scan("t", "", "", 1000)->size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(store_->GetLogInfo("log", 0)->next_offset,
            static_cast<uint64_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace iothub::storage
