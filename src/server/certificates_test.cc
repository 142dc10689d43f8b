#include "server/certificates.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "server/x509.h"
#include "tests/testing/temp_dir.h"

namespace iothub::server {
namespace {

using std::chrono::hours;
using ::testing::ElementsAre;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Parsed independently of src/server/x509.cc, with plain OpenSSL calls.
struct Loaded {
  X509* cert = nullptr;
  explicit Loaded(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (f != nullptr) {
      cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
  }
  ~Loaded() { X509_free(cert); }
};

std::vector<std::string> Sans(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                 ASN1_STRING_get0_data(gn->d.dNSName))));
    } else if (gn->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN];
      int len = ASN1_STRING_length(gn->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress), text,
                sizeof(text));
      out.push_back(std::string("IP:") + text);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// What a TLS client does: chain to the trusted CA for server use, then match the host name.
std::string Verify(X509* leaf, X509* ca, Timestamp at, const std::string& host) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(param, ToUnixMillis(at) / 1000);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  unsigned char ip[16];
  if (inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
  std::string result = X509_verify_cert(ctx) == 1
                           ? "ok"
                           : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return result;
}

class CertificatesTest : public ::testing::Test {
 protected:
  std::string tls() const { return dir_.str() + "/tls"; }
  std::string file(const char* name) const { return tls() + "/" + name; }

  ServerTlsFiles Ensure(std::string_view host, std::string_view bind = "127.0.0.1") {
    auto files = EnsureHubCertificates(tls(), host, bind, clock_);
    EXPECT_TRUE(files) << files.error().ToString();
    return files ? *files : ServerTlsFiles{};
  }

  testing::TempDir dir_;
  FakeClock clock_;
};

TEST_F(CertificatesTest, FirstCallCreatesPrivateFiles) {
  ServerTlsFiles files = Ensure("hub.example.com");
  EXPECT_TRUE(files.ca_created);
  EXPECT_TRUE(files.leaf_issued);
  EXPECT_EQ(files.ca_file, file("ca.pem"));
  EXPECT_EQ(files.chain_file, file("server.pem"));
  EXPECT_EQ(files.key_file, file("server.key"));
  EXPECT_EQ(ModeOf(tls()), 0700u);
  EXPECT_EQ(ModeOf(file("ca.key")), 0600u);
  EXPECT_EQ(ModeOf(file("server.key")), 0600u);
  EXPECT_EQ(ModeOf(file("ca.pem")), 0644u);
  // The chain file holds the leaf only: serving the root is not wanted (PROTOCOL.md).
  std::string chain = ReadFile(file("server.pem"));
  EXPECT_EQ(chain.find("BEGIN CERTIFICATE"), chain.rfind("BEGIN CERTIFICATE"));
}

TEST_F(CertificatesTest, CaIsACaAndTheLeafIsAServerCertificate) {
  Ensure("hub.example.com");
  Loaded ca(file("ca.pem")), leaf(file("server.pem"));
  ASSERT_TRUE(ca.cert && leaf.cert);
  EXPECT_GT(X509_check_ca(ca.cert), 0);
  EXPECT_TRUE(X509_get_key_usage(ca.cert) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_ca(leaf.cert), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.cert) & XKU_SSL_SERVER);
  EXPECT_TRUE(X509_get_key_usage(leaf.cert) & KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(X509_check_issued(ca.cert, leaf.cert), X509_V_OK);
  EXPECT_NE(X509_cmp(ca.cert, leaf.cert), 0);
  // Serials are random, not 0 or 1.
  EXPECT_GT(ASN1_STRING_length(X509_get0_serialNumber(leaf.cert)), 8);
}

TEST_F(CertificatesTest, LeafForAHostNameHasDnsSanAndLoopbacks) {
  Ensure("Hub.Example.com", "127.0.0.1");
  Loaded leaf(file("server.pem"));
  EXPECT_THAT(Sans(leaf.cert),
              ElementsAre("DNS:hub.example.com", "DNS:localhost", "IP:127.0.0.1", "IP:::1"));
}

TEST_F(CertificatesTest, LeafForAnAddressHasIpSan) {
  Ensure("127.0.0.23", "127.0.0.23");
  Loaded leaf(file("server.pem"));
  EXPECT_THAT(Sans(leaf.cert),
              ElementsAre("IP:127.0.0.23", "DNS:localhost", "IP:127.0.0.1", "IP:::1"));
}

TEST_F(CertificatesTest, SpecificBindAddressIsAddedButNotTheWildcard) {
  EXPECT_THAT(RequiredSubjectAltNames("hub", "10.1.2.3"),
              ElementsAre("DNS:hub", "DNS:localhost", "IP:127.0.0.1", "IP:::1", "IP:10.1.2.3"));
  EXPECT_THAT(RequiredSubjectAltNames("hub", "0.0.0.0"),
              ElementsAre("DNS:hub", "DNS:localhost", "IP:127.0.0.1", "IP:::1"));
  EXPECT_THAT(RequiredSubjectAltNames("0:0::1", "::"),
              ElementsAre("IP:::1", "DNS:localhost", "IP:127.0.0.1"));
}

TEST_F(CertificatesTest, LeafVerifiesAgainstTheCaForItsNames) {
  Ensure("hub.example.com");
  Loaded ca(file("ca.pem")), leaf(file("server.pem"));
  Timestamp now = clock_.Now();
  EXPECT_EQ(Verify(leaf.cert, ca.cert, now, "hub.example.com"), "ok");
  EXPECT_EQ(Verify(leaf.cert, ca.cert, now, "localhost"), "ok");
  EXPECT_EQ(Verify(leaf.cert, ca.cert, now, "127.0.0.1"), "ok");
  EXPECT_NE(Verify(leaf.cert, ca.cert, now, "other.example.com"), "ok");
  EXPECT_NE(Verify(leaf.cert, ca.cert, now + hours(24 * 800), "hub.example.com"), "ok");
  // The CA does not vouch for itself as a server.
  EXPECT_NE(Verify(ca.cert, ca.cert, now, "hub.example.com"), "ok");
}

TEST_F(CertificatesTest, SecondCallReusesEverything) {
  Ensure("hub.example.com");
  std::string ca = ReadFile(file("ca.pem")), ca_key = ReadFile(file("ca.key"));
  std::string leaf = ReadFile(file("server.pem")), key = ReadFile(file("server.key"));
  clock_.Advance(hours(24 * 100));
  ServerTlsFiles again = Ensure("hub.example.com");
  EXPECT_FALSE(again.ca_created);
  EXPECT_FALSE(again.leaf_issued);
  EXPECT_EQ(ReadFile(file("ca.pem")), ca);
  EXPECT_EQ(ReadFile(file("ca.key")), ca_key);
  EXPECT_EQ(ReadFile(file("server.pem")), leaf);
  EXPECT_EQ(ReadFile(file("server.key")), key);
}

TEST_F(CertificatesTest, HostNameChangeIssuesANewLeafFromTheSameCa) {
  Ensure("old.example.com");
  std::string ca = ReadFile(file("ca.pem")), leaf = ReadFile(file("server.pem"));
  ServerTlsFiles again = Ensure("new.example.com");
  EXPECT_FALSE(again.ca_created);
  EXPECT_TRUE(again.leaf_issued);
  EXPECT_EQ(ReadFile(file("ca.pem")), ca);
  EXPECT_NE(ReadFile(file("server.pem")), leaf);
  Loaded ca_cert(file("ca.pem")), leaf_cert(file("server.pem"));
  EXPECT_EQ(Verify(leaf_cert.cert, ca_cert.cert, clock_.Now(), "new.example.com"), "ok");
  EXPECT_NE(Verify(leaf_cert.cert, ca_cert.cert, clock_.Now(), "old.example.com"), "ok");
}

TEST_F(CertificatesTest, NewBindAddressIssuesANewLeaf) {
  Ensure("hub", "127.0.0.1");
  EXPECT_TRUE(Ensure("hub", "127.0.0.9").leaf_issued);
  EXPECT_FALSE(Ensure("hub", "127.0.0.9").leaf_issued);
}

TEST_F(CertificatesTest, LeafCloseToExpiryIsRenewed) {
  Ensure("hub");
  clock_.Advance(hours(24 * 695));  // 35 days before the 2-year leaf expires: still good
  EXPECT_FALSE(Ensure("hub").leaf_issued);
  clock_.Advance(hours(24 * 10));  // 25 days left
  ServerTlsFiles again = Ensure("hub");
  EXPECT_FALSE(again.ca_created);
  EXPECT_TRUE(again.leaf_issued);
  Loaded ca(file("ca.pem")), leaf(file("server.pem"));
  EXPECT_EQ(Verify(leaf.cert, ca.cert, clock_.Now() + hours(24 * 365), "hub"), "ok");
}

TEST_F(CertificatesTest, LeafNeverOutlivesTheCa) {
  Ensure("hub");
  clock_.Advance(hours(24 * 3600));  // the 10-year CA has 52 days left
  ASSERT_TRUE(Ensure("hub").leaf_issued);
  Loaded ca(file("ca.pem")), leaf(file("server.pem"));
  EXPECT_LE(ASN1_TIME_compare(X509_get0_notAfter(leaf.cert), X509_get0_notAfter(ca.cert)), 0);
}

TEST_F(CertificatesTest, LeafWithAForeignKeyIsReplaced) {
  Ensure("hub");
  std::string ca_key = ReadFile(file("ca.key"));
  std::ofstream(file("server.key"), std::ios::trunc) << ca_key;
  EXPECT_TRUE(Ensure("hub").leaf_issued);
  Loaded ca(file("ca.pem")), leaf(file("server.pem"));
  EXPECT_EQ(Verify(leaf.cert, ca.cert, clock_.Now(), "hub"), "ok");
}

TEST_F(CertificatesTest, ReadableKeysAreMadePrivateAgain) {
  Ensure("hub");
  ::chmod(file("server.key").c_str(), 0644);
  ::chmod(file("ca.key").c_str(), 0640);
  ::chmod(tls().c_str(), 0755);
  EXPECT_FALSE(Ensure("hub").leaf_issued);
  EXPECT_EQ(ModeOf(file("server.key")), 0600u);
  EXPECT_EQ(ModeOf(file("ca.key")), 0600u);
  EXPECT_EQ(ModeOf(tls()), 0700u);
}

TEST_F(CertificatesTest, MismatchedCaKeyIsAnError) {
  Ensure("hub");
  auto other = x509::GenerateEcKey();
  ASSERT_TRUE(other);
  std::ofstream(file("ca.key"), std::ios::trunc) << *x509::KeyToPem(other->get());
  auto files = EnsureHubCertificates(tls(), "hub", "127.0.0.1", clock_);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find(file("ca.key") + " does not match " + file("ca.pem")),
            std::string::npos)
      << files.error().message();
  EXPECT_NE(files.error().message().find("move " + tls() + " away"), std::string::npos);
}

TEST_F(CertificatesTest, CaWithoutItsKeyIsAnError) {
  Ensure("hub");
  std::remove(file("ca.key").c_str());
  auto files = EnsureHubCertificates(tls(), "hub", "127.0.0.1", clock_);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find(file("ca.key") + " is missing"), std::string::npos);
}

TEST_F(CertificatesTest, ExpiredCaIsAnError) {
  Ensure("hub");
  clock_.Advance(hours(24 * 3700));
  auto files = EnsureHubCertificates(tls(), "hub", "127.0.0.1", clock_);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find("expired"), std::string::npos);
}

TEST_F(CertificatesTest, CaKeyLeftAloneByACrashIsReplaced) {
  Ensure("hub");
  std::remove(file("ca.pem").c_str());
  ServerTlsFiles files = Ensure("hub");
  EXPECT_TRUE(files.ca_created);
  EXPECT_TRUE(files.leaf_issued);
}

TEST_F(CertificatesTest, NotADirectoryIsAnError) {
  std::ofstream(tls()) << "x";
  auto files = EnsureHubCertificates(tls(), "hub", "127.0.0.1", clock_);
  ASSERT_FALSE(files);
  EXPECT_EQ(files.error().message(), tls() + " exists but is not a directory");
}

TEST_F(CertificatesTest, ExternalCertificateIsCheckedForItsKey) {
  Ensure("hub");
  auto ok = UseExternalCertificate(file("server.pem"), file("server.key"), "hub", clock_);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->chain_file, file("server.pem"));
  EXPECT_EQ(ok->key_file, file("server.key"));
  EXPECT_EQ(ok->ca_file, "");

  auto mismatch = UseExternalCertificate(file("server.pem"), file("ca.key"), "hub", clock_);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().message(), "--tls-key " + file("ca.key") +
                                            " does not match the certificate in --tls-cert " +
                                            file("server.pem"));

  auto swapped = UseExternalCertificate(file("server.key"), file("server.pem"), "hub", clock_);
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message().find(file("server.key") + " holds no PEM certificate"),
            std::string::npos)
      << swapped.error().message();
}

}  // namespace
}  // namespace iothub::server
