#include "tests/integration/byte_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace iothub::testing {

std::unique_ptr<ByteClient> ByteClient::Open(const std::string& address, uint16_t port,
                                             const std::string& ca_file,
                                             const std::string& tls_name, std::string* error) {
  std::signal(SIGPIPE, SIG_IGN);  // a write to a closed socket must fail, not kill the test
  std::unique_ptr<ByteClient> c(new ByteClient());
  c->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (c->fd_ < 0 || inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1 ||
      ::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error =
        "cannot connect to " + address + ":" + std::to_string(port) + ": " + std::strerror(errno);
    return nullptr;
  }
  int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (ca_file.empty()) return c;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(c->ctx_, ca_file.c_str(), nullptr) != 1) {
    *error = "cannot load CA " + ca_file;
    return nullptr;
  }
  c->ssl_ = SSL_new(c->ctx_);
  SSL_set_fd(c->ssl_, c->fd_);
  SSL_set_tlsext_host_name(c->ssl_, tls_name.c_str());
  X509_VERIFY_PARAM* param = SSL_get0_param(c->ssl_);
  if (inet_pton(AF_INET, tls_name.c_str(), &addr.sin_addr) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, tls_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, tls_name.c_str(), 0);
  }
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (SSL_connect(c->ssl_) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    *error = std::string("TLS handshake failed: ") + buf;
    return nullptr;
  }
  return c;
}

ByteClient::~ByteClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool ByteClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                            : static_cast<int>(::send(fd_, bytes.data(), bytes.size(), 0));
    if (n <= 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

bool ByteClient::Fill(std::chrono::steady_clock::time_point deadline) {
  if (closed_) return false;
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    // A TLS record may arrive in pieces: SSL_read blocks for the rest, at most until the limit.
    timeval tv{.tv_sec = left.count() / 1000 + 1, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  char buf[16384];
  int n;
  if (ssl_ != nullptr) {
    n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) {
      int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_READ) return std::chrono::steady_clock::now() < deadline;
      closed_ = true;
      return false;
    }
  } else {
    n = static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
      closed_ = true;  // end of stream, or reset by the peer
      return false;
    }
  }
  buffer_.append(buf, n);
  return true;
}

std::chrono::milliseconds TimeLeft(std::chrono::steady_clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now()));
}

}  // namespace iothub::testing
