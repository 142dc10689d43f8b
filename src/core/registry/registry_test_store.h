#pragma once

// Test only: a Store over a MemoryStore that can hold back kAsync commits (to observe what is in
// flight) and record every commit it sees.

#include <utility>
#include <vector>

#include "storage/memory/memory_store.h"
#include "tests/testing/forwarding_store.h"

namespace iothub::core::testing {

class HoldingStore final : public iothub::testing::ForwardingStore {
 public:
  HoldingStore() : ForwardingStore(inner) {}

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
  storage::MemoryStore inner;
};

}  // namespace iothub::core::testing
