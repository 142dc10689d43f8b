#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "base/result.h"
#include "storage/store.h"

namespace iothub::storage {

struct RocksDbOptions {
  std::string path;  // the database directory
  bool create_if_missing = true;
  // Group commit: at most this many batches (and about this many bytes of ops) share one write.
  size_t max_group_batches = 256;
  size_t max_group_bytes = 8 << 20;
  // Memtable size of each column family.
  size_t write_buffer_bytes = 32 << 20;
  // WAL files past this total make RocksDB flush the memtables that keep the oldest one alive.
  uint64_t max_total_wal_bytes = 256 << 20;
};

// Opens (or creates) the embedded store at `options.path`. Fails with InvalidArgument for an empty
// path, or with the converted RocksDB error (Corruption; Internal for I/O errors, including a
// database another Store or process holds open); never throws. Only one Store may have a path open
// at a time.
//
// The returned Store follows store.h, plus:
//  - One writer thread applies commits in call order. It groups the commits pending when it wakes
//    (group commit): each batch's preconditions are checked in order against the database and the
//    batches before it in the group; a failing batch fails alone; the others are written in one
//    RocksDB write, synced when any of them asked for kSync. Callbacks run on the writer thread,
//    in commit order, after that write returned (so after the sync).
//  - Revisions and queue seqs come from one counter whose high-water mark is reserved (synced) in
//    blocks ahead of use, so no id is ever handed out twice, even after a power loss that drops
//    unsynced (kAsync) commits; a restart may leave a gap.
//  - If a write fails, the store stops accepting writes: that and every later commit fail with
//    the error. Reads keep working.
//  - Trims go through the writer like commits (never synced by themselves). TrimLog* and
//    CommitAndWait block on the writer: never call them from a commit callback.
//  - After Close(), Commit runs `done` with Unavailable on the calling thread; reads keep working
//    until the Store is destroyed. Close() syncs the WAL, so kAsync commits survive a clean close.
//    Close() from a commit callback only stops intake (the writer cannot wait for itself); never
//    destroy the Store from a commit callback.
Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options);

}  // namespace iothub::storage
