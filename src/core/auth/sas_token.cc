#include "core/auth/sas_token.h"

#include <limits>
#include <optional>

#include "base/crypto.h"
#include "base/strings.h"

namespace iothub::core::auth {

namespace {

constexpr std::string_view kPrefix = "SharedAccessSignature";

// Canonical non-negative decimal: no sign, no leading zero (except "0"), fits in int64.
bool ParseCanonicalSeconds(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

Status Malformed(std::string_view why) {
  return Unauthenticated("malformed shared access signature: " + std::string(why),
                         "IotHubUnauthorizedAccess");
}

std::string Sign(std::string_view key_bytes, std::string_view sr_raw, int64_t expiry) {
  std::string to_sign(sr_raw);
  to_sign += '\n';
  to_sign += std::to_string(expiry);
  return Base64Encode(HmacSha256(key_bytes, to_sign));
}

}  // namespace

Result<SasToken> ParseSasToken(std::string_view text) {
  if (!StartsWithIgnoreCase(text, kPrefix))
    return Malformed("missing SharedAccessSignature prefix");
  std::string_view rest = text.substr(kPrefix.size());
  if (rest.empty() || rest.front() != ' ') return Malformed("missing space after the prefix");
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return Malformed("no fields");

  SasToken token;
  bool have_sr = false, have_sig = false, have_se = false, have_skn = false;
  for (std::string_view field : Split(rest, '&')) {
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return Malformed("field without '='");
    std::string_view key = field.substr(0, eq);
    std::string_view value = field.substr(eq + 1);
    bool* seen = nullptr;
    if (key == "sr") {
      seen = &have_sr;
    } else if (key == "sig") {
      seen = &have_sig;
    } else if (key == "se") {
      seen = &have_se;
    } else if (key == "skn") {
      seen = &have_skn;
    } else {
      continue;  // unknown fields are tolerated
    }
    if (*seen) return Malformed("duplicate field '" + std::string(key) + "'");
    *seen = true;
    // An empty skn means none: older SDKs (Java) send "skn=" with device-key tokens.
    if (value.empty() && key == "skn") continue;
    if (value.empty()) return Malformed("empty field '" + std::string(key) + "'");
    if (key == "sr") {
      token.sr_raw = std::string(value);
      if (!UrlDecode(value, &token.resource)) return Malformed("bad escape in sr");
    } else if (key == "sig") {
      if (!UrlDecode(value, &token.signature)) return Malformed("bad escape in sig");
    } else if (key == "se") {
      if (!ParseCanonicalSeconds(value, &token.expiry)) return Malformed("se is not unix seconds");
    } else {
      if (!UrlDecode(value, &token.key_name)) return Malformed("bad escape in skn");
    }
  }
  if (!have_sr) return Malformed("missing sr");
  if (!have_sig) return Malformed("missing sig");
  if (!have_se) return Malformed("missing se");
  return token;
}

std::string CreateSasToken(std::string_view resource_uri, std::string_view key_base64,
                           Timestamp expiry, std::string_view key_name) {
  std::string sr = UrlEncode(resource_uri);
  int64_t se = ToUnixMillis(expiry) / 1000;
  std::optional<std::string> key = Base64Decode(key_base64);
  std::string sig = Sign(key ? *key : std::string(key_base64), sr, se);
  std::string out =
      "SharedAccessSignature sr=" + sr + "&sig=" + UrlEncode(sig) + "&se=" + std::to_string(se);
  if (!key_name.empty()) out += "&skn=" + UrlEncode(key_name);
  return out;
}

bool VerifySasSignature(const SasToken& token, std::string_view key_base64) {
  std::optional<std::string> key = Base64Decode(key_base64);
  if (!key || key->empty()) return false;
  return ConstantTimeEquals(Sign(*key, token.sr_raw, token.expiry), token.signature);
}

std::string GenerateKey() { return Base64Encode(RandomBytes(32)); }

Result<ConnectionString> ParseConnectionString(std::string_view text) {
  ConnectionString cs;
  struct Field {
    std::string_view name;
    std::string* value;
    bool seen = false;
  };
  Field fields[] = {
      {"HostName", &cs.host_name},
      {"DeviceId", &cs.device_id},
      {"ModuleId", &cs.module_id},
      {"SharedAccessKeyName", &cs.shared_access_key_name},
      {"SharedAccessKey", &cs.shared_access_key},
      {"GatewayHostName", &cs.gateway_host_name},
  };
  for (std::string_view piece : Split(text, ';')) {
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("connection string piece without '=': '" + std::string(piece) + "'");
    }
    std::string_view key = piece.substr(0, eq);
    for (Field& f : fields) {
      if (!EqualsIgnoreCase(key, f.name)) continue;
      if (f.seen) return InvalidArgument("connection string repeats " + std::string(f.name));
      f.seen = true;
      *f.value = std::string(piece.substr(eq + 1));
    }
  }
  if (cs.host_name.empty()) return InvalidArgument("connection string has no HostName");
  if (!cs.shared_access_key.empty() && !Base64Decode(cs.shared_access_key)) {
    return InvalidArgument("connection string SharedAccessKey is not base64");
  }
  return cs;
}

std::string DeviceConnectionString(std::string_view host, std::string_view device_id,
                                   std::string_view key) {
  return "HostName=" + std::string(host) + ";DeviceId=" + std::string(device_id) +
         ";SharedAccessKey=" + std::string(key);
}

std::string ServiceConnectionString(std::string_view host, std::string_view policy_name,
                                    std::string_view key) {
  return "HostName=" + std::string(host) + ";SharedAccessKeyName=" + std::string(policy_name) +
         ";SharedAccessKey=" + std::string(key);
}

}  // namespace iothub::core::auth
