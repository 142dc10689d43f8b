#pragma once

// Test only: a Store over a MemoryStore that can hold back kAsync commits (to observe what is in
// flight) and record every commit it sees.

#include <utility>
#include <vector>

#include "storage/memory/memory_store.h"

namespace iothub::core::testing {

class HoldingStore final : public storage::Store {
 public:
  struct Held {
    storage::WriteBatch batch;
    storage::CommitCallback done;
  };

  // Every batch committed, with its durability, in Commit order (held ones included).
  std::vector<std::pair<storage::WriteBatch, storage::Durability>> seen;
  // When set, kAsync commits wait in `held` until Release; kSync commits always go through.
  bool hold_async = false;
  std::vector<Held> held;

  // Applies (or, with `fail`, fails) the oldest held commit and runs its callback.
  void Release(bool fail = false) {
    Held h = std::move(held.front());
    held.erase(held.begin());
    if (fail) {
      h.done(Unavailable("injected failure"));
    } else {
      inner.Commit(std::move(h.batch), storage::Durability::kAsync, std::move(h.done));
    }
  }

  void Commit(storage::WriteBatch batch, storage::Durability d,
              storage::CommitCallback done) override {
    seen.emplace_back(batch, d);
    if (hold_async && d == storage::Durability::kAsync) {
      held.push_back({std::move(batch), std::move(done)});
      return;
    }
    inner.Commit(std::move(batch), d, std::move(done));
  }
  Result<storage::TableEntry> Get(std::string_view t, std::string_view k) override {
    return inner.Get(t, k);
  }
  Result<std::vector<storage::TableEntry>> Scan(std::string_view t, std::string_view p,
                                                std::string_view a, size_t l) override {
    return inner.Scan(t, p, a, l);
  }
  Result<std::vector<storage::QueueEntry>> ReadQueue(std::string_view q, std::string_view k,
                                                     uint64_t f, size_t l) override {
    return inner.ReadQueue(q, k, f, l);
  }
  Result<uint64_t> CountQueue(std::string_view q, std::string_view k) override {
    return inner.CountQueue(q, k);
  }
  Result<std::vector<std::string>> ListQueueKeys(std::string_view q, std::string_view a,
                                                 size_t l) override {
    return inner.ListQueueKeys(q, a, l);
  }
  Result<std::vector<storage::LogEntry>> ReadLog(std::string_view l, uint32_t p, uint64_t f,
                                                 size_t c, size_t b) override {
    return inner.ReadLog(l, p, f, c, b);
  }
  Result<storage::LogInfo> GetLogInfo(std::string_view l, uint32_t p) override {
    return inner.GetLogInfo(l, p);
  }
  Result<uint64_t> TrimLogBefore(std::string_view l, uint32_t p, uint64_t b) override {
    return inner.TrimLogBefore(l, p, b);
  }
  Result<uint64_t> TrimLogOlderThan(std::string_view l, uint32_t p, Timestamp t) override {
    return inner.TrimLogOlderThan(l, p, t);
  }
  Result<uint64_t> TrimLogToSize(std::string_view l, uint32_t p, uint64_t b) override {
    return inner.TrimLogToSize(l, p, b);
  }
  storage::StoreStats stats() const override { return inner.stats(); }
  void Close() override { inner.Close(); }

  storage::MemoryStore inner;
};

}  // namespace iothub::core::testing
