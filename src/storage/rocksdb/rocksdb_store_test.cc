#include "storage/rocksdb/rocksdb_store.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/store_conformance.h"
#include "tests/testing/temp_dir.h"

namespace iothub::storage {
namespace {

std::unique_ptr<Store> OpenForConformance(const std::string& dir) {
  auto store = OpenRocksDbStore({.path = dir + "/db"});
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return store ? std::move(*store) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
                         ::testing::Values(StoreBackend{"RocksDb", OpenForConformance}),
                         StoreBackendName);

const Timestamp kT0 = FromUnixMillis(1'700'000'000'000);

// A one-shot latch.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Collects the results of commits issued without waiting.
class Results {
 public:
  CommitCallback Slot(size_t* index) {
    std::lock_guard lock(mu_);
    *index = results_.size();
    results_.emplace_back(Status(StatusCode::kInternal, "callback never ran"));
    ++pending_;
    return [this, i = *index](Result<CommitResult> r) {
      std::lock_guard lock(mu_);
      results_[i] = std::move(r);
      --pending_;
      cv_.notify_all();
    };
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_ == 0; });
  }
  const Result<CommitResult>& operator[](size_t i) const { return results_[i]; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Result<CommitResult>> results_;
  size_t pending_ = 0;
};

class RocksDbStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(RocksDbOptions options = {}) {
    options.path = path_;
    auto store = OpenRocksDbStore(options);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }
  static uint64_t MustCommit(Store& store, WriteBatch batch,
                             Durability durability = Durability::kSync) {
    auto r = store.CommitAndWait(std::move(batch), durability);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r && !r->revisions_or_ids.empty() ? r->revisions_or_ids[0] : 0;
  }
  // Holds the writer thread inside a commit callback until `release` opens, so that the commits
  // issued meanwhile queue up and form the next write group.
  static void BlockWriter(Store& store, Gate* entered, Gate* release) {
    WriteBatch b;
    b.Put("t", "blocker", "x");
    store.Commit(std::move(b), Durability::kSync, [=](Result<CommitResult> r) {
      EXPECT_TRUE(r.has_value());
      entered->Open();
      release->Wait();
    });
    entered->Wait();
  }

  iothub::testing::TempDir dir_;
  std::string path_ = dir_.str() + "/db";
};

TEST_F(RocksDbStoreTest, ReopenKeepsTablesAndRevisionsKeepIncreasing) {
  uint64_t last_revision = 0;
  {
    auto store = Open();
    WriteBatch b;
    b.Put("t", "a", "1");
    b.Put("t", "b", "2");
    b.Put("u", "a", "3");
    MustCommit(*store, std::move(b));
    WriteBatch del;
    del.Delete("t", "b");
    MustCommit(*store, std::move(del));
    WriteBatch async;
    async.Put("t", "c", "4");
    last_revision = MustCommit(*store, std::move(async), Durability::kAsync);
  }
  for (int round = 0; round < 3; ++round) {
    auto store = Open();
    auto scan = store->Scan("t", "", "", 10);
    ASSERT_TRUE(scan.has_value()) << scan.error().ToString();
    ASSERT_EQ(scan->size(), 2u + round);
    EXPECT_EQ((*scan)[0].key, "a");
    EXPECT_EQ((*scan)[1].value, "4");
    EXPECT_EQ((*scan)[1].revision, last_revision);
    EXPECT_EQ(store->Get("u", "a")->value, "3");
    EXPECT_FALSE(store->Get("t", "b").has_value());
    WriteBatch b;
    b.Put("t", "r" + std::to_string(round), "x");
    const uint64_t revision = MustCommit(*store, std::move(b));
    EXPECT_GT(revision, last_revision);
    last_revision = revision;
    // A precondition against a revision from before the restart still works.
    WriteBatch cas;
    cas.PutIf("t", "c", "5", store->Get("t", "c")->revision);
    EXPECT_GT(MustCommit(*store, std::move(cas)), last_revision);
    WriteBatch undo;
    undo.Put("t", "c", "4");
    last_revision = MustCommit(*store, std::move(undo));
    EXPECT_EQ(store->Get("t", "c")->revision, last_revision);
  }
}

TEST_F(RocksDbStoreTest, ReopenKeepsQueuesAndSeqsKeepIncreasing) {
  uint64_t last_seq = 0;
  {
    auto store = Open();
    for (int i = 0; i < 3; ++i) {
      WriteBatch b;
      b.QueueAppend("q", "k", std::to_string(i));
      last_seq = MustCommit(*store, std::move(b));
    }
    WriteBatch gone;
    gone.QueueAppend("q", "gone", "x");
    last_seq = MustCommit(*store, std::move(gone));
    WriteBatch all;
    all.QueueDeleteAll("q", "gone");
    MustCommit(*store, std::move(all));
  }
  auto store = Open();
  auto entries = store->ReadQueue("q", "k", 0, 10);
  ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].value, "2");
  EXPECT_EQ(*store->CountQueue("q", "k"), 3u);
  EXPECT_EQ(*store->ListQueueKeys("q", "", 10), std::vector<std::string>{"k"});
  WriteBatch b;
  b.QueueAppend("q", "gone", "again");
  EXPECT_GT(MustCommit(*store, std::move(b)), last_seq);
}

TEST_F(RocksDbStoreTest, ReopenContinuesLogOffsetsAndInfo) {
  {
    auto store = Open();
    for (int i = 0; i < 5; ++i) {
      WriteBatch b;
      b.LogAppend("log", 7, kT0 + Duration(i), std::string(i + 1, 'x'));
      MustCommit(*store, std::move(b), i % 2 ? Durability::kSync : Durability::kAsync);
    }
    EXPECT_EQ(*store->TrimLogBefore("log", 7, 2), 2u);
  }
  {
    auto store = Open();
    auto info = store->GetLogInfo("log", 7);
    ASSERT_TRUE(info.has_value()) << info.error().ToString();
    EXPECT_EQ(info->first_offset, 2u);
    EXPECT_EQ(info->next_offset, 5u);
    EXPECT_EQ(info->bytes, 3u + 4u + 5u);
    WriteBatch b;
    b.LogAppend("log", 7, kT0 + Duration(9), "yy");
    EXPECT_EQ(MustCommit(*store, std::move(b)), 5u);
    EXPECT_EQ(*store->TrimLogToSize("log", 7, 8), 2u);
  }
  auto store = Open();
  auto info = *store->GetLogInfo("log", 7);
  EXPECT_EQ(info.first_offset, 4u);
  EXPECT_EQ(info.next_offset, 6u);
  EXPECT_EQ(info.bytes, 5u + 2u);
  auto entries = *store->ReadLog("log", 7, 0, 10, 100);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].offset, 4u);
  EXPECT_EQ(entries[0].append_time, kT0 + Duration(4));
  EXPECT_EQ(entries[1].value, "yy");
}

TEST_F(RocksDbStoreTest, AsyncCommitsSurviveACleanClose) {
  {
    auto store = Open();
    for (int i = 0; i < 20; ++i) {
      WriteBatch b;
      b.Put("t", "k" + std::to_string(i), "v");
      store->Commit(std::move(b), Durability::kAsync, nullptr);
    }
    store->Close();
  }
  auto store = Open();
  EXPECT_EQ(store->Scan("t", "", "", 100)->size(), 20u);
}

TEST_F(RocksDbStoreTest, OpenFailuresAreStatuses) {
  EXPECT_EQ(OpenRocksDbStore({.path = ""}).error().code(), StatusCode::kInvalidArgument);
  auto missing = OpenRocksDbStore({.path = path_, .create_if_missing = false});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().code(), StatusCode::kOk);

  const std::string file = dir_.str() + "/a-file";
  std::ofstream(file) << "not a database";
  EXPECT_FALSE(OpenRocksDbStore({.path = file}).has_value());

  auto first = Open();
  ASSERT_NE(first, nullptr);
  auto second = OpenRocksDbStore({.path = path_});
  ASSERT_FALSE(second.has_value());  // the database lock is held
}

TEST_F(RocksDbStoreTest, ConcurrentSyncedCommitsShareSyncs) {
  auto store = Open();
  const StoreStats before = store->stats();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        b.Put("t", std::to_string(t) + "/" + std::to_string(i), std::to_string(i));
        if (!store->CommitAndWait(std::move(b), Durability::kSync).has_value()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const StoreStats after = store->stats();
  EXPECT_EQ(after.commits - before.commits, uint64_t{kThreads * kPerThread});
  EXPECT_LT(after.syncs - before.syncs, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(after.syncs - before.syncs, after.write_groups - before.write_groups);
  for (int t = 0; t < kThreads; ++t) {
    auto rows = store->Scan("t", std::to_string(t) + "/", "", 1000);
    ASSERT_TRUE(rows.has_value());
    EXPECT_EQ(rows->size(), static_cast<size_t>(kPerThread));
  }
}

TEST_F(RocksDbStoreTest, CommitsQueuedBehindTheWriterShareOneWriteAndSeeEachOther) {
  auto store = Open();
  WriteBatch seed;
  seed.Put("t", "old", "x");
  seed.QueueAppend("q", "k", "old entry");
  MustCommit(*store, std::move(seed));
  Gate entered, release;
  BlockWriter(*store, &entered, &release);
  const StoreStats before = store->stats();

  Results results;
  size_t i1, i2, i3, i4, i5, i6, i7;
  WriteBatch b;
  b.PutIf("t", "k", "1", 0);
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i1));
  b = WriteBatch();
  b.PutIf("t", "k", "2", 0);  // fails: k was written by the batch before, in the same group
  b.LogAppend("log", 0, kT0, "never");
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i2));
  b = WriteBatch();
  b.DeletePrefix("t", "");     // deletes k (only in the overlay) and old (only in the database)
  b.QueueDeleteAll("q", "k");  // deletes the database's entry
  b.QueueAppend("q", "k", "a");
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i3));
  b = WriteBatch();
  b.PutIf("t", "k", "3", 0);   // succeeds: the prefix delete removed k
  b.QueueDeleteAll("q", "k");  // deletes "a", which exists only in the overlay
  b.QueueAppend("q", "k", "b");
  b.LogAppend("log", 0, kT0, "first");
  store->Commit(std::move(b), Durability::kSync, results.Slot(&i4));
  b = WriteBatch();
  b.DeleteIf("t", "old", 1);  // fails: old is gone
  b.LogAppend("log", 0, kT0, "never");
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i5));
  b = WriteBatch();
  b.LogAppend("log", 0, kT0, "second");
  b.Put("t", "k2", "v");
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i6));
  b = WriteBatch();
  b.Delete("t", "k2");
  b.PutIf("t", "k2", "again", 0);
  store->Commit(std::move(b), Durability::kAsync, results.Slot(&i7));
  release.Open();
  results.Wait();

  EXPECT_TRUE(results[i1].has_value());
  EXPECT_EQ(results[i2].error().code(), StatusCode::kPreconditionFailed);
  EXPECT_TRUE(results[i3].has_value());
  ASSERT_TRUE(results[i4].has_value()) << results[i4].error().ToString();
  EXPECT_EQ(results[i5].error().code(), StatusCode::kPreconditionFailed);
  ASSERT_TRUE(results[i6].has_value());
  ASSERT_TRUE(results[i7].has_value());
  EXPECT_EQ(results[i4]->revisions_or_ids[3], 0u);
  EXPECT_EQ(results[i6]->revisions_or_ids[0], 1u);

  const StoreStats after = store->stats();
  EXPECT_EQ(after.write_groups - before.write_groups, 1u);
  EXPECT_EQ(after.syncs - before.syncs, 1u);
  EXPECT_EQ(after.commits - before.commits, 5u);

  EXPECT_EQ(store->Get("t", "k")->value, "3");
  EXPECT_EQ(store->Get("t", "k")->revision, results[i4]->revisions_or_ids[0]);
  EXPECT_FALSE(store->Get("t", "old").has_value());
  EXPECT_EQ(store->Get("t", "k2")->value, "again");
  auto queue = *store->ReadQueue("q", "k", 0, 10);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].value, "b");
  auto log = *store->ReadLog("log", 0, 0, 10, 100);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].value, "first");
  EXPECT_EQ(log[1].value, "second");
  auto info = *store->GetLogInfo("log", 0);
  EXPECT_EQ(info.next_offset, 2u);
  EXPECT_EQ(info.bytes, 11u);
}

TEST_F(RocksDbStoreTest, GroupsHoldAtMostMaxGroupBatches) {
  auto store = Open({.max_group_batches = 2});
  Gate entered, release;
  BlockWriter(*store, &entered, &release);
  const StoreStats before = store->stats();
  Results results;
  for (int i = 0; i < 6; ++i) {
    WriteBatch b;
    b.Put("t", "k" + std::to_string(i), "v");
    size_t index;
    store->Commit(std::move(b), Durability::kSync, results.Slot(&index));
  }
  release.Open();
  results.Wait();
  for (size_t i = 0; i < 6; ++i) EXPECT_TRUE(results[i].has_value());
  EXPECT_EQ(store->stats().write_groups - before.write_groups, 3u);
}

TEST_F(RocksDbStoreTest, CloseRacingWithCommitsAcknowledgesOnlyWhatIsStored) {
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> callbacks{0};
  std::atomic<int> issued{0};
  {
    auto store = Open();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::atomic<int> in_flight[4] = {0, 0, 0, 0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {
          // A bounded pipeline per thread, so Close has a realistic backlog to drain.
          while (in_flight[t] >= 16 && !stop) std::this_thread::yield();
          ++in_flight[t];
          const std::string key = std::to_string(t) + "/" + std::to_string(i);
          WriteBatch b;
          b.Put("t", key, key);
          ++issued;
          store->Commit(std::move(b), i % 2 ? Durability::kSync : Durability::kAsync,
                        [&, key, t](Result<CommitResult> r) {
                          ++callbacks;
                          --in_flight[t];
                          if (r.has_value()) {
                            std::lock_guard lock(mu);
                            acknowledged.insert(key);
                          } else {
                            EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
                            stop = true;
                          }
                        });
        }
      });
    }
    while (store->stats().commits < 200) std::this_thread::yield();
    store->Close();
    stop = true;
    for (auto& th : threads) th.join();
    EXPECT_EQ(callbacks.load(), issued.load());
  }
  auto store = Open();
  auto rows = *store->Scan("t", "", "", 1'000'000);
  std::set<std::string> stored;
  for (const auto& row : rows) stored.insert(row.key);
  EXPECT_EQ(stored, acknowledged);
}

TEST_F(RocksDbStoreTest, CloseFromACallbackDoesNotDeadlock) {
  auto store = Open();
  Gate done;
  WriteBatch b;
  b.Put("t", "k", "v");
  store->Commit(std::move(b), Durability::kSync, [&](Result<CommitResult> r) {
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(store->TrimLogBefore("log", 0, 1).error().code(), StatusCode::kInternal);
    store->Close();
    done.Open();
  });
  done.Wait();
  WriteBatch late;
  late.Put("t", "late", "v");
  EXPECT_EQ(store->CommitAndWait(std::move(late), Durability::kSync).error().code(),
            StatusCode::kUnavailable);
  store.reset();
  EXPECT_EQ(Open()->Get("t", "k")->value, "v");
}

}  // namespace
}  // namespace iothub::storage
