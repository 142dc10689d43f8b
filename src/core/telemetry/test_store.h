#pragma once

// Test-only (included by *_test.cc, never by the library): a Store that forwards to a MemoryStore
// and can fail operations or hold commit callbacks back, to reach the telemetry log's error paths
// and to prove that nothing is acknowledged before the store calls back.

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

#include "storage/memory/memory_store.h"

namespace iothub::core::testing {

class TestStore final : public storage::Store {
 public:
  explicit TestStore(storage::MemoryStore& inner) : inner_(inner) {}

  // Non-ok: the next commits fail with it, unapplied.
  Status fail_commits;
  // Non-ok: reads (Get, Scan, ReadLog, GetLogInfo) fail with it.
  Status fail_reads;
  // Non-ok: trims fail with it.
  Status fail_trims;
  // True: commits are applied at once but their callbacks wait for RunDeferred, like a store whose
  // WAL sync has not finished yet.
  bool defer_callbacks = false;

  // Runs the held callbacks in commit order; returns how many ran.
  size_t RunDeferred() {
    std::deque<std::function<void()>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& f : held) f();
    return held.size();
  }
  size_t deferred() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  size_t commits_seen() const { return commits_seen_; }

  void Commit(storage::WriteBatch batch, storage::Durability d,
              storage::CommitCallback done) override {
    ++commits_seen_;
    if (!fail_commits.ok()) {
      done(fail_commits);
      return;
    }
    if (!defer_callbacks) {
      inner_.Commit(std::move(batch), d, std::move(done));
      return;
    }
    inner_.Commit(std::move(batch), d, [this, done](Result<storage::CommitResult> r) {
      std::lock_guard lock(mu_);
      held_.push_back([done, r = std::move(r)]() mutable { done(std::move(r)); });
    });
  }

  Result<storage::TableEntry> Get(std::string_view t, std::string_view k) override {
    if (!fail_reads.ok()) return fail_reads;
    return inner_.Get(t, k);
  }
  Result<std::vector<storage::TableEntry>> Scan(std::string_view t, std::string_view p,
                                                std::string_view a, size_t l) override {
    if (!fail_reads.ok()) return fail_reads;
    return inner_.Scan(t, p, a, l);
  }
  Result<std::vector<storage::QueueEntry>> ReadQueue(std::string_view q, std::string_view k,
                                                     uint64_t f, size_t l) override {
    return inner_.ReadQueue(q, k, f, l);
  }
  Result<uint64_t> CountQueue(std::string_view q, std::string_view k) override {
    return inner_.CountQueue(q, k);
  }
  Result<std::vector<std::string>> ListQueueKeys(std::string_view q, std::string_view a,
                                                 size_t l) override {
    return inner_.ListQueueKeys(q, a, l);
  }
  Result<std::vector<storage::LogEntry>> ReadLog(std::string_view log, uint32_t p, uint64_t f,
                                                 size_t c, size_t b) override {
    if (!fail_reads.ok()) return fail_reads;
    return inner_.ReadLog(log, p, f, c, b);
  }
  Result<storage::LogInfo> GetLogInfo(std::string_view log, uint32_t p) override {
    if (!fail_reads.ok()) return fail_reads;
    return inner_.GetLogInfo(log, p);
  }
  Result<uint64_t> TrimLogBefore(std::string_view log, uint32_t p, uint64_t o) override {
    if (!fail_trims.ok()) return fail_trims;
    return inner_.TrimLogBefore(log, p, o);
  }
  Result<uint64_t> TrimLogOlderThan(std::string_view log, uint32_t p, Timestamp t) override {
    if (!fail_trims.ok()) return fail_trims;
    return inner_.TrimLogOlderThan(log, p, t);
  }
  Result<uint64_t> TrimLogToSize(std::string_view log, uint32_t p, uint64_t b) override {
    if (!fail_trims.ok()) return fail_trims;
    return inner_.TrimLogToSize(log, p, b);
  }
  storage::StoreStats stats() const override { return inner_.stats(); }
  void Close() override { inner_.Close(); }

 private:
  storage::MemoryStore& inner_;
  mutable std::mutex mu_;
  std::deque<std::function<void()>> held_;
  std::atomic<size_t> commits_seen_{0};
};

}  // namespace iothub::core::testing
