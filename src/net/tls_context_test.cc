#include "net/tls_context.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testing/temp_dir.h"

// The successful path (generated certificates, a real handshake over loopback) is tested in
// src/server/tls_handshake_test.cc, where the certificates are made.

namespace iothub::net {
namespace {

TEST(TlsContextTest, MissingFileIsNamed) {
  testing::TempDir dir;
  std::string missing = dir.str() + "/nope.pem";
  auto ctx = TlsContext::CreateServer(missing, missing);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx.error().message(), "cannot read " + missing);
}

TEST(TlsContextTest, GarbageCertificateIsRejected) {
  testing::TempDir dir;
  std::string cert = dir.str() + "/cert.pem";
  std::ofstream(cert)
      << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  auto ctx = TlsContext::CreateServer(cert, cert);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ctx.error().message().find("cannot use certificate chain " + cert), std::string::npos)
      << ctx.error().message();
}

}  // namespace
}  // namespace iothub::net
