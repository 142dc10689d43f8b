// The daemon's generated certificates served by net::TlsContext, checked with a real TLS handshake
// over loopback, as the SDKs' clients will do it (PROTOCOL.md, "Ports and host names").

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl.hpp>
#include <memory>

#include "net/asio_access.h"
#include "net/listener.h"
#include "net/tls_context.h"
#include "server/certificates.h"
#include "tests/testing/temp_dir.h"

namespace iothub::server {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

struct ClientResult {
  boost::system::error_code error;
  long verify_result = X509_V_OK;
  int peer_chain_length = 0;
};

class TlsHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto files = EnsureHubCertificates(dir_.str() + "/tls", "hub.example.com", "127.0.0.1");
    ASSERT_TRUE(files) << files.error().ToString();
    files_ = *files;
    auto ctx = net::TlsContext::CreateServer(files_.chain_file, files_.key_file);
    ASSERT_TRUE(ctx) << ctx.error().ToString();
    server_ctx_ = *ctx;
    // Each connection: a server-side handshake on its shard, kept alive by its own handler.
    auto listener = net::Listener::Bind(pool_, {.name = "tls", .address = "127.0.0.1", .port = 0},
                                        [ctx = server_ctx_](net::TcpConnection c) {
                                          auto stream = std::make_shared<ssl::stream<tcp::socket>>(
                                              std::move(net::AsioSocket(c)), ctx->native());
                                          stream->async_handshake(
                                              ssl::stream_base::server,
                                              [stream](const boost::system::error_code&) {});
                                        });
    ASSERT_TRUE(listener) << listener.error().ToString();
    listener_ = std::move(*listener);
  }

  // Connects to the listener and runs a client handshake. `host`: what the client verifies (and
  // sends as SNI when it is a name); `trust_ca`: whether it trusts the hub's CA.
  ClientResult Connect(const std::string& host, bool trust_ca, int max_version = 0) {
    ssl::context client_ctx(ssl::context::tls_client);
    if (trust_ca) client_ctx.load_verify_file(files_.ca_file);
    client_ctx.set_verify_mode(ssl::verify_peer);
    if (max_version != 0) {
      SSL_CTX_set_security_level(client_ctx.native_handle(), 0);
      SSL_CTX_set_min_proto_version(client_ctx.native_handle(), 0);
      SSL_CTX_set_max_proto_version(client_ctx.native_handle(), max_version);
    }
    asio::io_context io;
    ssl::stream<tcp::socket> stream(io, client_ctx);
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    unsigned char ip[16];
    if (inet_pton(AF_INET, host.c_str(), ip) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
      SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    }
    ClientResult result;
    stream.lowest_layer().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), listener_->port()), result.error);
    if (result.error) return result;
    stream.handshake(ssl::stream_base::client, result.error);
    result.verify_result = SSL_get_verify_result(stream.native_handle());
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle());
    result.peer_chain_length = chain != nullptr ? sk_X509_num(chain) : 0;
    return result;
  }

  testing::TempDir dir_;
  net::ShardPool pool_{2};
  ServerTlsFiles files_;
  std::shared_ptr<net::TlsContext> server_ctx_;
  std::unique_ptr<net::Listener> listener_;
};

TEST_F(TlsHandshakeTest, ClientTrustingTheCaConnectsByHostName) {
  ClientResult r = Connect("hub.example.com", /*trust_ca=*/true);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.verify_result, X509_V_OK);
  EXPECT_EQ(r.peer_chain_length, 1);  // the leaf only; the client holds the root
}

TEST_F(TlsHandshakeTest, ClientTrustingTheCaConnectsByLoopbackAddressWithoutSni) {
  ClientResult r = Connect("127.0.0.1", /*trust_ca=*/true);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.verify_result, X509_V_OK);
  EXPECT_FALSE(Connect("localhost", true).error);
}

TEST_F(TlsHandshakeTest, ClientNotTrustingTheCaFailsToVerify) {
  ClientResult r = Connect("hub.example.com", /*trust_ca=*/false);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsHandshakeTest, ClientExpectingAnotherHostFails) {
  ClientResult r = Connect("other.example.com", /*trust_ca=*/true);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(TlsHandshakeTest, TlsOlderThan12IsRefused) {
  EXPECT_TRUE(Connect("hub.example.com", true, TLS1_1_VERSION).error);
  EXPECT_FALSE(Connect("hub.example.com", true, TLS1_2_VERSION).error);
}

}  // namespace
}  // namespace iothub::server
