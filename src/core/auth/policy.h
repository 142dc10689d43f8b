#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "storage/store.h"

namespace iothub::core::auth {

// The rights a shared access policy grants (PROTOCOL.md). A bit set: a policy holds several.
enum Right : uint32_t {
  kRegistryRead = 1,
  kRegistryWrite = 2,
  kServiceConnect = 4,
  kDeviceConnect = 8,
};

struct SharedAccessPolicy {
  std::string name;
  std::string primary_key;    // base64
  std::string secondary_key;  // base64
  uint32_t rights = 0;        // Right bits

  friend bool operator==(const SharedAccessPolicy&, const SharedAccessPolicy&) = default;
};

// The table holding the policies, keyed by policy name.
inline constexpr std::string_view kPoliciesTable = "policies";

// Stored form of a policy (a version byte and length-prefixed fields); exposed for tests and tools.
std::string EncodePolicy(const SharedAccessPolicy& policy);
// Corruption on bytes EncodePolicy did not write.
Result<SharedAccessPolicy> DecodePolicy(std::string_view bytes);

// The hub's shared access policies, loaded once from the store and then served from memory.
//
// Names are case-sensitive ("iothubowner" and "IoTHubOwner" are different policies), as Azure
// IoT Hub treats them in practice, and as an exact store key lookup does.
//
// Thread-safe: every method may be called from any thread. Find and List never touch the store.
class PolicyStore {
 public:
  // `store` must outlive the PolicyStore.
  explicit PolicyStore(storage::Store& store) : store_(store) {}
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Loads every policy of table "policies". When the table is empty (first start of a data
  // directory) creates the five default policies of PROTOCOL.md with fresh random keys, durably
  // (Durability::kSync, create-if-absent, so two racing first starts agree on one set of keys).
  // Later calls and later starts reuse the stored policies and never regenerate keys; a table that
  // holds some policies is taken as the operator left it. Blocking: call at start-up, not on a
  // shard thread. On error the previously loaded policies (if any) stay in place.
  Status LoadOrCreateDefaults();

  // The policy named exactly `name`, or nullopt.
  std::optional<SharedAccessPolicy> Find(std::string_view name) const;
  // Every policy, ordered by name.
  std::vector<SharedAccessPolicy> List() const;

 private:
  Result<std::map<std::string, SharedAccessPolicy, std::less<>>> LoadAll();

  storage::Store& store_;
  mutable std::mutex mu_;
  std::map<std::string, SharedAccessPolicy, std::less<>> policies_;  // guarded by mu_
};

// The five policies a new hub starts with, with fresh random keys.
std::vector<SharedAccessPolicy> DefaultPolicies();

}  // namespace iothub::core::auth
