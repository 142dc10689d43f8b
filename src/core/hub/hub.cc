#include "core/hub/hub.h"

#include "base/log.h"
#include "base/strings.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {

Hub::Hub(HubOptions options, storage::Store& store, Clock& clock, std::vector<Executor*> shards)
    : options_(std::move(options)), store_(store), clock_(clock), shards_(std::move(shards)) {
  HUB_CHECK(!shards_.empty());
  c2d_depths_ = std::make_unique<std::atomic<uint64_t>[]>(shards_.size());
  policies_ = std::make_unique<auth::PolicyStore>(store_);
  // cloudToDeviceMessageCount: every message still in the device's queue, as the store holds it
  // (a shard's in-memory state may only be read on its own thread).
  registry_ = std::make_unique<Registry>(store_, clock_, [this](std::string_view id) -> uint64_t {
    auto n = store_.CountQueue(kC2dQueue, id);
    return n ? *n : 0;
  });
  authenticator_ = std::make_unique<auth::Authenticator>(
      options_.host_name, *policies_, clock_,
      [this](std::string_view id) { return registry_->Credentials(id); });
  feedback_ = std::make_unique<FeedbackQueue>(store_, clock_, feedback_executor(),
                                              options_.host_name, options_.feedback);
  sessions_ = std::make_unique<SessionStore>(store_);
  next_session_check_.resize(shards_.size());
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto lookup = [this](std::string_view id) -> std::optional<DeviceInfo> {
      auto generation = registry_->GenerationId(id);
      if (!generation) return std::nullopt;
      return DeviceInfo{std::move(*generation)};
    };
    c2d_.push_back(std::make_unique<C2dQueues>(store_, clock_, *shards_[i], lookup, options_.c2d));
    c2d_.back()->SetFeedbackCallback([this](std::vector<StoredFeedbackRecord> records) {
      feedback_->AddRecords(std::move(records));
    });
    presence_.push_back(std::make_unique<Presence>(*registry_, *authenticator_, *c2d_.back(),
                                                   *sessions_, clock_, *shards_[i],
                                                   options_.session_expiry));
    c2d_.back()->AddAvailableListener(
        [presence = presence_.back().get()](const std::string& id) { presence->OnAvailable(id); });
  }
  // Revocation reaches the device's shard before anything the registry change lets happen next
  // (a re-created device's first C2D message, a connection under new keys): posts keep order.
  registry_->AddRevocationListener([this](const std::string& id, std::string_view why) {
    size_t shard = ShardOf(id);
    shards_[shard]->Post(
        [this, shard, id, why = std::string(why)] { presence_[shard]->Revoke(id, why); });
  });
  registry_->AddDeleteListener([this](const std::string& id) {
    sessions_->Remove(id, [id](const Status& s) {
      if (!s.ok()) {
        HUB_LOG_ERROR("hub", "dropping the session of deleted device {}: {}", id, s.ToString());
      }
    });
    size_t shard = ShardOf(id);
    shards_[shard]->Post([this, shard, id] {
      presence_[shard]->DropSession(id);
      c2d_[shard]->RemoveDevice(id, [id](const Status& s) {
        if (!s.ok())
          HUB_LOG_ERROR("hub", "dropping the queue of deleted device {}: {}", id, s.ToString());
      });
    });
  });
}

Hub::~Hub() = default;

size_t Hub::ShardOf(std::string_view device_id) const {
  return StableHash(device_id) % shards_.size();
}

Status Hub::Open() {
  HUB_RETURN_IF_ERROR(policies_->LoadOrCreateDefaults());
  HUB_RETURN_IF_ERROR(registry_->Open());
  HUB_ASSIGN_OR_RETURN(telemetry_, TelemetryLog::Open(store_, clock_, options_.telemetry));
  HUB_RETURN_IF_ERROR(feedback_->Recover());
  for (size_t i = 0; i < c2d_.size(); ++i) {
    // A queue whose device is gone is not recovered (its expiries would make feedback for a
    // deleted device): DropOrphanQueues deletes it.
    HUB_RETURN_IF_ERROR(c2d_[i]->Recover(
        [this, i](std::string_view id) {
          return ShardOf(id) == i && registry_->GenerationId(id).has_value();
        },
        [this](std::string_view id, uint64_t seq) {
          return feedback_->HasRecoveredOutcome(id, seq);
        }));
    HUB_RETURN_IF_ERROR(DropOrphanQueues(i));
  }
  // Persistent device sessions, each to its device's shard (the shards run nothing yet). Those of
  // devices deleted meanwhile, or away for longer than the expiry, are deleted.
  Timestamp not_before = options_.session_expiry.count() > 0
                             ? clock_.Now() - options_.session_expiry
                             : Timestamp::min();
  HUB_ASSIGN_OR_RETURN(
      std::vector<StoredSession> stored,
      sessions_->LoadAll([this](std::string_view id) { return registry_->GenerationId(id); },
                         not_before));
  for (StoredSession& s : stored) {
    size_t shard = ShardOf(s.device_id);
    presence_[shard]->Restore(std::move(s));
  }
  auto stats = registry_->Stats();
  HUB_LOG_INFO("hub",
               "opened: {} device(s), {} shard(s), {} telemetry partition(s), {} persistent "
               "session(s)",
               stats.total, shards_.size(), telemetry_->partition_count(), stored.size());
  return Status::Ok();
}

// A device deleted while the hub was down (after its registry record went, before its queue did)
// leaves a queue without a device: drop it now.
Status Hub::DropOrphanQueues(size_t shard) {
  constexpr size_t kPage = 1000;
  for (std::string after;;) {
    HUB_ASSIGN_OR_RETURN(auto keys, store_.ListQueueKeys(kC2dQueue, after, kPage));
    for (const std::string& id : keys) {
      if (ShardOf(id) != shard || registry_->GenerationId(id)) continue;
      HUB_LOG_INFO("hub", "dropping the C2D queue of deleted device {}", id);
      // Commits run their callbacks on the shard, which may be running: remove from there.
      shards_[shard]->Post([this, shard, id] {
        c2d_[shard]->RemoveDevice(id, [id](const Status& s) {
          if (!s.ok()) HUB_LOG_ERROR("hub", "dropping the queue of {}: {}", id, s.ToString());
        });
      });
    }
    if (keys.size() < kPage) return Status::Ok();
    after = keys.back();
  }
}

void Hub::Close() {
  Status s = registry_->FlushActivity();
  if (!s.ok()) HUB_LOG_WARN("hub", "flushing device activity: {}", s.ToString());
}

namespace {

// `done`, called on `reply_to`: what a device operation run on the device's shard answers with.
template <typename T>
std::function<void(T)> ReplyOn(Executor& reply_to, std::function<void(T)> done) {
  return [&reply_to, done = std::move(done)](T value) mutable {
    reply_to.Post(
        [done = std::move(done), value = std::move(value)]() mutable { done(std::move(value)); });
  };
}

}  // namespace

void Hub::SendC2d(std::string device_id, Message message, Executor& reply_to,
                  std::function<void(Result<uint64_t>)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), message = std::move(message),
                        reply = ReplyOn(reply_to, std::move(done))]() mutable {
    c2d_[shard]->Enqueue(device_id, std::move(message), std::move(reply));
  });
}

void Hub::PurgeC2d(std::string device_id, Executor& reply_to,
                   std::function<void(Result<uint64_t>)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id),
                        reply = ReplyOn(reply_to, std::move(done))]() mutable {
    c2d_[shard]->Purge(device_id, std::move(reply));
  });
}

void Hub::ConnectDevice(std::string device_id, auth::Principal principal,
                        std::shared_ptr<DeviceLink> link, SessionMode mode, Executor& reply_to,
                        std::function<void(Result<SessionView>)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id),
                        principal = std::move(principal), link = std::move(link), mode,
                        reply = ReplyOn(reply_to, std::move(done))]() mutable {
    reply(presence_[shard]->Attach(device_id, principal, std::move(link), mode));
  });
}

void Hub::SaveSession(std::string device_id, std::shared_ptr<DeviceLink> link, std::string state,
                      Executor& reply_to, std::function<void(Status)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), link = std::move(link),
                        state = std::move(state),
                        reply = ReplyOn(reply_to, std::move(done))]() mutable {
    presence_[shard]->SaveSession(device_id, link.get(), std::move(state), std::move(reply));
  });
}

void Hub::DisconnectDevice(std::string device_id, std::shared_ptr<DeviceLink> link) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), link = std::move(link)] {
    presence_[shard]->Detach(device_id, link.get());
  });
}

void Hub::GrantC2d(std::string device_id, std::shared_ptr<DeviceLink> link, uint32_t credit) {
  size_t shard = ShardOf(device_id);
  // `link` rides along so that its address cannot be reused by a newer link before this runs.
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), link = std::move(link),
                        credit] { presence_[shard]->Grant(device_id, link.get(), credit); });
}

void Hub::StopC2d(std::string device_id, std::shared_ptr<DeviceLink> link, Executor& reply_to,
                  std::function<void()> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), link = std::move(link),
                        reply_to = &reply_to, done = std::move(done)]() mutable {
    presence_[shard]->StopC2d(device_id, link.get());
    reply_to->Post(std::move(done));
  });
}

void Hub::ReceiveC2d(std::string device_id, std::optional<Duration> lock_timeout,
                     Executor& reply_to, std::function<void(std::optional<Message>)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), lock_timeout,
                        reply = ReplyOn(reply_to, std::move(done))]() mutable {
    reply(c2d_[shard]->ReceiveAndLock(device_id, lock_timeout));
  });
}

void Hub::CompleteC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                      std::function<void(Status)> done) {
  SettleC2d(std::move(device_id), std::move(lock_token), Settlement::kComplete, reply_to,
            std::move(done));
}

void Hub::RejectC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                    std::function<void(Status)> done) {
  SettleC2d(std::move(device_id), std::move(lock_token), Settlement::kReject, reply_to,
            std::move(done));
}

void Hub::AbandonC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                     std::function<void(Status)> done) {
  SettleC2d(std::move(device_id), std::move(lock_token), Settlement::kAbandon, reply_to,
            std::move(done));
}

void Hub::ReleaseC2d(std::string device_id, std::string lock_token, Executor& reply_to,
                     std::function<void(Status)> done) {
  SettleC2d(std::move(device_id), std::move(lock_token), Settlement::kRelease, reply_to,
            std::move(done));
}

void Hub::SettleC2d(std::string device_id, std::string lock_token, Settlement settlement,
                    Executor& reply_to, std::function<void(Status)> done) {
  size_t shard = ShardOf(device_id);
  shards_[shard]->Post([this, shard, device_id = std::move(device_id), lock = std::move(lock_token),
                        settlement, reply = ReplyOn(reply_to, std::move(done))]() mutable {
    C2dQueues& queues = *c2d_[shard];
    switch (settlement) {
      case Settlement::kComplete:
        return queues.Complete(device_id, lock, std::move(reply));
      case Settlement::kReject:
        return queues.Reject(device_id, lock, std::move(reply));
      case Settlement::kAbandon:
        return queues.Abandon(device_id, lock, std::move(reply));
      case Settlement::kRelease:
        return queues.Release(device_id, lock, std::move(reply));
    }
  });
}

void Hub::ProcessTimers(size_t shard) {
  c2d_[shard]->ProcessTimers();
  // Sessions expire in days: a look once a minute is plenty.
  if (Timestamp now = clock_.Now(); now >= next_session_check_[shard]) {
    next_session_check_[shard] = now + std::chrono::minutes(1);
    presence_[shard]->ExpireSessions();
  }
  c2d_depths_[shard].store(c2d_[shard]->TotalDepth(), std::memory_order_relaxed);
  if (shard == 0) {
    feedback_->ProcessTimers();
    feedback_messages_.store(feedback_->Depth(), std::memory_order_relaxed);
    feedback_pending_.store(feedback_->PendingRecords(), std::memory_order_relaxed);
  }
}

uint64_t Hub::C2dQueuedTotal() const {
  uint64_t total = 0;
  for (size_t i = 0; i < shards_.size(); ++i) {
    total += c2d_depths_[i].load(std::memory_order_relaxed);
  }
  return total;
}

Result<uint64_t> Hub::ApplyRetention() { return telemetry_->ApplyRetention(); }

}  // namespace iothub::core
