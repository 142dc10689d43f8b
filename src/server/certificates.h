#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace iothub::server {

// What the TLS listeners serve, and what clients should trust.
struct ServerTlsFiles {
  std::string chain_file;   // PEM: the leaf, then any intermediates (never the root)
  std::string key_file;     // PEM private key of the leaf
  std::string ca_file;      // the hub's CA certificate for clients; empty for external certificates
  bool ca_created = false;  // this call made a new CA
  bool leaf_issued = false;  // this call issued a new server certificate
};

// The names the server certificate must carry for `hostname` (DNS: for a name, IP: for an
// address), always also DNS:localhost, IP:127.0.0.1 and IP:::1, plus IP:`bind_address` when that is
// a specific address (not 0.0.0.0 / ::). Without duplicates, the hostname first.
std::vector<std::string> RequiredSubjectAltNames(std::string_view hostname,
                                                 std::string_view bind_address);

// The hub's own certificates in `tls_dir` (created 0700):
//   ca.pem, ca.key (0600)          a self-signed CA (EC P-256, CA:TRUE, keyCertSign, 10 years)
//   server.pem, server.key (0600)  a leaf signed by it (CA:FALSE, serverAuth, 2 years) with the
//                                  RequiredSubjectAltNames; server.pem holds the leaf only
// First call: creates all four. Later calls reuse them. A new leaf (and key) is issued from the
// same CA, and logged with the reason, when the leaf is missing, does not match its key, does not
// chain to the CA, lacks one of the required names (e.g. the hostname changed) or expires within 30
// days. The CA is never replaced silently, since clients trust it: a CA whose files do not match,
// or that has expired, is an error telling the operator to move `tls_dir` away. (Only a ca.key
// without a ca.pem, left by a crash during the first start, is replaced.) Files are written
// atomically. Blocking file I/O: call at start-up.
Result<ServerTlsFiles> EnsureHubCertificates(const std::string& tls_dir, std::string_view hostname,
                                             std::string_view bind_address,
                                             const Clock& clock = SystemClock::Instance());

// Externally provided certificate chain and key (--tls-cert/--tls-key): checks that both parse and
// that the key belongs to the first certificate; InvalidArgument naming the file otherwise. Logs a
// warning (no error: the operator may know better) when the certificate does not cover `hostname`
// or has expired. No CA is generated; ca_file stays empty.
Result<ServerTlsFiles> UseExternalCertificate(const std::string& cert_file,
                                              const std::string& key_file,
                                              std::string_view hostname,
                                              const Clock& clock = SystemClock::Instance());

}  // namespace iothub::server
