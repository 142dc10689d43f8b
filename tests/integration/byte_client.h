#pragma once

// The byte pipe under the integration tests' hand-written protocol clients (mqtt_wire, amqp_wire):
// a blocking TCP connection to the hub, optionally TLS on top (OpenSSL, verifying the hub's CA
// and name), that writes whatever it is given and buffers what arrives. Framing and parsing are
// the protocol client's: it reads buffer() and erases what it consumed. Everything runs on the
// test's thread.

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace iothub::testing {

class ByteClient {
 public:
  // TCP to address:port (TCP_NODELAY); with `ca_file` non-empty, TLS on top (SNI and name check:
  // `tls_name`, an IP address or a host name). nullptr and `*error` when it cannot connect or the
  // handshake fails. Ignores SIGPIPE for the process, so that writing to a closed socket fails.
  static std::unique_ptr<ByteClient> Open(const std::string& address, uint16_t port,
                                          const std::string& ca_file, const std::string& tls_name,
                                          std::string* error);
  ~ByteClient();
  ByteClient(const ByteClient&) = delete;
  ByteClient& operator=(const ByteClient&) = delete;

  // Writes all of `bytes`; false when the peer is gone (write failed).
  bool Send(std::string_view bytes);

  // Appends what arrives before `deadline` to buffer(). False when nothing came: on timeout, or
  // once the peer closed (closed() then says so); the caller checks both and calls again
  // otherwise. True when it read (over TLS possibly nothing yet: part of a record).
  bool Fill(std::chrono::steady_clock::time_point deadline);

  // What arrived and the protocol client has not consumed yet.
  std::string& buffer() { return buffer_; }
  // True once the peer closed (or reset) the connection.
  bool closed() const { return closed_; }

 private:
  ByteClient() = default;

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
  bool closed_ = false;
};

// What is left until `deadline`, never negative: the limit of the next read of a multi-read wait.
std::chrono::milliseconds TimeLeft(std::chrono::steady_clock::time_point deadline);

}  // namespace iothub::testing
