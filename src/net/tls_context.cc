#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <fstream>

namespace iothub::net {
namespace ssl = boost::asio::ssl;

namespace {

Status FileError(const std::string& what, const std::string& file,
                 const boost::system::error_code& ec) {
  std::string detail = ec.message();
  if (unsigned long err = ERR_get_error(); err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    detail = buf;
  }
  ERR_clear_error();
  return InvalidArgument("cannot use " + what + " " + file + ": " + detail);
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::CreateServer(const std::string& cert_chain_file,
                                                             const std::string& key_file) {
  for (const std::string* file : {&cert_chain_file, &key_file}) {
    if (!std::ifstream(*file).good()) return InvalidArgument("cannot read " + *file);
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (ec) return Internal("cannot set TLS options: " + ec.message());
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Internal("cannot require TLS 1.2");
  }
  ctx->use_certificate_chain_file(cert_chain_file, ec);
  if (ec) return FileError("certificate chain", cert_chain_file, ec);
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return FileError("private key", key_file, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return InvalidArgument("private key " + key_file + " does not match the certificate in " +
                           cert_chain_file);
  }
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx)));
}

TlsContext::TlsContext(std::unique_ptr<ssl::context> ctx) : ctx_(std::move(ctx)) {}
TlsContext::~TlsContext() = default;

ssl::context& TlsContext::native() { return *ctx_; }

}  // namespace iothub::net
