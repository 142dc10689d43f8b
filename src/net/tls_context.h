#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace iothub::net {

// The server side of TLS for every TLS listener (MQTT 8883, AMQP 5671, HTTPS 443): TLS 1.2 and
// newer only, the certificate chain and key the daemon prepared (src/server/certificates.h).
// Clients are not asked for certificates; SNI is neither required nor checked (PROTOCOL.md).
//
// Immutable after Create; share one among all listeners and shards (OpenSSL's SSL_CTX is safe to
// use from several threads once configured).
class TlsContext {
 public:
  // `cert_chain_file`: PEM, the leaf first, then any intermediates (not the root). `key_file`: PEM
  // private key of the leaf. Fails with InvalidArgument naming the file when one cannot be read or
  // parsed, or when the key does not belong to the certificate.
  static Result<std::shared_ptr<TlsContext>> CreateServer(const std::string& cert_chain_file,
                                                          const std::string& key_file);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // For front-ends building asio::ssl::stream objects (include <boost/asio/ssl.hpp> there).
  boost::asio::ssl::context& native();

 private:
  explicit TlsContext(std::unique_ptr<boost::asio::ssl::context> ctx);
  std::unique_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace iothub::net
