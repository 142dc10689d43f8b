#include "net/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

namespace iothub::net {
namespace {

using namespace std::chrono_literals;

// A blocking client connect to 127.0.0.1:port; returns the fd or -1 with errno set.
int ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// Collects what the accept handler saw.
struct Accepted {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<size_t> shards;
  std::vector<std::optional<size_t>> handler_threads;
  std::vector<std::string> remotes;
  std::vector<TcpConnection> connections;

  AcceptHandler Handler() {
    return [this](TcpConnection c) {
      std::lock_guard lock(mu);
      shards.push_back(c.shard());
      handler_threads.push_back(ShardPool::CurrentShard());
      remotes.push_back(c.remote_endpoint());
      connections.push_back(std::move(c));
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return shards.size() >= n; });
  }
};

TEST(ListenerTest, AcceptsRoundRobinOntoShardsAndRunsTheHandlerThere) {
  ShardPool pool(2);
  Accepted accepted;
  auto listener =
      Listener::Bind(pool, {.name = "test", .address = "127.0.0.1", .port = 0}, accepted.Handler());
  ASSERT_TRUE(listener) << listener.error().ToString();
  uint16_t port = (*listener)->port();
  ASSERT_NE(port, 0);
  EXPECT_EQ((*listener)->endpoint(), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ((*listener)->name(), "test");

  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    int fd = ConnectLoopback(port);
    ASSERT_GE(fd, 0) << strerror(errno);
    clients.push_back(fd);
    ASSERT_TRUE(accepted.WaitFor(i + 1));  // one at a time, so the order is the accept order
  }
  std::lock_guard lock(accepted.mu);
  EXPECT_EQ(accepted.shards, (std::vector<size_t>{0, 1, 0, 1}));
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(accepted.handler_threads[i], std::optional<size_t>(accepted.shards[i]));
    EXPECT_EQ(accepted.remotes[i].rfind("127.0.0.1:", 0), 0u) << accepted.remotes[i];
  }
  for (int fd : clients) ::close(fd);
}

TEST(ListenerTest, ClosingTheConnectionClosesTheSocket) {
  ShardPool pool(1);
  auto listener = Listener::Bind(pool, {.name = "t", .address = "127.0.0.1", .port = 0},
                                 [](TcpConnection c) { c.Close(); });
  ASSERT_TRUE(listener);
  int fd = ConnectLoopback((*listener)->port());
  ASSERT_GE(fd, 0);
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // orderly EOF from the server side
  ::close(fd);
}

TEST(ListenerTest, PortInUseNamesTheAddressAndPort) {
  ShardPool pool(1);
  auto first =
      Listener::Bind(pool, {.name = "a", .address = "127.0.0.1", .port = 0}, [](TcpConnection) {});
  ASSERT_TRUE(first);
  uint16_t port = (*first)->port();
  auto second = Listener::Bind(pool, {.name = "b", .address = "127.0.0.1", .port = port},
                               [](TcpConnection) {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(second.error().message(),
            "address 127.0.0.1:" + std::to_string(port) + " is already in use");
}

TEST(ListenerTest, RejectsAddressesThatAreNotIpLiterals) {
  ShardPool pool(1);
  for (std::string address : {"localhost", "", "127.0.0.256", "1.2.3.4:80"}) {
    auto listener =
        Listener::Bind(pool, {.name = "x", .address = address, .port = 0}, [](TcpConnection) {});
    ASSERT_FALSE(listener) << address;
    EXPECT_EQ(listener.error().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ListenerTest, AddressNotOnThisHostIsAClearError) {
  ShardPool pool(1);
  // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
  auto listener =
      Listener::Bind(pool, {.name = "x", .address = "192.0.2.1", .port = 0}, [](TcpConnection) {});
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().message(),
            "cannot bind 192.0.2.1:0: the address is not one of this host's");
}

TEST(ListenerTest, BindsIpv6Loopback) {
  ShardPool pool(1);
  Accepted accepted;
  auto listener =
      Listener::Bind(pool, {.name = "v6", .address = "::1", .port = 0}, accepted.Handler());
  if (!listener && listener.error().message().find("not one of this host's") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ASSERT_TRUE(listener) << listener.error().ToString();
  EXPECT_EQ((*listener)->endpoint(), "[::1]:" + std::to_string((*listener)->port()));
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons((*listener)->port());
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_TRUE(accepted.WaitFor(1));
  std::lock_guard lock(accepted.mu);
  EXPECT_EQ(accepted.remotes[0].rfind("[::1]:", 0), 0u) << accepted.remotes[0];
  ::close(fd);
}

TEST(ListenerTest, CloseStopsAcceptingAndIsIdempotent) {
  ShardPool pool(2);
  auto listener =
      Listener::Bind(pool, {.name = "t", .address = "127.0.0.1", .port = 0}, [](TcpConnection) {});
  ASSERT_TRUE(listener);
  uint16_t port = (*listener)->port();
  (*listener)->Close();
  (*listener)->Close();
  EXPECT_EQ(ConnectLoopback(port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  // The port is free again at once (SO_REUSEADDR).
  auto again = Listener::Bind(pool, {.name = "t", .address = "127.0.0.1", .port = port},
                              [](TcpConnection) {});
  EXPECT_TRUE(again) << again.error().ToString();
}

TEST(ListenerTest, ClosesAfterThePoolHasStopped) {
  ShardPool pool(1);
  auto listener =
      Listener::Bind(pool, {.name = "t", .address = "127.0.0.1", .port = 0}, [](TcpConnection) {});
  ASSERT_TRUE(listener);
  pool.Stop();
  pool.Join();
  (*listener)->Close();  // must not wait for the stopped loop
  EXPECT_EQ(ConnectLoopback((*listener)->port()), -1);
}

TEST(FormatHostPortTest, BracketsIpv6) {
  EXPECT_EQ(FormatHostPort("127.0.0.1", 8883), "127.0.0.1:8883");
  EXPECT_EQ(FormatHostPort("::1", 443), "[::1]:443");
  EXPECT_EQ(FormatHostPort("0.0.0.0", 0), "0.0.0.0:0");
}

}  // namespace
}  // namespace iothub::net
