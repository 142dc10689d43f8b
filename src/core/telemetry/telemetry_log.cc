#include "core/telemetry/telemetry_log.h"

#include <algorithm>
#include <charconv>
#include <future>
#include <utility>

#include "base/log.h"
#include "base/strings.h"
#include "core/telemetry/ordered_commit.h"

namespace iothub::core {
namespace {

constexpr uint32_t kMaxPartitions = 1024;
constexpr std::string_view kPartitionsKey = "partitions";

Status MessageTooLarge(size_t size, size_t limit) {
  return TooLarge(
      "message of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(limit),
      "MessageTooLarge");
}

// The partition count the store was created with, recording `wanted` if none is recorded yet.
Result<uint32_t> StoredPartitionCount(storage::Store& store, uint32_t wanted) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto entry = store.Get(kTelemetryMetaTable, kPartitionsKey);
    if (entry) {
      uint32_t stored = 0;
      const std::string& v = entry->value;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), stored);
      if (ec != std::errc() || end != v.data() + v.size() || stored == 0) {
        return Corruption("stored telemetry partition count '" + v + "' is malformed");
      }
      return stored;
    }
    if (entry.error().code() != StatusCode::kNotFound) return entry.error();
    storage::WriteBatch batch;
    batch.PutIf(kTelemetryMetaTable, kPartitionsKey, std::to_string(wanted), 0);
    auto committed = store.CommitAndWait(std::move(batch), storage::Durability::kSync);
    if (committed) return wanted;
    // Someone else recorded it first: read theirs.
    if (committed.error().code() != StatusCode::kPreconditionFailed) return committed.error();
  }
  return Internal("telemetry partition count neither readable nor writable");
}

}  // namespace

struct TelemetryLog::Partition {
  // Held while stamping and issuing the commit: the store applies commits in call order, so
  // enqueued times never decrease along offsets.
  std::mutex mu;
  Timestamp last_time;  // the latest enqueued time stamped in this partition
};

struct TelemetryLog::Listeners {
  using Fn = std::function<void(uint32_t, uint64_t)>;
  using List = std::vector<std::pair<uint64_t, Fn>>;

  // Copy-on-write: a notification runs on a snapshot without holding the mutex, so listeners may
  // (un)subscribe, and concurrent store threads never wait for each other.
  void Notify(uint32_t partition, uint64_t next_offset) {
    std::shared_ptr<const List> snapshot;
    {
      std::lock_guard lock(mu);
      snapshot = list;
    }
    for (const auto& [id, fn] : *snapshot) fn(partition, next_offset);
  }

  std::mutex mu;
  uint64_t next_id = 1;
  std::shared_ptr<const List> list = std::make_shared<const List>();
};

Status ValidateTelemetryOptions(const TelemetryOptions& o) {
  if (o.partitions == 0 || o.partitions > kMaxPartitions) {
    return InvalidArgument("telemetry partitions must be 1.." + std::to_string(kMaxPartitions));
  }
  if (o.retention <= Duration::zero()) {
    return InvalidArgument("telemetry retention must be positive");
  }
  if (o.max_bytes_per_partition == 0) {
    return InvalidArgument("telemetry max bytes per partition must be positive");
  }
  if (o.max_message_size == 0)
    return InvalidArgument("telemetry max message size must be positive");
  if (o.max_consumer_groups == 0) {
    return InvalidArgument("telemetry max consumer groups must be at least 1 ($Default)");
  }
  return Status::Ok();
}

Result<std::unique_ptr<TelemetryLog>> TelemetryLog::Open(storage::Store& store, Clock& clock,
                                                         TelemetryOptions options) {
  HUB_RETURN_IF_ERROR(ValidateTelemetryOptions(options));
  HUB_ASSIGN_OR_RETURN(uint32_t stored, StoredPartitionCount(store, options.partitions));
  if (stored != options.partitions) {
    return InvalidArgument("the store's telemetry log has " + std::to_string(stored) +
                               " partitions, the configuration asks for " +
                               std::to_string(options.partitions) +
                               "; the partition count cannot change",
                           "PartitionCountMismatch");
  }
  std::unique_ptr<TelemetryLog> log(new TelemetryLog(store, clock, std::move(options)));
  HUB_RETURN_IF_ERROR(log->groups_.Load());
  // Resume the per-partition enqueued-time floor from the newest record, so times stay
  // non-decreasing across a restart even if the clock went back.
  for (uint32_t p = 0; p < log->partition_count(); ++p) {
    HUB_ASSIGN_OR_RETURN(PartitionInfo info, log->GetPartitionInfo(p));
    if (info.last_enqueued_time) log->partitions_[p].last_time = *info.last_enqueued_time;
  }
  return log;
}

TelemetryLog::TelemetryLog(storage::Store& store, Clock& clock, TelemetryOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      partitions_(new Partition[options_.partitions]),
      listeners_(std::make_shared<Listeners>()),
      groups_(store, clock, options_.max_consumer_groups) {}

TelemetryLog::~TelemetryLog() = default;

uint32_t TelemetryLog::PartitionOf(std::string_view device_id) const {
  return static_cast<uint32_t>(StableHash(device_id) % options_.partitions);
}

Status TelemetryLog::CheckPartition(uint32_t partition) const {
  if (partition < options_.partitions) return Status::Ok();
  return InvalidArgument("partition " + std::to_string(partition) + " does not exist (there are " +
                         std::to_string(options_.partitions) + ")");
}

void TelemetryLog::Append(std::string_view device_id, Message msg, const AppendContext& ctx,
                          std::function<void(Result<Position>)> done) {
  std::vector<Message> one;
  one.push_back(std::move(msg));
  AppendStamped(device_id, std::move(one), ctx,
                [done = std::move(done)](Result<std::vector<Position>> r) {
                  if (!r) {
                    done(r.error());
                  } else {
                    done(r->front());
                  }
                });
}

void TelemetryLog::AppendBatch(std::string_view device_id, std::vector<Message> msgs,
                               const AppendContext& ctx,
                               std::function<void(Result<std::vector<Position>>)> done) {
  if (msgs.empty()) {
    done(InvalidArgument("a telemetry batch holds at least one message"));
    return;
  }
  AppendStamped(device_id, std::move(msgs), ctx, std::move(done));
}

void TelemetryLog::AppendStamped(std::string_view device_id, std::vector<Message> msgs,
                                 const AppendContext& ctx,
                                 std::function<void(Result<std::vector<Position>>)> done) {
  if (device_id.empty()) {
    done(InvalidArgument("telemetry needs a device id"));
    return;
  }
  size_t total = 0;
  for (const Message& m : msgs) {
    size_t size = m.Size();
    if (size > options_.max_message_size) {
      done(MessageTooLarge(size, options_.max_message_size));
      return;
    }
    total += size;
  }
  if (total > options_.max_message_size) {
    done(MessageTooLarge(total, options_.max_message_size));
    return;
  }

  const uint32_t partition = PartitionOf(device_id);
  const size_t count = msgs.size();
  OrderedCommit commit([partition, count, listeners = listeners_,
                        done = std::move(done)](Result<storage::CommitResult> r) {
    if (!r) {
      HUB_LOG_WARN("telemetry", "append to partition {} failed: {}", partition,
                   r.error().ToString());
      done(r.error());
      return;
    }
    if (r->revisions_or_ids.size() != count) {
      done(Internal("store reported " + std::to_string(r->revisions_or_ids.size()) +
                    " offsets for " + std::to_string(count) + " appends"));
      return;
    }
    std::vector<Position> positions;
    positions.reserve(count);
    for (uint64_t offset : r->revisions_or_ids) positions.push_back({partition, offset});
    const uint64_t next_offset = positions.back().offset + 1;
    done(std::move(positions));
    listeners->Notify(partition, next_offset);
  });

  Partition& part = partitions_[partition];
  {
    std::lock_guard lock(part.mu);
    const Timestamp now = std::max(clock_.Now(), part.last_time);
    part.last_time = now;
    storage::WriteBatch batch;
    for (Message& m : msgs) {
      m.enqueued_time = now;
      m.connection_device_id.assign(device_id);
      m.connection_auth_method = ctx.auth_method;
      m.connection_auth_generation_id = ctx.generation_id;
      m.sequence_number = 0;  // the offset, known once the store assigns it
      m.lock_token.clear();
      m.delivery_count = 0;
      batch.LogAppend(kTelemetryLogName, partition, now, EncodeMessage(m));
    }
    commit.Start(store_, std::move(batch), storage::Durability::kSync);
  }
  commit.Release();
}

Result<std::vector<Message>> TelemetryLog::Read(uint32_t partition, uint64_t from_offset,
                                                size_t max_count, size_t max_bytes) const {
  HUB_RETURN_IF_ERROR(CheckPartition(partition));
  std::vector<Message> out;
  if (max_count == 0) return out;
  HUB_ASSIGN_OR_RETURN(auto entries, store_.ReadLog(kTelemetryLogName, partition, from_offset,
                                                    max_count, max_bytes));
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    auto m = DecodeMessage(entry.value);
    if (!m) {
      return Corruption("telemetry partition " + std::to_string(partition) + " offset " +
                        std::to_string(entry.offset) + ": " + m.error().message());
    }
    m->sequence_number = entry.offset;
    if (!m->enqueued_time) m->enqueued_time = entry.append_time;
    out.push_back(std::move(*m));
  }
  return out;
}

Result<PartitionInfo> TelemetryLog::GetPartitionInfo(uint32_t partition) const {
  HUB_RETURN_IF_ERROR(CheckPartition(partition));
  HUB_ASSIGN_OR_RETURN(storage::LogInfo log, store_.GetLogInfo(kTelemetryLogName, partition));
  PartitionInfo info{.partition = partition,
                     .first_offset = log.first_offset,
                     .next_offset = log.next_offset,
                     .bytes = log.bytes};
  if (log.next_offset > log.first_offset) {
    HUB_ASSIGN_OR_RETURN(auto last,
                         store_.ReadLog(kTelemetryLogName, partition, log.next_offset - 1, 1, 0));
    if (!last.empty()) info.last_enqueued_time = last.front().append_time;
  }
  return info;
}

Result<uint64_t> TelemetryLog::ResolveStart(uint32_t partition, const StartPosition& start) const {
  HUB_RETURN_IF_ERROR(CheckPartition(partition));
  HUB_ASSIGN_OR_RETURN(storage::LogInfo log, store_.GetLogInfo(kTelemetryLogName, partition));
  switch (start.kind) {
    case StartPosition::Kind::kStart:
      return log.first_offset;
    case StartPosition::Kind::kEnd:
      return log.next_offset;
    case StartPosition::Kind::kOffset: {
      uint64_t offset = start.offset;
      if (!start.inclusive) {
        if (offset == std::numeric_limits<uint64_t>::max()) {
          return InvalidArgument("start offset out of range");
        }
        ++offset;
      }
      return std::max(offset, log.first_offset);
    }
    case StartPosition::Kind::kEnqueuedTime:
      break;
  }
  // Binary search for the first offset whose record is not "before" the time. Enqueued times are
  // non-decreasing along offsets (Append keeps them so), which makes the predicate monotonic.
  auto before = [&start](Timestamp t) {
    return start.inclusive ? t < start.time : t <= start.time;
  };
  uint64_t lo = log.first_offset;
  uint64_t hi = log.next_offset;  // the answer is in [lo, hi]
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    HUB_ASSIGN_OR_RETURN(auto entries, store_.ReadLog(kTelemetryLogName, partition, mid, 1, 0));
    if (entries.empty()) return hi;  // retention dropped everything meanwhile
    if (entries.front().offset > mid) {
      // Retention dropped `mid` meanwhile: the search resumes at the oldest record held.
      lo = entries.front().offset;
      if (lo >= hi) return lo;
      continue;
    }
    if (before(entries.front().append_time)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

uint64_t TelemetryLog::Subscribe(std::function<void(uint32_t, uint64_t)> on_append) {
  std::lock_guard lock(listeners_->mu);
  const uint64_t id = listeners_->next_id++;
  auto list = std::make_shared<Listeners::List>(*listeners_->list);
  list->emplace_back(id, std::move(on_append));
  listeners_->list = std::move(list);
  return id;
}

void TelemetryLog::Unsubscribe(uint64_t id) {
  std::lock_guard lock(listeners_->mu);
  auto list = std::make_shared<Listeners::List>(*listeners_->list);
  std::erase_if(*list, [id](const auto& entry) { return entry.first == id; });
  listeners_->list = std::move(list);
}

Status TelemetryLog::CreateConsumerGroup(std::string_view name) { return groups_.Create(name); }

Status TelemetryLog::DeleteConsumerGroup(std::string_view name) { return groups_.Delete(name); }

std::vector<std::string> TelemetryLog::ListConsumerGroups() const { return groups_.List(); }

void TelemetryLog::SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset,
                                 std::function<void(Status)> done) {
  if (Status s = CheckPartition(partition); !s.ok()) {
    done(std::move(s));
    return;
  }
  auto log = store_.GetLogInfo(kTelemetryLogName, partition);
  if (!log) {
    done(log.error());
    return;
  }
  if (offset > log->next_offset) {
    done(InvalidArgument("checkpoint offset " + std::to_string(offset) + " is past the end (" +
                         std::to_string(log->next_offset) + ") of partition " +
                         std::to_string(partition)));
    return;
  }
  groups_.SetCheckpoint(group, partition, offset, std::move(done));
}

Status TelemetryLog::SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset) {
  std::promise<Status> promise;
  auto future = promise.get_future();
  SetCheckpoint(group, partition, offset,
                [&promise](Status s) { promise.set_value(std::move(s)); });
  return future.get();
}

Result<std::optional<uint64_t>> TelemetryLog::GetCheckpoint(std::string_view group,
                                                            uint32_t partition) const {
  HUB_RETURN_IF_ERROR(CheckPartition(partition));
  return groups_.GetCheckpoint(group, partition);
}

Result<uint64_t> TelemetryLog::ApplyRetention() {
  const Timestamp cutoff = clock_.Now() - options_.retention;
  uint64_t dropped = 0;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    HUB_ASSIGN_OR_RETURN(uint64_t by_age, store_.TrimLogOlderThan(kTelemetryLogName, p, cutoff));
    HUB_ASSIGN_OR_RETURN(uint64_t by_size, store_.TrimLogToSize(kTelemetryLogName, p,
                                                                options_.max_bytes_per_partition));
    dropped += by_age + by_size;
  }
  if (dropped > 0) HUB_LOG_DEBUG("telemetry", "retention dropped {} records", dropped);
  return dropped;
}

Duration TelemetryLog::RetentionInterval() const {
  return std::clamp<Duration>(options_.retention / 100, std::chrono::seconds(1),
                              std::chrono::minutes(1));
}

}  // namespace iothub::core
