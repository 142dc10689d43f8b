#include "core/hub/session_store.h"

#include <utility>

#include "base/coding.h"
#include "base/log.h"

namespace iothub::core {
namespace {

constexpr uint8_t kFormat = 1;
constexpr size_t kPage = 1000;

std::string Encode(const StoredSession& session) {
  std::string out(1, static_cast<char>(kFormat));
  PutLengthPrefixed(&out, session.generation_id);
  PutFixed64BE(&out, static_cast<uint64_t>(ToUnixMillis(session.updated)));
  PutLengthPrefixed(&out, session.state);
  return out;
}

// Corruption when the bytes are not a stored session.
Result<StoredSession> Decode(std::string_view device_id, std::string_view bytes) {
  Decoder in(bytes);
  uint8_t format = 0;
  uint64_t updated = 0;
  StoredSession s;
  s.device_id = std::string(device_id);
  if (!in.GetByte(&format) || format != kFormat || !in.GetLengthPrefixed(&s.generation_id) ||
      !in.GetFixed64BE(&updated) || !in.GetLengthPrefixed(&s.state) || !in.done()) {
    return Corruption("stored session of '" + s.device_id + "' is malformed");
  }
  s.updated = FromUnixMillis(static_cast<int64_t>(updated));
  return s;
}

}  // namespace

Result<std::vector<StoredSession>> SessionStore::LoadAll(
    const std::function<std::optional<std::string>(std::string_view)>& generation_of,
    Timestamp not_before) {
  std::vector<StoredSession> out;
  storage::WriteBatch stale;
  size_t dropped = 0;
  for (std::string after;;) {
    HUB_ASSIGN_OR_RETURN(auto page, store_.Scan(kDeviceSessionsTable, "", after, kPage));
    for (storage::TableEntry& entry : page) {
      Result<StoredSession> s = Decode(entry.key, entry.value);
      std::optional<std::string> generation = generation_of(entry.key);
      if (!s || !generation || *generation != s->generation_id || s->updated < not_before) {
        if (!s) HUB_LOG_WARN("sessions", "{}: dropped", s.error().ToString());
        stale.Delete(kDeviceSessionsTable, entry.key);
        ++dropped;
        continue;
      }
      out.push_back(std::move(*s));
    }
    if (page.size() < kPage) break;
    after = page.back().key;
  }
  if (dropped > 0) {
    HUB_LOG_INFO("sessions", "dropped {} stored session(s) of deleted devices or expired", dropped);
    HUB_RETURN_IF_ERROR(
        store_.CommitAndWait(std::move(stale), storage::Durability::kAsync).status());
  }
  return out;
}

void SessionStore::Save(const StoredSession& session, storage::Durability durability,
                        std::function<void(Status)> done) {
  storage::WriteBatch batch;
  batch.Put(kDeviceSessionsTable, session.device_id, Encode(session));
  store_.Commit(std::move(batch), durability,
                [done = std::move(done)](Result<storage::CommitResult> r) {
                  if (done) done(r ? Status::Ok() : r.error());
                });
}

void SessionStore::Remove(std::string_view device_id, std::function<void(Status)> done) {
  storage::WriteBatch batch;
  batch.Delete(kDeviceSessionsTable, device_id);
  store_.Commit(std::move(batch), storage::Durability::kAsync,
                [done = std::move(done)](Result<storage::CommitResult> r) {
                  if (done) done(r ? Status::Ok() : r.error());
                });
}

}  // namespace iothub::core
