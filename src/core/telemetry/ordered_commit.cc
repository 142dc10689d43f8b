#include "core/telemetry/ordered_commit.h"

#include <mutex>
#include <optional>
#include <utility>

namespace iothub::core {

struct OrderedCommit::State {
  std::mutex mu;
  bool released = false;
  std::optional<Result<storage::CommitResult>> parked;  // a result that arrived before Release
  storage::CommitCallback done;
};

OrderedCommit::OrderedCommit(storage::CommitCallback done) : state_(std::make_shared<State>()) {
  state_->done = std::move(done);
}

void OrderedCommit::Start(storage::Store& store, storage::WriteBatch batch,
                          storage::Durability durability) {
  // The callback holds the state, not `this`: it may run after this object is gone.
  store.Commit(std::move(batch), durability, [state = state_](Result<storage::CommitResult> r) {
    std::unique_lock lock(state->mu);
    if (!state->released) {
      state->parked.emplace(std::move(r));
      return;
    }
    lock.unlock();
    state->done(std::move(r));
  });
}

void OrderedCommit::Release() {
  std::unique_lock lock(state_->mu);
  state_->released = true;
  if (!state_->parked) return;
  Result<storage::CommitResult> r = std::move(*state_->parked);
  state_->parked.reset();
  lock.unlock();
  state_->done(std::move(r));
}

}  // namespace iothub::core
