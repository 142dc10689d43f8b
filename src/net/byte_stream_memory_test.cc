// What an idle TLS stream costs: 200 connections from a child process (so the clients' memory is
// not counted), each handshaken and having sent one byte, then idle. The heap growth on the
// server side is printed, not asserted (allocator behaviour varies); the assertion is that no
// stream holds output.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "net/byte_stream_test_util.h"

namespace iothub::net {
namespace {

constexpr int kIdleStreams = 200;

// The child: opens `count` TLS connections to 127.0.0.1:port, sends one byte on each, keeps them.
void OpenClients(uint16_t port, int count, std::vector<std::pair<int, SSL*>>* clients,
                 SSL_CTX* ctx) {
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(2);
    SSL* ssl = SSL_new(ctx);
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1 || SSL_write(ssl, "x", 1) != 1) _exit(3);
    clients->emplace_back(fd, ssl);
  }
}

[[noreturn]] void RunClients(int from_parent, int to_parent) {
  uint16_t port = 0;
  if (::read(from_parent, &port, sizeof(port)) != sizeof(port)) _exit(1);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());  // no verification: only the cost matters
  std::vector<std::pair<int, SSL*>> clients;
  OpenClients(port, 1, &clients, ctx);  // warms the server up (scratch buffers, OpenSSL caches)
  char go = 0;
  if (::write(to_parent, "1", 1) != 1 || ::read(from_parent, &go, 1) != 1) _exit(1);
  OpenClients(port, kIdleStreams, &clients, ctx);
  if (::write(to_parent, "2", 1) != 1) _exit(1);
  if (::read(from_parent, &go, 1) < 0) _exit(1);  // returns when the parent closes the pipe
  _exit(0);
}

size_t HeapInUse() { return mallinfo2().uordblks; }

size_t ResidentBytes() {
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    long size = 0;
    if (std::fscanf(f, "%ld %ld", &size, &pages) != 2) pages = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(pages) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

class IdleTlsStreamMemoryTest : public StreamFixture {};

TEST_F(IdleTlsStreamMemoryTest, IdleStreamsHoldNoBuffers) {
  int down[2];
  int up[2];
  ASSERT_EQ(::pipe(down), 0);
  ASSERT_EQ(::pipe(up), 0);
  pid_t child = ::fork();  // before the pool's threads touch anything the child uses
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(down[1]);
    ::close(up[0]);
    RunClients(down[0], up[1]);
  }
  ::close(down[0]);
  ::close(up[1]);

  Listen(true);
  uint16_t p = port();
  ASSERT_EQ(::write(down[1], &p, sizeof(p)), static_cast<ssize_t>(sizeof(p)));
  char step = 0;
  ASSERT_EQ(::read(up[0], &step, 1), 1);
  ASSERT_TRUE(Accepted(0).second->WaitData(1));
  malloc_trim(0);
  size_t heap_before = HeapInUse();
  size_t rss_before = ResidentBytes();

  ASSERT_EQ(::write(down[1], "g", 1), 1);
  ASSERT_EQ(::read(up[0], &step, 1), 1);
  for (int i = 1; i <= kIdleStreams; ++i) ASSERT_TRUE(Accepted(i).second->WaitData(1)) << i;
  size_t pending = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    OnShard([&] {
      pending = 0;
      for (auto& s : accepted_.All()) pending += s->pending_write_bytes();
    });
    if (pending == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(pending, 0u);
  malloc_trim(0);
  long heap_growth = static_cast<long>(HeapInUse()) - static_cast<long>(heap_before);
  long rss_growth = static_cast<long>(ResidentBytes()) - static_cast<long>(rss_before);
  std::printf(
      "[ memory   ] %d idle TLS streams: heap +%ld KiB (%ld bytes each, handlers and test "
      "bookkeeping included), RSS +%ld KiB\n",
      kIdleStreams, heap_growth / 1024, heap_growth / kIdleStreams, rss_growth / 1024);

  ::close(down[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(up[0]);
}

}  // namespace
}  // namespace iothub::net
