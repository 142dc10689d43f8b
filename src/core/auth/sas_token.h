#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace iothub::core::auth {

// A parsed "SharedAccessSignature sr=...&sig=...&se=...[&skn=...]" token (PROTOCOL.md, "Connection
// strings and SAS tokens"). Parsing checks the shape only; VerifySasSignature checks the signature
// and the Authenticator checks expiry, scope and rights.
struct SasToken {
  std::string sr_raw;    // sr exactly as in the token, still URL-encoded: what the signature covers
  std::string resource;  // sr URL-decoded once, e.g. "myhub.example.com/devices/d1"
  std::string signature;  // sig URL-decoded: the base64 HMAC-SHA256
  int64_t expiry = 0;     // se: unix seconds
  std::string key_name;   // skn URL-decoded; empty for device-key tokens
};

// Parses `text`. Accepts the fields in any order and ignores unknown fields (forward
// compatibility), but fails on a missing "SharedAccessSignature " prefix, a field without '=', a
// duplicated or empty sr/sig/se/skn, a broken %XX escape, or an se that is not a canonical
// non-negative decimal integer fitting in int64 (the signature covers se's text, so "0123" would
// sign differently from 123). Every failure is Unauthenticated: a token is a credential, and a
// malformed one is a failed login.
Result<SasToken> ParseSasToken(std::string_view text);

// Creates a token as the SDKs do: sr = UrlEncode(resource_uri) (RFC 3986 unreserved kept, like the
// Node SDK's encodeUriComponentStrict), se = expiry in whole unix seconds (truncated),
// sig = UrlEncode(base64(HMAC-SHA256(base64decode(key), sr + "\n" + se))), skn appended when
// `key_name` is non-empty. `resource_uri` is unencoded, e.g. "myhub.example.com/devices/d1".
// A key that is not valid base64 signs with its raw bytes (such a token will not verify).
std::string CreateSasToken(std::string_view resource_uri, std::string_view key_base64,
                           Timestamp expiry, std::string_view key_name = {});

// True when `token.signature` is the HMAC of `token.sr_raw` (verbatim, never re-encoded) and
// `token.expiry` under `key_base64`. Compares in constant time. False for a key that is not valid
// base64 or is empty. Checks nothing but the signature.
bool VerifySasSignature(const SasToken& token, std::string_view key_base64);

// 32 random bytes from the cryptographic RNG, base64: a fresh policy or device key.
std::string GenerateKey();

// A parsed IoT Hub connection string. Absent fields are empty.
struct ConnectionString {
  std::string host_name;               // HostName
  std::string device_id;               // DeviceId
  std::string module_id;               // ModuleId
  std::string shared_access_key_name;  // SharedAccessKeyName
  std::string shared_access_key;       // SharedAccessKey (base64, padding intact)
  std::string gateway_host_name;       // GatewayHostName
};

// Parses "Key=Value;Key=Value": splits on ';', then each piece at its first '=' (so base64 padding
// survives). Keys are matched case-insensitively; unknown keys are ignored (e.g. "x509=true");
// empty pieces (a trailing ';') are skipped. InvalidArgument on a piece without '=', a duplicated
// key, a missing or empty HostName, or a SharedAccessKey that is not valid base64.
Result<ConnectionString> ParseConnectionString(std::string_view text);

// "HostName=<host>;DeviceId=<device_id>;SharedAccessKey=<key>".
std::string DeviceConnectionString(std::string_view host, std::string_view device_id,
                                   std::string_view key);
// "HostName=<host>;SharedAccessKeyName=<policy_name>;SharedAccessKey=<key>".
std::string ServiceConnectionString(std::string_view host, std::string_view policy_name,
                                    std::string_view key);

}  // namespace iothub::core::auth
