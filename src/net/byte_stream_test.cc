#include "net/byte_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "net/byte_stream_test_util.h"

// The TLS and plain streams over real loopback sockets, with a real OpenSSL client
// (asio::ssl::stream) on the test thread.

namespace iothub::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using TlsClient = asio::ssl::stream<tcp::socket>;
using namespace std::chrono_literals;

// Bytes that show their order: "000000 000001 000002 ..." cut to `n`.
std::string Numbered(size_t n) {
  std::string out;
  for (size_t i = 0; out.size() < n; ++i) {
    std::string number = std::to_string(i);
    out += std::string(6 - std::min<size_t>(6, number.size()), '0') + number + " ";
  }
  out.resize(n);
  return out;
}

class ByteStreamTest : public StreamFixture {
 protected:
  std::unique_ptr<TlsClient> ConnectTls() {
    client_ctx_.load_verify_file(cert_file());
    auto client = std::make_unique<TlsClient>(io_, client_ctx_);
    client->set_verify_mode(asio::ssl::verify_peer);
    client->next_layer().connect({asio::ip::make_address("127.0.0.1"), port()});
    client->handshake(asio::ssl::stream_base::client);
    return client;
  }

  tcp::socket ConnectPlain() {
    tcp::socket socket(io_);
    socket.connect({asio::ip::make_address("127.0.0.1"), port()});
    return socket;
  }

  // pending_write_bytes() once the client has read everything: the last write's completion may
  // still be on its way to the shard, so this asks again for up to a second.
  size_t PendingOnceSent(ByteStream& stream) {
    size_t pending = 0;
    for (int i = 0; i < 1000; ++i) {
      OnShard([&] { pending = stream.pending_write_bytes(); });
      if (pending == 0) break;
      std::this_thread::sleep_for(1ms);
    }
    return pending;
  }

  template <typename Stream>
  static std::string Read(Stream& stream, size_t n) {
    std::string out(n, '\0');
    asio::read(stream, asio::buffer(out));
    return out;
  }

  // Reads until the stream ends; `end` gets the error that ended it.
  template <typename Stream>
  static std::string ReadToEnd(Stream& stream, error_code* end) {
    std::string out;
    char chunk[4096];
    while (true) {
      size_t n = stream.read_some(asio::buffer(chunk), *end);
      out.append(chunk, n);
      if (*end) return out;
    }
  }

  asio::io_context io_;
  asio::ssl::context client_ctx_{asio::ssl::context::tlsv12_client};
};

TEST_F(ByteStreamTest, TlsHandshakeOpensAndEchoesOneByte) {
  Listen(true, 10s, [](RecordingHandler& h) { h.echo = true; });
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  asio::write(*client, asio::buffer("x", 1));
  EXPECT_EQ(Read(*client, 1), "x");
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->opened, 1);
  EXPECT_FALSE(handler->data_before_open);
  EXPECT_FALSE(handler->off_shard);
  EXPECT_EQ(handler->data, "x");
  EXPECT_EQ(stream->shard(), 0u);
  EXPECT_EQ(stream->remote_endpoint().rfind("127.0.0.1:", 0), 0u) << stream->remote_endpoint();
}

TEST_F(ByteStreamTest, TlsEchoesAHundredKibibytes) {
  Listen(true, 10s, [](RecordingHandler& h) { h.echo = true; });
  auto client = ConnectTls();
  std::string sent = Numbered(100 * 1024);
  // Written from another thread: the echo comes back while the client still writes.
  std::thread writer([&] { asio::write(*client, asio::buffer(sent)); });
  std::string echoed = Read(*client, sent.size());
  writer.join();
  EXPECT_EQ(echoed, sent);
  auto [stream, handler] = Accepted();
  EXPECT_EQ(PendingOnceSent(*stream), 0u);
}

TEST_F(ByteStreamTest, TlsManySmallWritesArriveInOrder) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  std::string expected = Numbered(7 * 2000);
  OnShard([&] {
    for (size_t i = 0; i < expected.size(); i += 7) stream->Write(expected.substr(i, 7));
  });
  EXPECT_EQ(Read(*client, expected.size()), expected);
}

TEST_F(ByteStreamTest, WritesBeforeTheHandshakeEndsAreSentAfterIt) {
  Listen(true, 10s, [](RecordingHandler& h) {
    h.stream.lock()->Write("hello");  // before Start: the handshake has not even begun
  });
  auto client = ConnectTls();
  EXPECT_EQ(Read(*client, 5), "hello");
}

TEST_F(ByteStreamTest, OnOpenMayWrite) {
  Listen(true, 10s, [](RecordingHandler& h) { h.on_open = [](ByteStream& s) { s.Write("hi"); }; });
  auto client = ConnectTls();
  EXPECT_EQ(Read(*client, 2), "hi");
}

// Paused, nothing is delivered; the negative check needs a short real wait.
TEST_F(ByteStreamTest, PausedStreamDeliversNothingUntilResumed) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  OnShard([&] { stream->PauseReading(); });
  asio::write(*client, asio::buffer(std::string("abc")));
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(handler->mu);
    EXPECT_EQ(handler->data, "");
  }
  OnShard([&] { stream->ResumeReading(); });
  ASSERT_TRUE(handler->WaitData(3));
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, "abc");
}

// Several TLS records read at once, the handler pausing after each: what was read but not
// delivered is kept, in order, and delivered after each resume.
TEST_F(ByteStreamTest, PausingInsideOnDataKeepsTheRestInOrder) {
  Listen(true, 10s, [](RecordingHandler& h) { h.pause_on_data = true; });
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  std::string sent = Numbered(100 * 1024);
  asio::write(*client, asio::buffer(sent));
  size_t seen = 0;
  while (seen < sent.size()) {
    ASSERT_TRUE(handler->Wait([&] { return handler->data.size() > seen && handler->paused; }))
        << "stuck at " << seen;
    OnShard([&] {
      std::lock_guard lock(handler->mu);
      seen = handler->data.size();
      handler->paused = false;
      stream->ResumeReading();
    });
  }
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, sent);
  EXPECT_FALSE(handler->data_while_paused);
  EXPECT_GT(handler->data_calls, 1);
}

TEST_F(ByteStreamTest, TlsCloseSendsPendingOutputThenCloseNotify) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  std::string big = Numbered(300 * 1024);
  OnShard([&] {
    stream->Write(big);
    stream->Close();
    stream->Write("ignored after Close");
    stream->Close();  // idempotent
  });
  error_code end;
  EXPECT_EQ(ReadToEnd(*client, &end), big);
  EXPECT_EQ(end, asio::error::eof) << end.message();  // a clean close_notify, not a truncation
  client->next_layer().close();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "closed by the server");
}

TEST_F(ByteStreamTest, CloseEndsWithinTheLingerWhenThePeerNeverCloses) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  OnShard([&] { stream->Close(50ms); });  // the client reads nothing and keeps its socket open
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->why, "closed by the server (linger 50 ms expired)");
}

TEST_F(ByteStreamTest, AbortDropsOutputAndClosesAtOnce) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  size_t pending = 0;
  OnShard([&] {
    stream->Write(std::string(300 * 1024, 'a'));  // partly in flight
    stream->Abort();
    stream->Abort();
    stream->Write("x");
    pending = stream->pending_write_bytes();
  });
  EXPECT_EQ(pending, 0u);
  error_code end;
  ReadToEnd(*client, &end);
  EXPECT_NE(end, asio::error::eof);  // no close_notify: the client sees a truncated stream
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "aborted by the server");
}

TEST_F(ByteStreamTest, PeerCloseNotifyEndsTheStreamAndIsAnswered) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  error_code ec;
  client->shutdown(ec);  // sends close_notify, waits for the server's
  EXPECT_FALSE(ec) << ec.message();
  client->next_layer().close();
  ASSERT_TRUE(handler->WaitClosed());
  {
    std::lock_guard lock(handler->mu);
    EXPECT_EQ(handler->why, "the peer closed the TLS session");
  }
  // The stream lets go of its handler once OnClosed returns: the fixture's reference and this
  // test's are left.
  for (int i = 0; i < 1000 && handler.use_count() > 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(handler.use_count(), 2);
}

TEST_F(ByteStreamTest, PeerDroppingTheConnectionEndsTheStream) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  client->next_layer().close();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "the peer closed the connection");
}

TEST_F(ByteStreamTest, GarbageInsteadOfAHandshakeClosesWithoutOpening) {
  Listen(true);
  tcp::socket socket = ConnectPlain();
  asio::write(socket, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  error_code end;
  ReadToEnd(socket, &end);  // an alert, perhaps, then the end
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->opened, 0);
  EXPECT_EQ(handler->why.rfind("TLS handshake failed: ", 0), 0u) << handler->why;
}

TEST_F(ByteStreamTest, SilentClientIsDroppedAfterTheHandshakeTimeout) {
  Listen(true, 50ms);
  tcp::socket socket = ConnectPlain();
  error_code end;
  EXPECT_EQ(ReadToEnd(socket, &end), "");
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->opened, 0);
  EXPECT_EQ(handler->why, "TLS handshake not finished within 50 ms");
}

TEST_F(ByteStreamTest, ClientLeavingMidHandshakeClosesWithoutOpening) {
  Listen(true);
  {
    tcp::socket socket = ConnectPlain();
    asio::write(socket, asio::buffer(std::string("\x16\x03\x01", 3)));  // a record header only
  }
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->opened, 0);
  EXPECT_EQ(handler->why, "the peer closed the connection during the TLS handshake");
}

// An idle TLS stream holds no output; the memory it costs is measured in
// byte_stream_memory_test.cc.
TEST_F(ByteStreamTest, IdleTlsStreamHoldsNoOutput) {
  Listen(true, 10s, [](RecordingHandler& h) { h.echo = true; });
  auto client = ConnectTls();
  asio::write(*client, asio::buffer(std::string(20000, 'y')));
  Read(*client, 20000);
  auto [stream, handler] = Accepted();
  EXPECT_EQ(PendingOnceSent(*stream), 0u);
}

TEST_F(ByteStreamTest, DrainedFollowsEachEmptiedOutput) {
  Listen(true);
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  ASSERT_EQ(PendingOnceSent(*stream), 0u);  // the session tickets went out
  int before = 0;
  OnShard([&] {
    std::lock_guard lock(handler->mu);
    before = handler->drained;
    stream->Write("abc");
  });
  EXPECT_EQ(Read(*client, 3), "abc");
  EXPECT_TRUE(handler->Wait([&] { return handler->drained == before + 1; }));
}

// --- plain TCP ---

TEST_F(ByteStreamTest, PlainStreamOpensAtOnceAndEchoes) {
  Listen(false, 10s, [](RecordingHandler& h) { h.echo = true; });
  tcp::socket socket = ConnectPlain();
  std::string sent = Numbered(100 * 1024);
  std::thread writer([&] { asio::write(socket, asio::buffer(sent)); });
  EXPECT_EQ(Read(socket, sent.size()), sent);
  writer.join();
  auto [stream, handler] = Accepted();
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->opened, 1);
  EXPECT_FALSE(handler->data_before_open);
  EXPECT_FALSE(handler->off_shard);
}

TEST_F(ByteStreamTest, PlainPauseKeepsWhatWasReadInOrder) {
  Listen(false, 10s, [](RecordingHandler& h) { h.pause_on_data = true; });
  tcp::socket socket = ConnectPlain();
  auto [stream, handler] = Accepted();
  std::string sent = Numbered(200 * 1024);
  std::thread writer([&] { asio::write(socket, asio::buffer(sent)); });
  size_t seen = 0;
  while (seen < sent.size()) {
    ASSERT_TRUE(handler->Wait([&] { return handler->data.size() > seen && handler->paused; }));
    OnShard([&] {
      std::lock_guard lock(handler->mu);
      seen = handler->data.size();
      handler->paused = false;
      stream->ResumeReading();
    });
  }
  writer.join();
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, sent);
  EXPECT_FALSE(handler->data_while_paused);
}

TEST_F(ByteStreamTest, PlainCloseSendsPendingOutputThenEof) {
  Listen(false);
  tcp::socket socket = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  std::string big = Numbered(300 * 1024);
  OnShard([&] {
    stream->Write(big);
    stream->Close();
  });
  error_code end;
  EXPECT_EQ(ReadToEnd(socket, &end), big);
  EXPECT_EQ(end, asio::error::eof);
  socket.close();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->why, "closed by the server");
}

TEST_F(ByteStreamTest, PlainPeerCloseEndsTheStream) {
  Listen(false);
  tcp::socket socket = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  socket.close();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "the peer closed the connection");
}

}  // namespace
}  // namespace iothub::net
