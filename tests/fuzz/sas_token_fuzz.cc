// Fuzzes what parses credentials from the network: SAS tokens (MQTT passwords, Authorization
// headers, CBS put-token bodies) and connection strings: never a crash, and what parses can be
// re-signed into a token that parses and verifies.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/auth/sas_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace iothub::core::auth;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto token = ParseSasToken(in);
  if (token && token->expiry > 0 && token->expiry < 100'000'000'000) {
    // Re-signing what was parsed must give a token that parses and verifies with that key.
    constexpr std::string_view kKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    std::string signed_token = CreateSasToken(
        token->resource, kKey, iothub::FromUnixMillis(token->expiry * 1000), token->key_name);
    auto again = ParseSasToken(signed_token);
    if (!again || !VerifySasSignature(*again, kKey) || again->resource != token->resource) {
      std::abort();
    }
  }
  (void)ParseConnectionString(in);
  return 0;
}
