#include "core/registry/registry.h"

#include <algorithm>
#include <utility>

#include "base/crypto.h"
#include "base/log.h"
#include "core/auth/sas_token.h"

namespace iothub::core {

namespace {

constexpr size_t kScanPage = 1000;
constexpr size_t kMaxStatusReason = 128;
constexpr int kMaxAttempts = 3;  // unconditional writes racing writers outside this process
constexpr char kEdgeScopePrefix[] = "ms-azure-iot-edge://";

Status Invalid(std::string message) {
  return InvalidArgument(std::move(message), "ArgumentInvalid");
}
Status DeviceNotFound(std::string_view id) {
  return NotFound("device '" + std::string(id) + "' not found", "DeviceNotFound");
}

std::string EtagOf(uint64_t revision) { return Base64Encode(std::to_string(revision)); }

// 18 decimal digits, like IoT Hub's generation ids and edge scope suffixes.
std::string RandomDigits() {
  return std::to_string(100'000'000'000'000'000ull + RandomU64() % 900'000'000'000'000'000ull);
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

Status ValidateKey(std::string_view key, std::string_view which) {
  if (key.empty()) return Status::Ok();
  std::optional<std::string> bytes = Base64Decode(key);
  if (!bytes || bytes->size() < 16 || bytes->size() > 64) {
    return Invalid(std::string(which) + " must be base64 of 16 to 64 bytes");
  }
  return Status::Ok();
}

Status ValidateThumbprint(std::string_view t, std::string_view which) {
  if (t.empty() || ((t.size() == 40 || t.size() == 64) && IsHex(t))) return Status::Ok();
  return Invalid(std::string(which) + " must be 40 or 64 hex digits");
}

// Field checks common to Create and Replace; scopes are checked later against the cache.
Status ValidateIdentity(const Device& d) {
  HUB_RETURN_IF_ERROR(ValidateDeviceId(d.id));
  if (d.status_reason.size() > kMaxStatusReason) return Invalid("statusReason is too long");
  HUB_RETURN_IF_ERROR(ValidateKey(d.primary_key, "primaryKey"));
  HUB_RETURN_IF_ERROR(ValidateKey(d.secondary_key, "secondaryKey"));
  HUB_RETURN_IF_ERROR(ValidateThumbprint(d.primary_thumbprint, "primaryThumbprint"));
  HUB_RETURN_IF_ERROR(ValidateThumbprint(d.secondary_thumbprint, "secondaryThumbprint"));
  if (d.auth_type == DeviceAuthType::kSelfSigned && d.primary_thumbprint.empty()) {
    return Invalid("selfSigned authentication needs a primaryThumbprint");
  }
  return Status::Ok();
}

// The identity fields of `in`; everything the registry sets itself is left default.
Device IdentityOf(const Device& in) {
  Device d;
  d.id = in.id;
  d.status = in.status;
  d.status_reason = in.status_reason;
  d.auth_type = in.auth_type;
  d.primary_key = in.primary_key;
  d.secondary_key = in.secondary_key;
  d.primary_thumbprint = in.primary_thumbprint;
  d.secondary_thumbprint = in.secondary_thumbprint;
  d.capabilities = in.capabilities;
  d.device_scope = in.device_scope;
  d.parent_scopes = in.parent_scopes;
  return d;
}

void GenerateMissingKeys(Device* d) {
  if (d->auth_type != DeviceAuthType::kSas) return;
  if (d->primary_key.empty()) d->primary_key = auth::GenerateKey();
  if (d->secondary_key.empty()) d->secondary_key = auth::GenerateKey();
}

// A leaf device names its parent in both fields; fill whichever the caller left empty.
void CompleteLeafScopes(Device* d) {
  if (d->capabilities.iot_edge) return;
  if (d->device_scope.empty() && !d->parent_scopes.empty()) d->device_scope = d->parent_scopes[0];
  if (!d->device_scope.empty() && d->parent_scopes.empty()) d->parent_scopes = {d->device_scope};
}

void CopyRuntime(const Device& from, Device* to) {
  to->connection_state = from.connection_state;
  to->connection_state_updated_time = from.connection_state_updated_time;
  to->last_activity_time = from.last_activity_time;
}

std::string_view Unquote(std::string_view if_match) {
  if (if_match.size() >= 2 && if_match.front() == '"' && if_match.back() == '"') {
    if_match = if_match.substr(1, if_match.size() - 2);
  }
  return if_match;
}

bool IsUnconditional(std::string_view if_match) {
  if_match = Unquote(if_match);
  return if_match.empty() || if_match == "*";
}

bool EtagMatches(std::string_view if_match, uint64_t revision) {
  return IsUnconditional(if_match) || Unquote(if_match) == EtagOf(revision);
}

// Every record of `table`, page by page.
Result<std::vector<storage::TableEntry>> ScanAll(storage::Store& store, std::string_view table) {
  std::vector<storage::TableEntry> all;
  std::string after;
  while (true) {
    HUB_ASSIGN_OR_RETURN(std::vector<storage::TableEntry> page,
                         store.Scan(table, "", after, kScanPage));
    bool last = page.size() < kScanPage;
    if (!page.empty()) after = page.back().key;
    for (storage::TableEntry& e : page) all.push_back(std::move(e));
    if (last) return all;
  }
}

}  // namespace

Registry::Registry(storage::Store& store, const Clock& clock, C2dCountProvider c2d_count)
    : store_(store), clock_(clock), c2d_count_(std::move(c2d_count)) {}

Registry::~Registry() {
  std::unique_lock lock(mu_);
  activity_done_.wait(lock, [this] { return !activity_in_flight_; });
}

Status Registry::Open() {
  std::lock_guard write(write_mu_);
  HUB_ASSIGN_OR_RETURN(std::vector<storage::TableEntry> identities, ScanAll(store_, kDevicesTable));
  HUB_ASSIGN_OR_RETURN(std::vector<storage::TableEntry> activities,
                       ScanAll(store_, kDeviceActivityTable));
  std::map<std::string, Entry, std::less<>> loaded;
  for (storage::TableEntry& e : identities) {
    Result<Device> device = DecodeDeviceIdentity(e.value);
    if (!device) return Corruption("device record '" + e.key + "': " + device.error().message());
    if (device->id != e.key) return Corruption("device record '" + e.key + "' names another id");
    loaded.emplace(e.key, Entry{std::move(*device), e.revision});
  }
  storage::WriteBatch stale;
  for (const storage::TableEntry& e : activities) {
    Result<DeviceActivity> activity = DecodeDeviceActivity(e.value);
    if (!activity)
      return Corruption("activity record '" + e.key + "': " + activity.error().message());
    auto it = loaded.find(e.key);
    if (it == loaded.end() || it->second.device.generation_id != activity->generation_id) {
      stale.Delete(kDeviceActivityTable, e.key);  // left by a write racing a delete
      continue;
    }
    // Connections do not survive a restart; the time of the last known change stays.
    it->second.device.connection_state_updated_time = activity->connection_state_updated_time;
    it->second.device.last_activity_time = activity->last_activity_time;
  }
  {
    std::unique_lock lock(mu_);
    devices_.clear();
    edge_scopes_.clear();
    stats_ = {};
    dirty_.clear();
    for (auto& [id, entry] : loaded) CachePut(std::move(entry));
  }
  if (!stale.empty()) {
    Result<storage::CommitResult> r =
        store_.CommitAndWait(std::move(stale), storage::Durability::kAsync);
    if (!r)
      HUB_LOG_WARN("registry", "could not remove stale activity records: {}", r.error().ToString());
  }
  HUB_LOG_INFO("registry", "loaded {} devices", loaded.size());
  return Status::Ok();
}

Result<Device> Registry::Create(Device input) {
  HUB_RETURN_IF_ERROR(ValidateIdentity(input));
  std::lock_guard write(write_mu_);
  {
    std::shared_lock lock(mu_);
    if (devices_.contains(input.id)) {
      return AlreadyExists("device '" + input.id + "' already exists", "DeviceAlreadyExists");
    }
  }
  Device d = IdentityOf(input);
  d.generation_id = RandomDigits();
  d.status_updated_time = clock_.Now();
  GenerateMissingKeys(&d);
  if (d.capabilities.iot_edge) d.device_scope = kEdgeScopePrefix + d.id + "-" + RandomDigits();
  CompleteLeafScopes(&d);
  HUB_RETURN_IF_ERROR(CheckScopes(d));
  return CommitIdentity(std::move(d), /*expected_revision=*/0);
}

Result<Device> Registry::Get(std::string_view id) const {
  Device out;
  {
    std::shared_lock lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return DeviceNotFound(id);
    out = Output(it->second);
  }
  return WithC2dCount(std::move(out));
}

Result<DevicePage> Registry::List(std::string_view continuation, size_t limit) const {
  if (limit == 0) return Invalid("page size must be at least 1");
  DevicePage page;
  {
    std::shared_lock lock(mu_);
    auto it = continuation.empty() ? devices_.begin() : devices_.upper_bound(continuation);
    for (; it != devices_.end() && page.devices.size() < limit; ++it) {
      page.devices.push_back(Output(it->second));
    }
    if (it != devices_.end()) page.continuation = page.devices.back().id;
  }
  FillC2dCounts(page.devices);
  return page;
}

Result<Device> Registry::Replace(Device input, std::string_view if_match) {
  HUB_RETURN_IF_ERROR(ValidateIdentity(input));
  std::lock_guard write(write_mu_);
  // An unconditional write that lost to a writer we did not see (the cache is now refreshed)
  // simply tries again; a conditional one reports the conflict.
  for (int attempt = 1;; ++attempt) {
    Result<Device> r = ReplaceLocked(input, if_match);
    if (r || !IsUnconditional(if_match) || attempt == kMaxAttempts ||
        r.error().code() != StatusCode::kPreconditionFailed) {
      return r;
    }
  }
}

Result<Device> Registry::ReplaceLocked(const Device& input, std::string_view if_match) {
  Entry current;
  {
    std::shared_lock lock(mu_);
    auto it = devices_.find(input.id);
    if (it == devices_.end()) return DeviceNotFound(input.id);
    current = it->second;
  }
  if (!EtagMatches(if_match, current.revision)) {
    return PreconditionFailed("etag mismatch for device '" + input.id + "'", "PreconditionFailed");
  }
  const Device& old = current.device;
  Device d = IdentityOf(input);
  d.generation_id = old.generation_id;
  d.status_updated_time = d.status == old.status ? old.status_updated_time : clock_.Now();
  if (d.primary_key.empty()) d.primary_key = old.primary_key;
  if (d.secondary_key.empty()) d.secondary_key = old.secondary_key;
  GenerateMissingKeys(&d);
  if (d.capabilities.iot_edge && old.capabilities.iot_edge) {
    if (!d.device_scope.empty() && d.device_scope != old.device_scope) {
      return Invalid("an edge device's scope is its own and cannot be changed");
    }
    d.device_scope = old.device_scope;
  } else if (d.capabilities.iot_edge) {
    d.device_scope = kEdgeScopePrefix + d.id + "-" + RandomDigits();
  } else if (old.capabilities.iot_edge) {
    // No longer an edge device: its own scope is gone, so a copy of it sent back means "none".
    if (d.device_scope == old.device_scope) d.device_scope.clear();
    std::erase(d.parent_scopes, old.device_scope);
  }
  CompleteLeafScopes(&d);
  HUB_RETURN_IF_ERROR(CheckScopes(d));
  return CommitIdentity(std::move(d), current.revision);
}

Status Registry::Delete(std::string_view id, std::string_view if_match) {
  std::lock_guard write(write_mu_);
  for (int attempt = 1;; ++attempt) {
    Status s = DeleteLocked(id, if_match);
    if (s.ok() || !IsUnconditional(if_match) || attempt == kMaxAttempts ||
        s.code() != StatusCode::kPreconditionFailed) {
      return s;
    }
  }
}

Status Registry::DeleteLocked(std::string_view id, std::string_view if_match) {
  uint64_t revision = 0;
  {
    std::shared_lock lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return DeviceNotFound(id);
    revision = it->second.revision;
  }
  if (!EtagMatches(if_match, revision)) {
    return PreconditionFailed("etag mismatch for device '" + std::string(id) + "'",
                              "PreconditionFailed");
  }
  storage::WriteBatch batch;
  batch.DeleteIf(kDevicesTable, id, revision);
  batch.Delete(kDeviceActivityTable, id);
  Result<storage::CommitResult> r =
      store_.CommitAndWait(std::move(batch), storage::Durability::kSync);
  if (!r) {
    if (r.error().code() != StatusCode::kPreconditionFailed) return r.error();
    RefreshFromStore(std::string(id));
    return PreconditionFailed("device '" + std::string(id) + "' changed in the store",
                              "PreconditionFailed");
  }
  std::vector<DeleteListener> listeners;
  {
    std::unique_lock lock(mu_);
    CacheErase(std::string(id));
    dirty_.erase(std::string(id));
    listeners = delete_listeners_;
  }
  const std::string id_string(id);
  Revoke(id_string, "the device was deleted");
  for (const DeleteListener& listener : listeners) listener(id_string);
  return Status::Ok();
}

void Registry::AddDeleteListener(DeleteListener listener) {
  std::unique_lock lock(mu_);
  delete_listeners_.push_back(std::move(listener));
}

void Registry::AddRevocationListener(RevocationListener listener) {
  std::unique_lock lock(mu_);
  revocation_listeners_.push_back(std::move(listener));
}

void Registry::SetC2dCountProvider(C2dCountProvider provider) {
  std::unique_lock lock(mu_);
  c2d_count_ = std::move(provider);
}

RegistryStats Registry::Stats() const {
  std::shared_lock lock(mu_);
  return stats_;
}

std::optional<auth::DeviceCredentials> Registry::Credentials(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return std::nullopt;
  const Device& d = it->second.device;
  auth::DeviceCredentials c;
  if (d.auth_type == DeviceAuthType::kSas) {
    c.primary_key = d.primary_key;
    c.secondary_key = d.secondary_key;
  }
  c.enabled = d.status == DeviceStatus::kEnabled;
  c.version = it->second.credentials_version;
  return c;
}

std::optional<std::string> Registry::GenerationId(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return std::nullopt;
  return it->second.device.generation_id;
}

Result<Device> Registry::CommitIdentity(Device d, uint64_t expected_revision) {
  HUB_ASSIGN_OR_RETURN(std::string bytes, EncodeDeviceIdentity(d));
  storage::WriteBatch batch;
  batch.PutIf(kDevicesTable, d.id, bytes, expected_revision);
  Result<storage::CommitResult> r =
      store_.CommitAndWait(std::move(batch), storage::Durability::kSync);
  if (!r) {
    if (r.error().code() != StatusCode::kPreconditionFailed) return r.error();
    RefreshFromStore(d.id);
    if (expected_revision == 0) {
      return AlreadyExists("device '" + d.id + "' already exists", "DeviceAlreadyExists");
    }
    return PreconditionFailed("device '" + d.id + "' changed in the store", "PreconditionFailed");
  }
  Device out;
  std::string revoked;
  {
    std::unique_lock lock(mu_);
    auto it = devices_.find(d.id);
    if (it != devices_.end()) CopyRuntime(it->second.device, &d);
    Entry entry{std::move(d), r->revisions_or_ids.at(0)};
    out = Output(entry);
    revoked = CachePut(std::move(entry));
  }
  if (!revoked.empty()) Revoke(out.id, revoked);
  return WithC2dCount(std::move(out));
}

Status Registry::CheckScopes(const Device& d) const {
  std::shared_lock lock(mu_);
  auto check = [&](const std::string& scope) -> Status {
    auto it = edge_scopes_.find(scope);
    if (it == edge_scopes_.end()) {
      return Invalid("scope '" + scope + "' belongs to no edge device");
    }
    if (it->second == d.id) return Invalid("a device cannot be its own parent");
    return Status::Ok();
  };
  if (!d.capabilities.iot_edge && !d.device_scope.empty())
    HUB_RETURN_IF_ERROR(check(d.device_scope));
  for (const std::string& scope : d.parent_scopes) HUB_RETURN_IF_ERROR(check(scope));
  return Status::Ok();
}

void Registry::RefreshFromStore(const std::string& id) {
  Result<storage::TableEntry> stored = store_.Get(kDevicesTable, id);
  std::string revoked;
  {
    std::unique_lock lock(mu_);
    if (!stored) {
      if (stored.error().code() == StatusCode::kNotFound && devices_.contains(id)) {
        CacheErase(id);
        revoked = "the device was deleted";
      }
    } else if (Result<Device> device = DecodeDeviceIdentity(stored->value); !device) {
      HUB_LOG_ERROR("registry", "device record '{}': {}", id, device.error().ToString());
      return;
    } else {
      auto it = devices_.find(id);
      if (it != devices_.end()) CopyRuntime(it->second.device, &*device);
      revoked = CachePut(Entry{std::move(*device), stored->revision});
    }
  }
  if (!revoked.empty()) Revoke(id, revoked);
}

void Registry::Revoke(const std::string& id, std::string_view why) {
  std::vector<RevocationListener> listeners;
  {
    std::shared_lock lock(mu_);
    listeners = revocation_listeners_;
  }
  for (const RevocationListener& listener : listeners) listener(id, why);
}

void Registry::Count(const Device& d, int delta) {
  auto add = [delta](uint64_t& counter) { counter = delta > 0 ? counter + 1 : counter - 1; };
  add(stats_.total);
  add(d.status == DeviceStatus::kEnabled ? stats_.enabled : stats_.disabled);
  if (d.connection_state == ConnectionState::kConnected) add(stats_.connected);
}

std::string Registry::CachePut(Entry entry) {
  std::string revoked;
  auto old = devices_.find(entry.device.id);
  const Device& d = entry.device;
  if (old == devices_.end()) {
    entry.credentials_version = next_credentials_version_++;
  } else {
    const Device& o = old->second.device;
    bool recreated = o.generation_id != d.generation_id;  // deleted and created again
    bool new_credentials = recreated || o.auth_type != d.auth_type ||
                           o.primary_key != d.primary_key || o.secondary_key != d.secondary_key ||
                           o.primary_thumbprint != d.primary_thumbprint ||
                           o.secondary_thumbprint != d.secondary_thumbprint;
    entry.credentials_version =
        new_credentials ? next_credentials_version_++ : old->second.credentials_version;
    if (recreated) {
      revoked = "the device was deleted";
    } else if (new_credentials) {
      revoked = "the device's credentials changed";
    } else if (o.status == DeviceStatus::kEnabled && d.status != DeviceStatus::kEnabled) {
      revoked = "the device was disabled";
    }
  }
  CacheErase(entry.device.id);
  Count(entry.device, +1);
  if (entry.device.capabilities.iot_edge) {
    edge_scopes_[entry.device.device_scope] = entry.device.id;
  }
  std::string id = entry.device.id;
  devices_.emplace(std::move(id), std::move(entry));
  return revoked;
}

void Registry::CacheErase(const std::string& id) {
  auto it = devices_.find(id);
  if (it == devices_.end()) return;
  const Device& d = it->second.device;
  Count(d, -1);
  if (d.capabilities.iot_edge) edge_scopes_.erase(d.device_scope);
  devices_.erase(it);
}

Device Registry::Output(const Entry& entry) const {
  Device out = entry.device;
  out.etag = EtagOf(entry.revision);
  return out;
}

Registry::C2dCountProvider Registry::CountProvider() const {
  std::shared_lock lock(mu_);
  return c2d_count_;
}

Device Registry::WithC2dCount(Device d) const {
  C2dCountProvider provider = CountProvider();
  d.cloud_to_device_message_count = provider ? provider(d.id) : 0;
  return d;
}

void Registry::FillC2dCounts(std::vector<Device>& devices) const {
  C2dCountProvider provider = CountProvider();
  for (Device& d : devices) d.cloud_to_device_message_count = provider ? provider(d.id) : 0;
}

}  // namespace iothub::core
