#include "tests/integration/mqtt_wire.h"

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

namespace iothub::testing::mqtt_wire {
namespace {

std::string U16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

std::string Str(std::string_view s) {
  return U16(static_cast<uint16_t>(s.size())) + std::string(s);
}

std::string Packet(uint8_t first, const std::string& body) {
  return std::string(1, static_cast<char>(first)) + EncodeRemainingLength(body.size()) + body;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string EncodeRemainingLength(size_t length) {
  std::string out;
  do {
    uint8_t byte = length % 128;
    length /= 128;
    if (length > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (length > 0);
  return out;
}

std::string ConnectPacket(const ConnectOptions& o) {
  uint8_t flags = 0;
  if (o.clean_session) flags |= 0x02;
  if (o.password) flags |= 0x40;
  if (o.user_name) flags |= 0x80;
  std::string body = Str("MQTT") + static_cast<char>(o.protocol_level) + static_cast<char>(flags) +
                     U16(o.keep_alive) + Str(o.client_id);
  if (o.user_name) body += Str(*o.user_name);
  if (o.password) body += Str(*o.password);
  return Packet(kConnect << 4, body);
}

std::string PublishPacket(std::string_view topic, std::string_view payload, uint8_t qos,
                          uint16_t packet_id, bool dup) {
  uint8_t first = (kPublish << 4) | (qos << 1) | (dup ? 0x08 : 0);
  std::string body = Str(topic);
  if (qos > 0) body += U16(packet_id);
  body += payload;
  return Packet(first, body);
}

std::string SubscribePacket(uint16_t packet_id,
                            const std::vector<std::pair<std::string, uint8_t>>& filters) {
  std::string body = U16(packet_id);
  for (const auto& [filter, qos] : filters) body += Str(filter) + static_cast<char>(qos);
  return Packet((kSubscribe << 4) | 0x02, body);
}

std::string PubackPacket(uint16_t packet_id) { return Packet(kPuback << 4, U16(packet_id)); }
std::string PingreqPacket() { return Packet(kPingreq << 4, ""); }
std::string DisconnectPacket() { return Packet(kDisconnect << 4, ""); }

std::optional<PublishView> ParsePublish(const RawPacket& packet) {
  if (packet.type() != kPublish || packet.body.size() < 2) return std::nullopt;
  PublishView view;
  view.qos = (packet.first >> 1) & 3;
  view.dup = (packet.first & 0x08) != 0;
  view.retain = (packet.first & 0x01) != 0;
  const std::string& b = packet.body;
  size_t topic_length = (static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]);
  size_t at = 2 + topic_length;
  if (at > b.size()) return std::nullopt;
  view.topic = b.substr(2, topic_length);
  if (view.qos > 0) {
    if (at + 2 > b.size()) return std::nullopt;
    view.packet_id = (static_cast<uint8_t>(b[at]) << 8) | static_cast<uint8_t>(b[at + 1]);
    at += 2;
  }
  view.payload = b.substr(at);
  return view;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && Hex(text[i + 1]) >= 0 && Hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(text[i + 1]) * 16 + Hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseBag(std::string_view bag) {
  std::map<std::string, std::string> out;
  while (!bag.empty()) {
    size_t amp = bag.find('&');
    std::string_view pair = bag.substr(0, amp);
    bag = amp == std::string_view::npos ? std::string_view() : bag.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out[PercentDecode(pair)] = "";
    } else {
      out[PercentDecode(pair.substr(0, eq))] = PercentDecode(pair.substr(eq + 1));
    }
  }
  return out;
}

std::unique_ptr<Connection> Connection::Open(const std::string& address, uint16_t port,
                                             const std::string& ca_file,
                                             const std::string& tls_name, std::string* error) {
  std::signal(SIGPIPE, SIG_IGN);  // a write to a closed socket must fail, not kill the test
  std::unique_ptr<Connection> c(new Connection());
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

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                            : static_cast<int>(::send(fd_, bytes.data(), bytes.size(), 0));
    if (n <= 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

bool Connection::Fill(std::chrono::steady_clock::time_point deadline) {
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
      closed_ = true;
      return false;
    }
  }
  buffer_.append(buf, n);
  return true;
}

ReadStatus Connection::Read(RawPacket* out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    // A whole packet buffered?
    if (buffer_.size() >= 2) {
      size_t length = 0, multiplier = 1, at = 1;
      bool complete = false;
      while (at < buffer_.size() && at <= 4) {
        uint8_t byte = static_cast<uint8_t>(buffer_[at]);
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        ++at;
        if ((byte & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (complete && buffer_.size() >= at + length) {
        out->first = static_cast<uint8_t>(buffer_[0]);
        out->body = buffer_.substr(at, length);
        buffer_.erase(0, at + length);
        return ReadStatus::kPacket;
      }
    }
    if (!Fill(deadline)) {
      if (closed_) return ReadStatus::kClosed;
      if (std::chrono::steady_clock::now() >= deadline) return ReadStatus::kTimeout;
    }
  }
}

bool Connection::WaitClosed(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  RawPacket packet;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    switch (Read(&packet, std::max(left, std::chrono::milliseconds(0)))) {
      case ReadStatus::kClosed:
        return true;
      case ReadStatus::kTimeout:
        return false;
      case ReadStatus::kPacket:
        skipped_.push_back(packet);
        break;
    }
  }
}

std::optional<RawPacket> Connection::ReadType(uint8_t type, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  RawPacket packet;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (Read(&packet, std::max(left, std::chrono::milliseconds(0))) != ReadStatus::kPacket) {
      return std::nullopt;
    }
    if (packet.type() == type) return packet;
    skipped_.push_back(packet);
  }
}

}  // namespace iothub::testing::mqtt_wire
