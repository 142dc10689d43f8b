#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

// Small OpenSSL 3 helpers for the daemon's certificates: EC keys, X.509 v3 certificates, PEM,
// subject alternative names, chain verification. Every failure is a Status naming what failed, with
// OpenSSL's error text; nothing throws. Stateless and thread-safe.
namespace iothub::server::x509 {

struct KeyFree {
  void operator()(EVP_PKEY* key) const;
};
struct CertFree {
  void operator()(X509* cert) const;
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

// A fresh EC P-256 key.
Result<Key> GenerateEcKey();

struct CertSpec {
  std::string common_name;
  bool is_ca = false;  // CA: CA:TRUE, keyCertSign/cRLSign; leaf: CA:FALSE, serverAuth
  std::vector<std::string> subject_alt_names;  // "DNS:name" / "IP:address" (leaf only)
  Timestamp not_before;
  Timestamp not_after;
};

// Builds and signs a v3 certificate for `subject_key` with a random 127-bit serial. `issuer` and
// `issuer_key` sign it; both null makes it self-signed with `subject_key`.
Result<Cert> Issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key);

// PEM text (unencrypted PKCS#8 for keys).
Result<std::string> KeyToPem(EVP_PKEY* key);
Result<std::string> CertToPem(X509* cert);
// The first key / certificate in `pem`. InvalidArgument naming `source` when there is none.
Result<Key> KeyFromPem(std::string_view pem, std::string_view source);
Result<Cert> CertFromPem(std::string_view pem, std::string_view source);

// True when `key` is the private half of `cert`'s public key.
bool KeyMatches(X509* cert, EVP_PKEY* key);

// The certificate's SANs as "DNS:name" / "IP:address" (IPv6 in inet_ntop form).
std::vector<std::string> SubjectAltNames(X509* cert);

// True when a TLS client verifying `host` (a DNS name or an IP literal) would accept `cert`'s
// names.
bool CoversHost(X509* cert, std::string_view host);

Timestamp NotAfter(X509* cert);

// Ok when `leaf` chains to the trusted root `ca` for TLS server use at time `at`; else
// InvalidArgument with OpenSSL's reason ("certificate has expired", ...).
Status VerifyServerCert(X509* leaf, X509* ca, Timestamp at);

}  // namespace iothub::server::x509
