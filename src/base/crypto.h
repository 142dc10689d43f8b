#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iothub {

// Standard base64 with padding (RFC 4648 section 4).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64; nullopt when the input is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);
// Raw 32-byte SHA-256.
std::string Sha256(std::string_view data);

// Compares in time independent of where the inputs differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Cryptographically random bytes (OpenSSL's RAND_bytes). Aborts if the RNG fails.
std::string RandomBytes(size_t n);
// A random RFC 4122 version-4 UUID, lowercase with dashes.
std::string NewUuid();
// A uniformly random 64-bit value from the cryptographic RNG.
uint64_t RandomU64();

}  // namespace iothub
