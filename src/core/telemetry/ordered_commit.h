#pragma once

#include <memory>

#include "storage/store.h"

namespace iothub::core {

// Issues a store commit while the caller holds a lock, and runs the completion only once the caller
// has released it.
//
// Why: the telemetry log and the consumer-group registry call Store::Commit under their own mutex,
// because the store applies commits in call order and that order is what they rely on (enqueued
// times rising with offsets; a checkpoint write never landing after its group's deletion). But a
// store may run the callback inline, before Commit returns (the memory store always does), and the
// callback runs user code (`done`, listeners) that may call back into us. Running it under our
// mutex would deadlock, so an inline callback is parked here until Release().
//
// Use: `OrderedCommit c(done); { lock; ...; c.Start(store, batch, d); } c.Release();`
// Start and Release are called once each, in that order, on one thread; the completion runs exactly
// once, on the store's thread or on the thread that calls Release.
class OrderedCommit {
 public:
  explicit OrderedCommit(storage::CommitCallback done);
  OrderedCommit(const OrderedCommit&) = delete;
  OrderedCommit& operator=(const OrderedCommit&) = delete;

  void Start(storage::Store& store, storage::WriteBatch batch, storage::Durability durability);
  void Release();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace iothub::core
