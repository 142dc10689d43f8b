#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/status.h"
#include "net/shards.h"

namespace iothub::net {

// An accepted TCP connection, handed to a Listener's handler on the shard that owns it. Move-only;
// dropping it closes the socket. Front-ends take the Asio socket out of it with net/asio_access.h,
// which is the only header of src/net that includes Asio.
class TcpConnection {
 public:
  struct Impl;
  explicit TcpConnection(std::unique_ptr<Impl> impl);
  TcpConnection(TcpConnection&&) noexcept;
  TcpConnection& operator=(TcpConnection&&) noexcept;
  ~TcpConnection();

  // The shard whose event loop serves the socket (all I/O on it must run there).
  size_t shard() const;
  // "127.0.0.1:50312" / "[::1]:50312"; "?" when the socket is already closed.
  std::string remote_endpoint() const;
  std::string local_endpoint() const;
  // Closes the socket at once (no graceful shutdown). Idempotent.
  void Close();

  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs on the connection's shard thread, once per accepted connection.
using AcceptHandler = std::function<void(TcpConnection)>;

// "127.0.0.1:8883", "[::1]:8883": how addresses appear in messages and logs.
std::string FormatHostPort(std::string_view address, uint16_t port);

// A listening TCP socket whose accepted connections are spread round-robin over the shards of a
// pool. Thread-safety: Bind on any thread that is not a shard thread; Close from any thread that is
// not a shard thread while the pool runs (or after it stopped); port() and name() from any thread.
// The Listener must not outlive its pool; destroying it closes it.
class Listener {
 public:
  struct Options {
    std::string name;     // for logs: "mqtt", "https", ...
    std::string address;  // an IPv4 or IPv6 literal: "127.0.0.1", "0.0.0.0", "::1", "::"
    uint16_t port = 0;    // 0: the OS picks one (see port())
    int backlog = 1024;
  };

  // Binds and listens on options.address:port with SO_REUSEADDR and starts accepting; each
  // connection is given to `handler` on its shard. Fails with InvalidArgument for an address that
  // is not an IP literal, and Unavailable naming the address and port when it cannot be bound, e.g.
  // "address 127.0.0.1:8883 is already in use".
  static Result<std::unique_ptr<Listener>> Bind(ShardPool& pool, Options options,
                                                AcceptHandler handler);

  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound port (the OS's choice when options.port was 0).
  uint16_t port() const;
  const std::string& name() const;
  // "127.0.0.1:8883"
  std::string endpoint() const;

  // Stops accepting and closes the listening socket; blocks until done. Connections already handed
  // out are not touched. Idempotent.
  void Close();

  struct Impl;

 private:
  explicit Listener(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace iothub::net
