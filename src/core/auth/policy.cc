#include "core/auth/policy.h"

#include "base/coding.h"
#include "base/log.h"
#include "core/auth/sas_token.h"

namespace iothub::core::auth {

namespace {
constexpr uint8_t kPolicyFormat = 1;
constexpr size_t kScanPage = 256;
}  // namespace

std::string EncodePolicy(const SharedAccessPolicy& policy) {
  std::string out;
  out += static_cast<char>(kPolicyFormat);
  PutLengthPrefixed(&out, policy.name);
  PutLengthPrefixed(&out, policy.primary_key);
  PutLengthPrefixed(&out, policy.secondary_key);
  PutVarint64(&out, policy.rights);
  return out;
}

Result<SharedAccessPolicy> DecodePolicy(std::string_view bytes) {
  Decoder in(bytes);
  uint8_t format = 0;
  SharedAccessPolicy policy;
  uint64_t rights = 0;
  if (!in.GetByte(&format) || format != kPolicyFormat || !in.GetLengthPrefixed(&policy.name) ||
      !in.GetLengthPrefixed(&policy.primary_key) || !in.GetLengthPrefixed(&policy.secondary_key) ||
      !in.GetVarint64(&rights) || !in.done() || rights > UINT32_MAX) {
    return Corruption("undecodable shared access policy record");
  }
  policy.rights = static_cast<uint32_t>(rights);
  return policy;
}

std::vector<SharedAccessPolicy> DefaultPolicies() {
  auto make = [](std::string name, uint32_t rights) {
    return SharedAccessPolicy{std::move(name), GenerateKey(), GenerateKey(), rights};
  };
  return {
      make("iothubowner", kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect),
      make("service", kServiceConnect),
      make("device", kDeviceConnect),
      make("registryRead", kRegistryRead),
      make("registryReadWrite", kRegistryRead | kRegistryWrite),
  };
}

Result<std::map<std::string, SharedAccessPolicy, std::less<>>> PolicyStore::LoadAll() {
  std::map<std::string, SharedAccessPolicy, std::less<>> loaded;
  std::string after;
  while (true) {
    HUB_ASSIGN_OR_RETURN(std::vector<storage::TableEntry> page,
                         store_.Scan(kPoliciesTable, "", after, kScanPage));
    for (storage::TableEntry& entry : page) {
      Result<SharedAccessPolicy> policy = DecodePolicy(entry.value);
      if (!policy) {
        return Corruption("policy '" + entry.key + "': " + policy.error().message());
      }
      if (policy->name != entry.key) {
        return Corruption("policy record '" + entry.key + "' names '" + policy->name + "'");
      }
      loaded.emplace(entry.key, std::move(*policy));
    }
    if (page.size() < kScanPage) break;
    after = page.back().key;
  }
  return loaded;
}

Status PolicyStore::LoadOrCreateDefaults() {
  HUB_ASSIGN_OR_RETURN(auto loaded, LoadAll());
  if (loaded.empty()) {
    storage::WriteBatch batch;
    for (const SharedAccessPolicy& policy : DefaultPolicies()) {
      batch.PutIf(kPoliciesTable, policy.name, EncodePolicy(policy), /*expected_revision=*/0);
    }
    Result<storage::CommitResult> committed =
        store_.CommitAndWait(std::move(batch), storage::Durability::kSync);
    // PreconditionFailed: someone else created them first; theirs win, so read them back.
    if (!committed && committed.error().code() != StatusCode::kPreconditionFailed) {
      return committed.error();
    }
    if (committed) HUB_LOG_INFO("auth", "created the default shared access policies");
    HUB_ASSIGN_OR_RETURN(loaded, LoadAll());
    if (loaded.empty()) return Internal("default policies vanished after creation");
  }
  std::lock_guard lock(mu_);
  policies_ = std::move(loaded);
  return Status::Ok();
}

std::optional<SharedAccessPolicy> PolicyStore::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = policies_.find(name);
  if (it == policies_.end()) return std::nullopt;
  return it->second;
}

std::vector<SharedAccessPolicy> PolicyStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<SharedAccessPolicy> out;
  out.reserve(policies_.size());
  for (const auto& [name, policy] : policies_) out.push_back(policy);
  return out;
}

}  // namespace iothub::core::auth
