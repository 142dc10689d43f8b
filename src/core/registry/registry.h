#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "core/auth/authenticator.h"
#include "core/registry/device.h"
#include "storage/store.h"

namespace iothub::core {

// Tables the registry owns: identities (written by control-plane calls, with compare-and-set) and
// runtime state (connection state, last activity; written often, without compare-and-set).
inline constexpr std::string_view kDevicesTable = "devices";
inline constexpr std::string_view kDeviceActivityTable = "device_activity";

struct DevicePage {
  std::vector<Device> devices;
  std::string continuation;  // pass to the next List call; empty when this page is the last
};

struct RegistryStats {
  uint64_t total = 0;
  uint64_t enabled = 0;
  uint64_t disabled = 0;
  uint64_t connected = 0;
};

// The device registry: identities with etags, status, keys, IoT Edge scopes, and runtime state.
//
// Every device lives in an in-memory cache loaded by Open(), so reads (Get, List, Credentials,
// Stats) are map lookups. Control-plane writes (Create, Replace, Delete) block until committed with
// Durability::kSync, one at a time, and use the identity record's store revision for
// compare-and-set, so two writers (threads here, or hub nodes sharing a store later) cannot both
// win. The etag is derived from that revision (base64 of its decimal digits): it changes on every
// identity write and never repeats, and runtime updates (SetConnectionState, TouchActivity), which
// go to a separate table, leave it alone.
//
// Thread-safe: any method may be called from any thread. Create/Replace/Delete/Open/FlushActivity
// block on the store: never call them on a shard thread. The other methods do not block on the
// store.
class Registry {
 public:
  using C2dCountProvider = std::function<uint64_t(std::string_view device_id)>;
  using DeleteListener = std::function<void(const std::string& device_id)>;
  // `why`: "the device was deleted", "the device was disabled", "the device's credentials
  // changed".
  using RevocationListener =
      std::function<void(const std::string& device_id, std::string_view why)>;

  // `store` and `clock` must outlive the Registry. `c2d_count` (optional) yields a device's
  // cloudToDeviceMessageCount when Get/List/Create/Replace return it; it is called without
  // registry locks held.
  Registry(storage::Store& store, const Clock& clock, C2dCountProvider c2d_count = nullptr);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  // Waits for an in-flight runtime-state commit (its callback refers to the registry).
  ~Registry();

  // Loads every device and its runtime record. Connection states start Disconnected (no connection
  // survives a restart). Runtime records of a deleted or re-created device are ignored and removed.
  // Corruption when a record cannot be decoded. Call once, before anything else.
  Status Open();

  // Creates `device` (its id, status, status_reason, auth type, keys, thumbprints, capabilities,
  // scopes; other fields are ignored). Generates the generation id, etag, status_updated_time and,
  // for sas authentication, each empty key (32 random bytes, base64). An edge device gets scope
  // "ms-azure-iot-edge://<id>-<n>". Errors: InvalidArgument ("ArgumentInvalid": bad id, key,
  // thumbprint or scope, where every scope must belong to an existing edge device),
  // AlreadyExists ("DeviceAlreadyExists"), or the store's error.
  Result<Device> Create(Device device);

  // NotFound ("DeviceNotFound") when absent.
  Result<Device> Get(std::string_view id) const;

  // Devices in id order (bytewise), starting after `continuation` (from the start when empty), at
  // most `limit` (InvalidArgument when 0).
  Result<DevicePage> List(std::string_view continuation, size_t limit) const;

  // Replaces the identity fields of device `device.id` as Create takes them, keeping its
  // generation id, runtime state and, when empty in `device`, its keys (generated if still empty
  // and sas). `if_match`: "" = unconditional, "*" = must exist, else the current etag (surrounding
  // double quotes are ignored). status_updated_time moves when the status changes. An edge device
  // keeps its own scope (a different one is InvalidArgument); a device becoming an edge device gets
  // one. Errors: NotFound ("DeviceNotFound"), PreconditionFailed ("PreconditionFailed": etag
  // mismatch, or a conditional write found the record changed in the store by a writer outside
  // this registry; unconditional ones retry), InvalidArgument, the store's error.
  Result<Device> Replace(Device device, std::string_view if_match);

  // Deletes the device and its runtime record (if_match as for Replace), then, once that is
  // durable, calls every delete listener with the id. NotFound, PreconditionFailed, store errors.
  // Deleting an edge device does not cascade: leaf devices keep the scope that named it.
  Status Delete(std::string_view id, std::string_view if_match);

  // Runtime updates from the front-ends. Unknown ids are ignored. The cache changes at once; the
  // store is written with Durability::kAsync, at most one commit in flight, updates arriving
  // meanwhile coalesced into the next commit, which the next update (or FlushActivity) issues.
  void SetConnectionState(std::string_view id, bool connected);
  void TouchActivity(std::string_view id);  // last_activity_time = now
  // Writes every pending runtime update and waits for it. For shutdown and tests.
  Status FlushActivity();

  RegistryStats Stats() const;

  // For the Authenticator: the device's keys (empty unless its auth type is sas), whether it is
  // enabled, and its credentials version; nullopt when unknown.
  std::optional<auth::DeviceCredentials> Credentials(std::string_view id) const;

  // The device's generationId, or nullopt when unknown. A map lookup: the C2D queues ask it on
  // every send (existence check and the feedback records' deviceGenerationId).
  std::optional<std::string> GenerationId(std::string_view id) const;

  // `listener` runs on the thread that called Delete, after the delete is durable and before any
  // other Create/Replace/Delete can run (so a re-created device never sees its predecessor's
  // listener effects). It may call the registry's readers but not Create/Replace/Delete.
  void AddDeleteListener(DeleteListener listener);
  // `listener` runs whenever what a device's open connections were authenticated with stops
  // being valid: the device is deleted (before the delete listeners), disabled, or its
  // credentials change (auth type, keys, thumbprints; a new credentials version). Same thread and
  // rules as the delete listeners; also after a reload found a record changed by another writer.
  void AddRevocationListener(RevocationListener listener);
  void SetC2dCountProvider(C2dCountProvider provider);

 private:
  struct Entry {
    Device device;          // etag and cloud_to_device_message_count are filled on the way out
    uint64_t revision = 0;  // of the identity record
    // Changes whenever the credentials change and on every create (never repeats in a process):
    // a principal authenticated under another version is no longer valid.
    uint64_t credentials_version = 0;
  };

  // One attempt of Replace / Delete. Caller holds write_mu_.
  Result<Device> ReplaceLocked(const Device& input, std::string_view if_match);
  Status DeleteLocked(std::string_view id, std::string_view if_match);
  // The write half shared by Create and Replace: validates scopes, commits with PutIf and updates
  // the cache. Caller holds write_mu_.
  Result<Device> CommitIdentity(Device device, uint64_t expected_revision);
  // Scope checks against the edge devices in the cache. Caller holds write_mu_.
  Status CheckScopes(const Device& device) const;
  // Re-reads one identity from the store after a failed compare-and-set. Caller holds write_mu_.
  void RefreshFromStore(const std::string& id);
  // Calls the revocation listeners (no lock of mu_ held).
  void Revoke(const std::string& id, std::string_view why);
  // Cache mutations keeping stats_ and edge_scopes_ in step. Caller holds mu_ exclusively.
  // CachePut assigns the credentials version and returns why the previous entry's connections
  // must end ("" when they may go on).
  std::string CachePut(Entry entry);
  void CacheErase(const std::string& id);
  void Count(const Device& device, int delta);
  // The batch of every dirty runtime record, when there is one and none is in flight; marks it
  // in flight. Caller holds mu_ exclusively.
  std::optional<storage::WriteBatch> TakeActivityBatch(std::vector<std::string>* ids);
  // Commits a batch from TakeActivityBatch. Caller holds no lock.
  void CommitActivity(storage::WriteBatch batch, std::vector<std::string> ids);
  Device Output(const Entry& entry) const;  // caller holds mu_ (any mode)
  // cloud_to_device_message_count from the provider. Caller holds no lock.
  void FillC2dCounts(std::vector<Device>& devices) const;
  Device WithC2dCount(Device device) const;
  C2dCountProvider CountProvider() const;

  storage::Store& store_;
  const Clock& clock_;

  std::mutex write_mu_;  // serializes control-plane writes, held across their commits

  mutable std::shared_mutex mu_;  // guards everything below; never held across a store call
  std::map<std::string, Entry, std::less<>> devices_;
  std::map<std::string, std::string, std::less<>> edge_scopes_;  // scope -> edge device id
  RegistryStats stats_;
  std::set<std::string, std::less<>> dirty_;  // ids with runtime state not yet committed
  bool activity_in_flight_ = false;
  std::condition_variable_any activity_done_;  // signalled when activity_in_flight_ turns false
  std::vector<DeleteListener> delete_listeners_;
  std::vector<RevocationListener> revocation_listeners_;
  uint64_t next_credentials_version_ = 1;
  C2dCountProvider c2d_count_;
};

}  // namespace iothub::core
