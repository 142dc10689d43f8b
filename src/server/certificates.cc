#include "server/certificates.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "base/crypto.h"
#include "base/log.h"
#include "base/strings.h"
#include "server/files.h"
#include "server/host_names.h"
#include "server/x509.h"

namespace iothub::server {
namespace {

using std::chrono::hours;

constexpr mode_t kDirMode = 0700;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;
constexpr Duration kCaValidity = hours(24 * 3652);   // 10 years
constexpr Duration kLeafValidity = hours(24 * 730);  // 2 years: within every client's limit
constexpr Duration kRenewBefore = hours(24 * 30);
constexpr Duration kBackdate = hours(1);  // tolerate clients whose clocks run a little behind

struct Pair {
  x509::Cert cert;
  x509::Key key;
};

// "IP:::1" for "0:0::1": the form SubjectAltNames() reports.
std::string CanonicalIp(std::string_view address) {
  std::string s(address);
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) inet_ntop(AF_INET, buf, text, sizeof(text));
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) inet_ntop(AF_INET6, buf, text, sizeof(text));
  return text;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

Result<Pair> LoadPair(const std::string& cert_path, const std::string& key_path) {
  HUB_ASSIGN_OR_RETURN(std::string cert_pem, ReadWholeFile(cert_path));
  HUB_ASSIGN_OR_RETURN(std::string key_pem, ReadWholeFile(key_path));
  HUB_ASSIGN_OR_RETURN(x509::Cert cert, x509::CertFromPem(cert_pem, cert_path));
  HUB_ASSIGN_OR_RETURN(x509::Key key, x509::KeyFromPem(key_pem, key_path));
  return Pair{std::move(cert), std::move(key)};
}

// Writes key first, then certificate: a crash in between leaves a pair that does not match (or a
// key alone), which the next start detects and replaces.
Status WritePair(const Pair& pair, const std::string& cert_path, const std::string& key_path) {
  HUB_ASSIGN_OR_RETURN(std::string key_pem, x509::KeyToPem(pair.key.get()));
  HUB_ASSIGN_OR_RETURN(std::string cert_pem, x509::CertToPem(pair.cert.get()));
  HUB_RETURN_IF_ERROR(WriteFileAtomically(key_path, key_pem, kKeyMode));
  return WriteFileAtomically(cert_path, cert_pem, kCertMode);
}

// Keys readable by others are narrowed back to 0600 rather than served as they are.
void KeepKeyPrivate(const std::string& key_path) {
  struct stat st;
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    HUB_LOG_WARN("tls", "{} was readable by others; setting its mode to 0600", key_path);
    ::chmod(key_path.c_str(), kKeyMode);
  }
}

Result<Pair> CreateCa(const std::string& cert_path, const std::string& key_path, Timestamp now) {
  HUB_ASSIGN_OR_RETURN(x509::Key key, x509::GenerateEcKey());
  char suffix[20];
  std::snprintf(suffix, sizeof(suffix), "%08llx",
                static_cast<unsigned long long>(RandomU64() & 0xffffffffULL));
  x509::CertSpec spec{.common_name = std::string("iothub CA ") + suffix,
                      .is_ca = true,
                      .not_before = now - kBackdate,
                      .not_after = now + kCaValidity};
  HUB_ASSIGN_OR_RETURN(x509::Cert cert, x509::Issue(spec, key.get(), nullptr, nullptr));
  Pair ca{std::move(cert), std::move(key)};
  HUB_RETURN_IF_ERROR(WritePair(ca, cert_path, key_path));
  HUB_LOG_INFO("tls", "created a new CA {}", cert_path);
  return ca;
}

Result<Pair> LoadOrCreateCa(const std::string& dir, Timestamp now, bool* created) {
  std::string cert_path = dir + "/ca.pem", key_path = dir + "/ca.key";
  bool have_cert = Exists(cert_path), have_key = Exists(key_path);
  if (!have_cert) {
    if (have_key) HUB_LOG_WARN("tls", "{} without {}: replacing it", key_path, cert_path);
    *created = true;
    return CreateCa(cert_path, key_path, now);
  }
  std::string move_away = "; move " + dir +
                          " away to start with a new CA (clients must then trust "
                          "the new ca.pem)";
  if (!have_key)
    return InvalidArgument(cert_path + " exists but " + key_path + " is missing" + move_away);
  KeepKeyPrivate(key_path);
  HUB_ASSIGN_OR_RETURN(Pair ca, LoadPair(cert_path, key_path));
  if (!x509::KeyMatches(ca.cert.get(), ca.key.get())) {
    return InvalidArgument(key_path + " does not match " + cert_path + move_away);
  }
  if (x509::NotAfter(ca.cert.get()) <= now) {
    return InvalidArgument(cert_path + " expired on " +
                           FormatIso8601(x509::NotAfter(ca.cert.get())) + move_away);
  }
  *created = false;
  return ca;
}

// Why the existing leaf cannot be served any more; empty when it can.
std::string LeafProblem(const Pair& leaf, const Pair& ca, const std::vector<std::string>& sans,
                        Timestamp now) {
  if (!x509::KeyMatches(leaf.cert.get(), leaf.key.get()))
    return "server.key does not match server.pem";
  Status chain = x509::VerifyServerCert(leaf.cert.get(), ca.cert.get(), now);
  if (!chain.ok()) return "server.pem does not verify against ca.pem: " + chain.message();
  for (const std::string& san : sans) {
    std::string_view host = std::string_view(san).substr(san.find(':') + 1);
    if (!x509::CoversHost(leaf.cert.get(), host)) return "server.pem lacks " + san;
  }
  Timestamp not_after = x509::NotAfter(leaf.cert.get());
  if (not_after - now < kRenewBefore) return "server.pem expires on " + FormatIso8601(not_after);
  return {};
}

}  // namespace

std::vector<std::string> RequiredSubjectAltNames(std::string_view hostname,
                                                 std::string_view bind_address) {
  std::vector<std::string> sans;
  auto add = [&](std::string san) {
    if (std::find(sans.begin(), sans.end(), san) == sans.end()) sans.push_back(std::move(san));
  };
  if (IsIpAddress(hostname)) {
    add("IP:" + CanonicalIp(hostname));
  } else {
    add("DNS:" + ToLower(hostname));
  }
  add("DNS:localhost");
  add("IP:127.0.0.1");
  add("IP:::1");
  if (IsIpAddress(bind_address) && !IsUnspecifiedAddress(bind_address)) {
    add("IP:" + CanonicalIp(bind_address));
  }
  return sans;
}

Result<ServerTlsFiles> EnsureHubCertificates(const std::string& tls_dir, std::string_view hostname,
                                             std::string_view bind_address, const Clock& clock) {
  Timestamp now = clock.Now();
  HUB_RETURN_IF_ERROR(EnsurePrivateDirectory(tls_dir, kDirMode));
  ServerTlsFiles files{.chain_file = tls_dir + "/server.pem",
                       .key_file = tls_dir + "/server.key",
                       .ca_file = tls_dir + "/ca.pem"};
  HUB_ASSIGN_OR_RETURN(Pair ca, LoadOrCreateCa(tls_dir, now, &files.ca_created));

  std::vector<std::string> sans = RequiredSubjectAltNames(hostname, bind_address);
  std::string problem;
  if (files.ca_created) {
    problem = "a new CA was created";
  } else if (!Exists(files.chain_file) || !Exists(files.key_file)) {
    problem = "there is no server certificate yet";
  } else {
    KeepKeyPrivate(files.key_file);
    Result<Pair> leaf = LoadPair(files.chain_file, files.key_file);
    problem = leaf ? LeafProblem(*leaf, ca, sans, now) : leaf.error().message();
  }
  if (problem.empty()) return files;

  HUB_ASSIGN_OR_RETURN(x509::Key key, x509::GenerateEcKey());
  x509::CertSpec spec{.common_name = std::string(hostname),
                      .is_ca = false,
                      .subject_alt_names = sans,
                      .not_before = now - kBackdate,
                      .not_after = std::min(now + kLeafValidity, x509::NotAfter(ca.cert.get()))};
  HUB_ASSIGN_OR_RETURN(x509::Cert cert, x509::Issue(spec, key.get(), ca.cert.get(), ca.key.get()));
  HUB_RETURN_IF_ERROR(
      WritePair(Pair{std::move(cert), std::move(key)}, files.chain_file, files.key_file));
  files.leaf_issued = true;
  std::string names;
  for (const auto& san : sans) names += (names.empty() ? "" : ",") + san;
  HUB_LOG_INFO("tls", "issued a new server certificate {} for {} ({})", files.chain_file, names,
               problem);
  return files;
}

Result<ServerTlsFiles> UseExternalCertificate(const std::string& cert_file,
                                              const std::string& key_file,
                                              std::string_view hostname, const Clock& clock) {
  HUB_ASSIGN_OR_RETURN(Pair pair, LoadPair(cert_file, key_file));
  if (!x509::KeyMatches(pair.cert.get(), pair.key.get())) {
    return InvalidArgument("--tls-key " + key_file +
                           " does not match the certificate in --tls-cert " + cert_file);
  }
  if (!x509::CoversHost(pair.cert.get(), hostname)) {
    HUB_LOG_WARN("tls", "{} does not name the hub's host name {}: clients verifying it will fail",
                 cert_file, hostname);
  }
  if (x509::NotAfter(pair.cert.get()) <= clock.Now()) {
    HUB_LOG_WARN("tls", "{} has expired", cert_file);
  }
  return ServerTlsFiles{.chain_file = cert_file, .key_file = key_file};
}

}  // namespace iothub::server
