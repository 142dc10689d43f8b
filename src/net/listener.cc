#include "net/listener.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <optional>

#include "base/log.h"
#include "net/asio_access.h"

namespace iothub::net {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string FormatEndpoint(const tcp::endpoint& ep) {
  return FormatHostPort(ep.address().to_string(), ep.port());
}

// Turns a bind/listen failure into the one message an operator needs.
Status BindError(const boost::system::error_code& ec, const std::string& where) {
  if (ec == asio::error::address_in_use) {
    return Unavailable("address " + where + " is already in use");
  }
  if (ec == asio::error::access_denied) {
    return Unavailable("permission denied binding " + where +
                       " (ports below 1024 need root or CAP_NET_BIND_SERVICE)");
  }
  if (ec == boost::system::errc::address_not_available) {
    return Unavailable("cannot bind " + where + ": the address is not one of this host's");
  }
  return Unavailable("cannot bind " + where + ": " + ec.message());
}

std::atomic<size_t> next_home_shard{0};

}  // namespace

std::string FormatHostPort(std::string_view address, uint16_t port) {
  std::string out;
  if (address.find(':') != std::string_view::npos) {
    out.append("[").append(address).append("]");
  } else {
    out.append(address);
  }
  return out + ":" + std::to_string(port);
}

// --- TcpConnection ---

struct TcpConnection::Impl {
  Impl(tcp::socket s, size_t shard_in) : socket(std::move(s)), shard(shard_in) {}
  tcp::socket socket;
  size_t shard;
};

TcpConnection::TcpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpConnection::TcpConnection(TcpConnection&&) noexcept = default;
TcpConnection& TcpConnection::operator=(TcpConnection&&) noexcept = default;
TcpConnection::~TcpConnection() = default;

size_t TcpConnection::shard() const { return impl_->shard; }

std::string TcpConnection::remote_endpoint() const {
  boost::system::error_code ec;
  auto ep = impl_->socket.remote_endpoint(ec);
  return ec ? "?" : FormatEndpoint(ep);
}

std::string TcpConnection::local_endpoint() const {
  boost::system::error_code ec;
  auto ep = impl_->socket.local_endpoint(ec);
  return ec ? "?" : FormatEndpoint(ep);
}

void TcpConnection::Close() {
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

tcp::socket& AsioSocket(TcpConnection& connection) { return connection.impl().socket; }

// --- Listener ---

// Lives on its home shard: the acceptor's handlers run there, and after Bind only that thread
// touches the acceptor, `peer` and `next_shard`.
struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  Impl(ShardPool& pool_in, asio::io_context& home_in, Options options_in, AcceptHandler h)
      : pool(pool_in),
        home(home_in),
        options(std::move(options_in)),
        handler(std::move(h)),
        acceptor(home_in),
        retry_timer(home_in) {}

  void AcceptNext() {
    size_t shard = next_shard++ % pool.size();
    peer.emplace(IoContext(pool, shard));
    acceptor.async_accept(*peer, [self = shared_from_this(), shard](boost::system::error_code ec) {
      self->OnAccept(ec, shard);
    });
  }

  void OnAccept(const boost::system::error_code& ec, size_t shard) {
    if (closed) return;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning on the error.
      HUB_LOG_WARN("net", "{}: accept on {} failed: {}", options.name, endpoint, ec.message());
      retry_timer.expires_after(std::chrono::milliseconds(100));
      retry_timer.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
        if (!wait_ec && !self->closed) self->AcceptNext();
      });
      return;
    }
    auto connection = std::make_unique<TcpConnection::Impl>(std::move(*peer), shard);
    peer.reset();
    asio::post(IoContext(pool, shard),
               [self = shared_from_this(), c = std::move(connection)]() mutable {
                 if (self->closed) return;
                 self->handler(TcpConnection(std::move(c)));
               });
    AcceptNext();
  }

  // Home thread (or no thread running the home loop).
  void CloseHere() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retry_timer.cancel();
    peer.reset();
  }

  ShardPool& pool;
  asio::io_context& home;
  Options options;
  AcceptHandler handler;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::optional<tcp::socket> peer;
  size_t next_shard = 0;
  uint16_t port = 0;
  std::string endpoint;
  std::atomic<bool> closed{false};
};

Result<std::unique_ptr<Listener>> Listener::Bind(ShardPool& pool, Options options,
                                                 AcceptHandler handler) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) {
    return InvalidArgument("'" + options.address + "' is not an IPv4 or IPv6 address");
  }
  std::string where = FormatHostPort(options.address, options.port);
  size_t home_shard = next_home_shard++ % pool.size();
  auto impl = std::make_shared<Impl>(pool, IoContext(pool, home_shard), std::move(options),
                                     std::move(handler));
  tcp::endpoint ep(address, impl->options.port);
  // No handler is pending yet, so this thread may use the acceptor until the first post.
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(impl->options.backlog, ec);
  if (ec) return BindError(ec, where);
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return BindError(ec, where);
  impl->endpoint = FormatHostPort(impl->options.address, impl->port);
  HUB_LOG_INFO("net", "{}: listening on {}", impl->options.name, impl->endpoint);
  asio::post(impl->home, [impl] {
    if (!impl->closed) impl->AcceptNext();
  });
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Listener::Listener(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener() { Close(); }

uint16_t Listener::port() const { return impl_->port; }
const std::string& Listener::name() const { return impl_->options.name; }
std::string Listener::endpoint() const { return impl_->endpoint; }

void Listener::Close() {
  if (impl_->closed.exchange(true)) return;
  asio::io_context& home = impl_->home;
  if (home.stopped() || home.get_executor().running_in_this_thread()) {
    impl_->CloseHere();
  } else {
    std::promise<void> done;
    asio::post(home, [impl = impl_, &done] {
      impl->CloseHere();
      done.set_value();
    });
    done.get_future().wait();
  }
  HUB_LOG_DEBUG("net", "{}: closed {}", impl_->options.name, impl_->endpoint);
}

}  // namespace iothub::net
