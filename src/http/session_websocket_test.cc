// The WebSocket hand-off at /$iothub/websocket over real loopback sockets, with Beast WebSocket
// clients (plain and TLS): the 101 the Node SDK's ws client needs (the chosen subprotocol, no
// extensions), the ByteStream contract over binary messages, closing from either side, and the
// refusals when no registered subprotocol is offered.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/loopback_session_test.h"
#include "http/session.h"
#include "net/byte_stream_test_util.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certificate.h"

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;
using beast::error_code;
using net::RecordingHandler;
using namespace std::chrono_literals;

using PlainClient = websocket::stream<tcp::socket>;
using TlsClient = websocket::stream<asio::ssl::stream<tcp::socket>>;

class SessionWebSocketTest : public LoopbackSessionTest {
 protected:
  void TearDown() override {
    if (listener_ != nullptr) listener_->Close();
    net::RunOnShard(pool_, [&] {
      for (auto& s : accepted_.All()) s->Abort();
    });
    pool_.Stop();
    pool_.Join();
  }

  // Serves "mqtt" (and nothing else) over WebSockets; each stream gets a RecordingHandler,
  // configured by `configure`.
  SessionOptions Options(std::function<void(RecordingHandler&)> configure = {}) {
    SessionOptions options;
    options.read_timeout = 2s;
    options.websocket_protocols.emplace_back(
        "mqtt", [this, configure](std::shared_ptr<net::ByteStream> stream) {
          accepted_.Serve(std::move(stream), configure);
        });
    return options;
  }

  void ServePlain(std::function<void(RecordingHandler&)> configure = {}) {
    Listen(std::make_shared<Router>(), Options(std::move(configure)));
  }

  void ServeTls(std::function<void(RecordingHandler&)> configure = {}) {
    ASSERT_TRUE(testing::WriteSelfSignedCertificate(dir_.str()));
    auto tls = net::TlsContext::CreateServer(dir_.str() + "/cert.pem", dir_.str() + "/key.pem");
    ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
    auto listener = net::Listener::Bind(
        pool_, {.name = "https", .address = "127.0.0.1", .port = 0},
        HttpsAcceptHandler(*tls, std::make_shared<Router>(), Options(std::move(configure))));
    ASSERT_TRUE(listener.has_value()) << listener.error().ToString();
    listener_ = std::move(*listener);
  }

  // Offers `protocols` (and permessage-deflate, as the Node SDK's ws client does).
  template <typename Client>
  static void Handshake(Client& client, const std::string& protocols,
                        websocket::response_type* response, error_code* ec) {
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    client.set_option(deflate);
    client.set_option(websocket::stream_base::decorator([protocols](websocket::request_type& r) {
      if (!protocols.empty()) r.set(bhttp::field::sec_websocket_protocol, protocols);
    }));
    client.handshake(*response, "127.0.0.1", "/$iothub/websocket", *ec);
  }

  std::unique_ptr<PlainClient> ConnectPlain(const std::string& protocols = "mqtt") {
    auto client = std::make_unique<PlainClient>(Connect());
    error_code ec;
    Handshake(*client, protocols, &response_, &ec);
    EXPECT_FALSE(ec) << ec.message();
    return client;
  }

  std::unique_ptr<TlsClient> ConnectTls() {
    client_ctx_.load_verify_file(dir_.str() + "/cert.pem");
    auto client = std::make_unique<TlsClient>(client_io_, client_ctx_);
    client->next_layer().set_verify_mode(asio::ssl::verify_peer);
    client->next_layer().next_layer().connect(
        {asio::ip::make_address("127.0.0.1"), listener_->port()});
    client->next_layer().handshake(asio::ssl::stream_base::client);
    error_code ec;
    Handshake(*client, "mqtt", &response_, &ec);
    EXPECT_FALSE(ec) << ec.message();
    return client;
  }

  std::pair<std::shared_ptr<net::ByteStream>, std::shared_ptr<RecordingHandler>> Accepted(
      size_t i = 0) {
    return accepted_.Get(i);
  }

  void OnShard(const std::function<void()>& task) { net::RunOnShard(pool_, task); }

  // Reads messages until `n` bytes came; each must be binary.
  template <typename Client>
  static std::string ReadBytes(Client& client, size_t n) {
    std::string out;
    while (out.size() < n) {
      beast::flat_buffer buffer;
      error_code ec;
      client.read(buffer, ec);
      if (ec) {
        ADD_FAILURE() << "read: " << ec.message();
        break;
      }
      EXPECT_TRUE(client.got_binary());
      out += beast::buffers_to_string(buffer.data());
    }
    return out;
  }

  template <typename Client>
  static void SendBinary(Client& client, std::string_view bytes) {
    client.binary(true);
    client.write(asio::buffer(bytes.data(), bytes.size()));
  }

  // A raw upgrade request; returns the answer (the connection is closed after it).
  bhttp::response<bhttp::string_body> RawUpgrade(const std::string& target,
                                                 const std::string& protocol_header) {
    tcp::socket socket = Connect();
    Send(socket,
         "GET " + target +
             " HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
             protocol_header + "\r\n");
    bhttp::response<bhttp::string_body> response;
    beast::flat_buffer buffer;
    error_code ec;
    bhttp::read(socket, buffer, response, ec);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }

  static std::string ErrorCode(const bhttp::response<bhttp::string_body>& r) {
    auto body = nlohmann::json::parse(r.body(), nullptr, false);
    if (!body.is_object()) return "<no Azure body>";
    std::string message = body["Message"];
    return message.substr(0, message.find(';'));
  }

  testing::TempDir dir_;
  asio::ssl::context client_ctx_{asio::ssl::context::tlsv12_client};
  websocket::response_type response_;
  net::AcceptedStreams accepted_;
};

TEST_F(SessionWebSocketTest, MqttUpgradeGets101WithTheProtocolAndNoExtensions) {
  ServePlain();
  auto client = ConnectPlain();
  EXPECT_EQ(response_.result_int(), 101);
  EXPECT_EQ(response_[bhttp::field::sec_websocket_protocol], "mqtt");
  EXPECT_EQ(response_.count(bhttp::field::sec_websocket_extensions), 0u);
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  EXPECT_EQ(stream->remote_endpoint().rfind("127.0.0.1:", 0), 0u) << stream->remote_endpoint();
  EXPECT_EQ(stream->shard(), 0u);
}

TEST_F(SessionWebSocketTest, TheFirstRegisteredOfTheOfferedProtocolsIsChosen) {
  ServePlain();
  auto client = ConnectPlain("foo, mqtt ,mqttv3.1");
  EXPECT_EQ(response_.result_int(), 101);
  EXPECT_EQ(response_[bhttp::field::sec_websocket_protocol], "mqtt");
}

TEST_F(SessionWebSocketTest, BytesEchoAcrossMessageBoundaries) {
  ServePlain([](RecordingHandler& h) { h.echo = true; });
  auto client = ConnectPlain();
  // An MQTT packet may span messages, or several may share one: the stream sees bytes only.
  std::string big(100 * 1024, 'z');
  SendBinary(*client, "ab");
  SendBinary(*client, "cdef");
  SendBinary(*client, big);
  std::string expected = "abcdef" + big;
  EXPECT_EQ(ReadBytes(*client, expected.size()), expected);
  auto [stream, handler] = Accepted();
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, expected);
  EXPECT_FALSE(handler->data_before_open);
  EXPECT_FALSE(handler->off_shard);
}

TEST_F(SessionWebSocketTest, ServerWritesArriveAsBinaryMessagesInOrder) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  std::string expected;
  OnShard([&] {
    for (int i = 0; i < 500; ++i) {
      std::string piece = std::to_string(i) + ",";
      expected += piece;
      stream->Write(piece);
    }
  });
  EXPECT_EQ(ReadBytes(*client, expected.size()), expected);
  EXPECT_TRUE(handler->Wait([&] { return handler->drained > 0; }));
}

TEST_F(SessionWebSocketTest, WorksOverTls) {
  ServeTls([](RecordingHandler& h) { h.echo = true; });
  auto client = ConnectTls();
  EXPECT_EQ(response_.result_int(), 101);
  EXPECT_EQ(response_[bhttp::field::sec_websocket_protocol], "mqtt");
  EXPECT_EQ(response_.count(bhttp::field::sec_websocket_extensions), 0u);
  SendBinary(*client, "\x10\x02hi");
  EXPECT_EQ(ReadBytes(*client, 4), "\x10\x02hi");
  client->close(websocket::close_code::normal);
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->why, "the peer closed the WebSocket");
}

TEST_F(SessionWebSocketTest, ClientCloseEndsTheStreamOnce) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  client->close(websocket::close_code::normal);
  ASSERT_TRUE(handler->WaitClosed());
  OnShard([&] {
    stream->Write("too late");
    stream->Close();
    stream->Abort();
  });
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "the peer closed the WebSocket");
}

TEST_F(SessionWebSocketTest, ServerCloseSendsPendingOutputThenACloseFrame) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  OnShard([&] {
    stream->Write("last words");
    stream->Close();
    stream->Close();
  });
  EXPECT_EQ(ReadBytes(*client, 10), "last words");
  beast::flat_buffer buffer;
  error_code ec;
  client->read(buffer, ec);  // answers the close frame
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  EXPECT_EQ(client->reason().code, websocket::close_code::normal);
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->closed, 1);
  EXPECT_EQ(handler->why, "closed by the server");
}

TEST_F(SessionWebSocketTest, ServerCloseOverTlsSendsACloseFrame) {
  ServeTls();
  auto client = ConnectTls();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  OnShard([&] { stream->Close(); });
  beast::flat_buffer buffer;
  error_code ec;
  client->read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->why.rfind("closed by the server", 0), 0u) << handler->why;
}

TEST_F(SessionWebSocketTest, AbortDropsTheConnectionWithoutACloseFrame) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  size_t pending = 1;
  OnShard([&] {
    stream->Write("dropped");
    stream->Abort();
    pending = stream->pending_write_bytes();
  });
  EXPECT_EQ(pending, 0u);
  beast::flat_buffer buffer;
  error_code ec;
  while (!ec) client->read(buffer, ec);  // perhaps "dropped" (already written), then the end
  EXPECT_NE(ec, websocket::error::closed) << ec.message();
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->why, "aborted by the server");
}

TEST_F(SessionWebSocketTest, TextMessageEndsTheStream) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  client->text(true);
  client->write(asio::buffer(std::string("hello")));
  ASSERT_TRUE(handler->WaitClosed());
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, "");
  EXPECT_EQ(handler->why, "a text WebSocket message (only binary messages carry the protocol)");
}

// Paused, nothing is delivered; the negative check needs a short real wait.
TEST_F(SessionWebSocketTest, PausedStreamDeliversNothingUntilResumed) {
  ServePlain();
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  OnShard([&] { stream->PauseReading(); });
  SendBinary(*client, "abc");
  SendBinary(*client, "def");
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(handler->mu);
    EXPECT_EQ(handler->data, "");
  }
  OnShard([&] { stream->ResumeReading(); });
  ASSERT_TRUE(handler->WaitData(6));
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, "abcdef");
}

TEST_F(SessionWebSocketTest, PausingInsideOnDataKeepsOrder) {
  ServePlain([](RecordingHandler& h) { h.pause_on_data = true; });
  auto client = ConnectPlain();
  auto [stream, handler] = Accepted();
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string piece = "<" + std::to_string(i) + ">";
    expected += piece;
    SendBinary(*client, piece);
  }
  size_t seen = 0;
  while (seen < expected.size()) {
    ASSERT_TRUE(handler->Wait([&] { return handler->data.size() > seen && handler->paused; }));
    OnShard([&] {
      std::lock_guard lock(handler->mu);
      seen = handler->data.size();
      handler->paused = false;
      stream->ResumeReading();
    });
  }
  std::lock_guard lock(handler->mu);
  EXPECT_EQ(handler->data, expected);
  EXPECT_FALSE(handler->data_while_paused);
}

TEST_F(SessionWebSocketTest, UnregisteredProtocolIs501) {
  ServePlain();
  auto response = RawUpgrade("/$iothub/websocket", "Sec-WebSocket-Protocol: AMQPWSB10\r\n");
  EXPECT_EQ(response.result_int(), 501);
  EXPECT_EQ(ErrorCode(response), "ErrorCode:NotImplemented");
  EXPECT_NE(response.body().find("AMQPWSB10"), std::string::npos) << response.body();
  EXPECT_FALSE(response.keep_alive());
}

// The C SDK asks for "MQTT", the Node SDK for "mqtt" (PROTOCOL.md): names match whatever their
// case, and the answer echoes the client's own spelling.
TEST_F(SessionWebSocketTest, ProtocolNamesMatchInAnyCaseAndTheClientsSpellingIsEchoed) {
  ServePlain();
  auto client = ConnectPlain("MQTT");
  EXPECT_EQ(response_.result_int(), 101);
  EXPECT_EQ(response_[bhttp::field::sec_websocket_protocol], "MQTT");
  auto [stream, handler] = Accepted();
  ASSERT_TRUE(handler->Wait([&] { return handler->opened > 0; }));
  auto raw = RawUpgrade("/$iothub/websocket", "Sec-WebSocket-Protocol: foo, mQtT\r\n");
  EXPECT_EQ(raw.result_int(), 101);
  EXPECT_EQ(raw[bhttp::field::sec_websocket_protocol], "mQtT");
}

TEST_F(SessionWebSocketTest, NoProtocolIs400) {
  ServePlain();
  auto response = RawUpgrade("/$iothub/websocket", "");
  EXPECT_EQ(response.result_int(), 400);
  EXPECT_EQ(ErrorCode(response), "ErrorCode:ArgumentInvalid");
}

TEST_F(SessionWebSocketTest, OtherPathsAre404EvenForARegisteredProtocol) {
  ServePlain();
  auto response = RawUpgrade("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n");
  EXPECT_EQ(response.result_int(), 404);
  EXPECT_EQ(ErrorCode(response), "ErrorCode:ResourceNotFound");
}

}  // namespace
}  // namespace iothub::http
