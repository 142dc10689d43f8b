#include "http/session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/loopback_session_test.h"
#include "net/listener.h"
#include "net/shards.h"
#include "net/tls_context.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certificate.h"

// The session over real loopback sockets (port 0): keep-alive, chunked bodies, the limits and
// their Azure error answers, timeouts, the handler executor, and TLS.

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

std::shared_ptr<const Router> EchoRouter(std::atomic<std::thread::id>* handler_thread = nullptr) {
  auto router = std::make_shared<Router>();
  router->Add("POST", "/echo", [handler_thread](const Request& r, const RouteParams&) {
    if (handler_thread != nullptr) *handler_thread = std::this_thread::get_id();
    Response response = JsonResponse(200, nlohmann::json({{"body", r.body}}).dump());
    response.headers.emplace("x-seen-te", std::string(r.Header("transfer-encoding").value_or("")));
    return response;
  });
  router->Add("GET", "/devices/{id}", [](const Request&, const RouteParams& p) {
    return JsonResponse(200, nlohmann::json({{"id", p.Get("id")}}).dump());
  });
  router->Add("DELETE", "/devices/{id}", [](const Request&, const RouteParams&) {
    Response response = EmptyResponse(204);
    response.body = "a handler's mistake";
    return response;
  });
  return router;
}

class SessionTest : public LoopbackSessionTest {
 protected:
  void Serve(SessionOptions options, std::shared_ptr<const Router> router = EchoRouter()) {
    Listen(std::move(router), options);
  }

  // Reads one response; a default-constructed one (result 0) on error.
  bhttp::response<bhttp::string_body> Read(tcp::socket& socket) {
    bhttp::response<bhttp::string_body> response;
    beast::error_code ec;
    bhttp::read(socket, buffer_, response, ec);
    if (ec) return {};
    return response;
  }

  // True when the server closed the connection (EOF or reset) without sending more.
  static bool ClosedByServer(tcp::socket& socket) {
    char byte;
    beast::error_code ec;
    size_t n = socket.read_some(asio::buffer(&byte, 1), ec);
    return n == 0 && ec;
  }

  static std::string Code(const bhttp::response<bhttp::string_body>& r) {
    auto j = nlohmann::json::parse(r.body(), nullptr, false);
    if (!j.is_object()) return "<no Azure body>";
    std::string m = j["Message"];
    return m.substr(0, m.find(';'));
  }

  beast::flat_buffer buffer_;
};

TEST_F(SessionTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "GET /devices/a%2Fb?api-version=2021-04-12 HTTP/1.1\r\nHost: h\r\n\r\n");
  auto first = Read(socket);
  ASSERT_EQ(first.result_int(), 200);
  EXPECT_EQ(first[bhttp::field::content_type], "application/json; charset=utf-8");
  EXPECT_EQ(nlohmann::json::parse(first.body())["id"], "a/b");
  EXPECT_TRUE(first.keep_alive());
  Send(socket, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  auto second = Read(socket);
  ASSERT_EQ(second.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(second.body())["body"], "hello");
}

TEST_F(SessionTest, PipelinedRequestsAreAnsweredInOrder) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket,
       "GET /devices/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /devices/2 HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(nlohmann::json::parse(Read(socket).body())["id"], "1");
  EXPECT_EQ(nlohmann::json::parse(Read(socket).body())["id"], "2");
}

TEST_F(SessionTest, ConnectionCloseIsHonoured) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "GET /devices/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, NoContentAnswersCarryNoBody) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "DELETE /devices/x HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 204);
  EXPECT_TRUE(r.body().empty());
  Send(socket, "GET /devices/y HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(nlohmann::json::parse(Read(socket).body())["id"], "y");
}

TEST_F(SessionTest, ExpectContinueGetsAnInterimAnswer) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket,
       "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  auto interim = Read(socket);
  EXPECT_EQ(interim.result_int(), 100);
  Send(socket, "ok");
  auto r = Read(socket);
  ASSERT_EQ(r.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(r.body())["body"], "ok");
}

TEST_F(SessionTest, ChunkedBodyIsDecoded) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket,
       "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto r = Read(socket);
  ASSERT_EQ(r.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(r.body())["body"], "abcde");
}

TEST_F(SessionTest, UnknownRouteIs404AndTheConnectionStaysUsable) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(Read(socket).result_int(), 404);
  Send(socket, "GET /devices/x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(Read(socket).result_int(), 200);
}

TEST_F(SessionTest, DeclaredOversizeBodyIs413ThenClose) {
  Serve({.max_body_bytes = 100});
  tcp::socket socket = Connect();
  Send(socket, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(Code(r), "ErrorCode:MessageTooLarge");
  EXPECT_EQ(r[bhttp::field::content_type], "application/json; charset=utf-8");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, BodyAtTheLimitIsAccepted) {
  Serve({.max_body_bytes = 100});
  tcp::socket socket = Connect();
  Send(socket,
       "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  EXPECT_EQ(Read(socket).result_int(), 200);
}

TEST_F(SessionTest, OversizeChunkedBodyIs413) {
  Serve({.max_body_bytes = 100});
  tcp::socket socket = Connect();
  std::string chunk(60, 'x');
  Send(socket, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n" +
                   chunk + "\r\n3c\r\n" + chunk + "\r\n0\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(Code(r), "ErrorCode:MessageTooLarge");
}

TEST_F(SessionTest, OversizeHeaderIs431ThenClose) {
  Serve({.max_header_bytes = 1024});
  tcp::socket socket = Connect();
  Send(socket,
       "GET /devices/x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 431);
  EXPECT_EQ(Code(r), "ErrorCode:RequestHeaderFieldsTooLarge");
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, MalformedRequestIs400ThenClose) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "GARBAGE\r\n\r\n");
  auto r = Read(socket);
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(Code(r), "ErrorCode:ArgumentInvalid");
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, BrokenPathEscapeIs400AndTheConnectionStaysUsable) {
  Serve({});
  tcp::socket socket = Connect();
  Send(socket, "GET /devices/%zz HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(Read(socket).result_int(), 400);
  Send(socket, "GET /devices/x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(Read(socket).result_int(), 200);
}

// Asio timers run on the real clock; the timeout is short and the test waits for the close, it
// does not sleep.
TEST_F(SessionTest, IdleConnectionIsClosed) {
  Serve({.idle_timeout = 50ms});
  tcp::socket socket = Connect();
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, IdleTimeoutAppliesBetweenRequests) {
  Serve({.idle_timeout = 50ms});
  tcp::socket socket = Connect();
  Send(socket, "GET /devices/x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(Read(socket).result_int(), 200);
  EXPECT_TRUE(ClosedByServer(socket));
}

TEST_F(SessionTest, SlowBodyIsCutOffByTheReadTimeout) {
  Serve({.read_timeout = 50ms});
  tcp::socket socket = Connect();
  Send(socket, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_TRUE(ClosedByServer(socket));
}

// A simple executor with one thread, standing for the handler pool.
class ThreadExecutor final : public Executor {
 public:
  ThreadExecutor() : pool_(1) {}
  void Post(std::function<void()> task) override { pool_.executor(0).Post(std::move(task)); }
  std::thread::id thread_id() {
    std::promise<std::thread::id> id;
    pool_.executor(0).Post([&] { id.set_value(std::this_thread::get_id()); });
    return id.get_future().get();
  }

 private:
  net::ShardPool pool_;
};

TEST_F(SessionTest, HandlerExecutorRunsHandlersOffTheShardAndTheSessionResumes) {
  ThreadExecutor handlers;
  std::atomic<std::thread::id> handler_thread;
  Serve({.handler_executor = &handlers}, EchoRouter(&handler_thread));
  tcp::socket socket = Connect();
  for (int i = 0; i < 2; ++i) {
    Send(socket, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
    auto r = Read(socket);
    ASSERT_EQ(r.result_int(), 200);
    EXPECT_EQ(nlohmann::json::parse(r.body())["body"], "hi");
  }
  EXPECT_EQ(handler_thread.load(), handlers.thread_id());
}

// --- TLS ---

TEST(HttpsSessionTest, ServesRequestsOverTlsWithKeepAlive) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteSelfSignedCertificate(dir.str()));
  auto tls = net::TlsContext::CreateServer(dir.str() + "/cert.pem", dir.str() + "/key.pem");
  ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
  net::ShardPool pool(1);
  auto listener = net::Listener::Bind(pool, {.name = "https", .address = "127.0.0.1", .port = 0},
                                      HttpsAcceptHandler(*tls, EchoRouter()));
  ASSERT_TRUE(listener.has_value()) << listener.error().ToString();

  asio::io_context io;
  asio::ssl::context client_ctx(asio::ssl::context::tlsv12_client);
  client_ctx.load_verify_file(dir.str() + "/cert.pem");
  asio::ssl::stream<tcp::socket> stream(io, client_ctx);
  stream.set_verify_mode(asio::ssl::verify_peer);
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), (*listener)->port()});
  stream.handshake(asio::ssl::stream_base::client);

  beast::flat_buffer buffer;
  for (const char* id : {"one", "two"}) {
    bhttp::request<bhttp::string_body> request{bhttp::verb::get, std::string("/devices/") + id, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, request);
    bhttp::response<bhttp::string_body> response;
    bhttp::read(stream, buffer, response);
    ASSERT_EQ(response.result_int(), 200);
    EXPECT_EQ(nlohmann::json::parse(response.body())["id"], id);
  }
  beast::error_code ec;
  stream.shutdown(ec);
}

TEST(HttpsSessionTest, PlainTextOnTheTlsPortIsDropped) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteSelfSignedCertificate(dir.str()));
  auto tls = net::TlsContext::CreateServer(dir.str() + "/cert.pem", dir.str() + "/key.pem");
  ASSERT_TRUE(tls.has_value());
  net::ShardPool pool(1);
  auto listener = net::Listener::Bind(pool, {.name = "https", .address = "127.0.0.1", .port = 0},
                                      HttpsAcceptHandler(*tls, EchoRouter()));
  ASSERT_TRUE(listener.has_value());
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), (*listener)->port()});
  std::string request = "GET /devices/x HTTP/1.1\r\nHost: h\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string received;
  beast::error_code ec;
  char chunk[256];
  while (!ec) {
    size_t n = socket.read_some(asio::buffer(chunk), ec);
    received.append(chunk, n);
  }
  EXPECT_EQ(received.find("HTTP/1.1 200"), std::string::npos);
}

}  // namespace
}  // namespace iothub::http
