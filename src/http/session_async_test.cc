// The session's asynchronous parts over real loopback sockets: handlers answering later from
// another thread, streamed bodies with heartbeats and cancellation, WebSocket upgrade refusal.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/metrics.h"
#include "http/errors.h"
#include "http/loopback_session_test.h"
#include "http/session.h"
#include "net/listener.h"
#include "net/shards.h"

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A BodyStream fed by the test: each Pull waits for the test to Give a piece (or End).
class TestStream final : public BodyStream {
 public:
  void Pull(std::function<void(std::optional<std::string>)> next) override {
    std::lock_guard lock(mu_);
    ++pulls_;
    next_ = std::move(next);
  }
  std::string Heartbeat() const override { return ": keep-alive\n\n"; }
  void Cancel() override {
    std::lock_guard lock(mu_);
    next_ = nullptr;
    cancelled_ = true;
  }
  // Answers the pending Pull, if any; false when none was pending.
  bool Give(std::optional<std::string> piece) {
    std::function<void(std::optional<std::string>)> next;
    {
      std::lock_guard lock(mu_);
      next = std::exchange(next_, nullptr);
    }
    if (!next) return false;
    next(std::move(piece));
    return true;
  }
  bool WaitForPull(int pulls) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        if (pulls_ >= pulls && next_) return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  bool WaitForCancel() {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        if (cancelled_) return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::function<void(std::optional<std::string>)> next_;
  int pulls_ = 0;
  bool cancelled_ = false;
};

class SessionAsyncTest : public LoopbackSessionTest {
 protected:
  void Serve(std::shared_ptr<const Router> router, SessionOptions options = {}) {
    Listen(std::move(router), options);
  }
  // Reads until `text` has arrived (true) or the connection ends (false).
  bool ReadUntil(tcp::socket& socket, std::string_view text) {
    while (received_.find(text) == std::string::npos) {
      char chunk[512];
      beast::error_code ec;
      size_t n = socket.read_some(asio::buffer(chunk), ec);
      if (ec) return false;
      received_.append(chunk, n);
    }
    return true;
  }

  std::string received_;
};

TEST_F(SessionAsyncTest, AsyncHandlerAnswersLaterFromAnotherThread) {
  auto router = std::make_shared<Router>();
  std::promise<Responder> parked;
  router->AddAsync(
      "GET", "/later/{x}", [&parked](const Request&, const RouteParams& p, Responder respond) {
        EXPECT_TRUE(net::ShardPool::CurrentShard().has_value());  // started on the shard
        std::string x(p.Get("x"));
        parked.set_value(
            [respond, x](Response) { respond(JsonResponse(200, "{\"x\":\"" + x + "\"}")); });
      });
  Serve(router);
  tcp::socket socket = Connect();
  Send(socket, "GET /later/abc HTTP/1.1\r\nHost: h\r\n\r\n");
  Responder answer = parked.get_future().get();
  std::thread other([&] { answer(Response{}); });
  other.join();
  bhttp::response<bhttp::string_body> response;
  beast::flat_buffer buffer;
  bhttp::read(socket, buffer, response);
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "{\"x\":\"abc\"}");
  // The connection stays usable after an asynchronous answer.
  EXPECT_TRUE(response.keep_alive());
}

TEST_F(SessionAsyncTest, StreamedBodyArrivesPieceByPieceWithHeartbeatsAndEnds) {
  auto stream = std::make_shared<TestStream>();
  auto router = std::make_shared<Router>();
  router->Add("GET", "/events", [stream](const Request&, const RouteParams&) {
    Response response;
    response.headers.emplace("Content-Type", "text/event-stream");
    response.stream = stream;
    return response;
  });
  Serve(router, {.stream_heartbeat = 50ms});
  tcp::socket socket = Connect();
  Send(socket, "GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(ReadUntil(socket, "\r\n\r\n"));
  EXPECT_NE(received_.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(received_.find("Transfer-Encoding: chunked"), std::string::npos);
  ASSERT_TRUE(stream->WaitForPull(1));
  ASSERT_TRUE(ReadUntil(socket, ": keep-alive"));  // quiet: a heartbeat
  ASSERT_TRUE(stream->Give("data: one\n\n"));
  ASSERT_TRUE(ReadUntil(socket, "data: one\n\n"));
  ASSERT_TRUE(stream->WaitForPull(2));
  ASSERT_TRUE(stream->Give("data: two\n\n"));
  ASSERT_TRUE(ReadUntil(socket, "data: two\n\n"));
  ASSERT_TRUE(stream->WaitForPull(3));
  ASSERT_TRUE(stream->Give(std::nullopt));
  ASSERT_TRUE(ReadUntil(socket, "0\r\n\r\n"));  // the last chunk
  EXPECT_FALSE(ReadUntil(socket, "never"));     // and the server closes
  EXPECT_TRUE(stream->WaitForCancel());
}

TEST_F(SessionAsyncTest, StreamIsCancelledWhenTheClientGoesAway) {
  auto stream = std::make_shared<TestStream>();
  auto router = std::make_shared<Router>();
  router->Add("GET", "/events", [stream](const Request&, const RouteParams&) {
    Response response;
    response.stream = stream;
    return response;
  });
  Serve(router, {.stream_heartbeat = 20ms});
  {
    tcp::socket socket = Connect();
    Send(socket, "GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(ReadUntil(socket, "\r\n\r\n"));
    ASSERT_TRUE(stream->WaitForPull(1));
  }  // closed: the next heartbeat write fails
  EXPECT_TRUE(stream->WaitForCancel());
}

TEST_F(SessionAsyncTest, WebSocketUpgradeIsRefusedWithAnAzureErrorAndClose) {
  auto router = std::make_shared<Router>();
  Serve(router);
  const std::string upgrade =
      "GET /$iothub/websocket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n";
  struct Case {
    std::string extra;
    int status;
    std::string code;
  };
  for (const Case& c : {Case{"Sec-WebSocket-Protocol: mqtt\r\n", 501, "NotImplemented"},
                        Case{"", 400, "ArgumentInvalid"}}) {
    tcp::socket socket = Connect();
    Send(socket, upgrade + c.extra + "\r\n");
    bhttp::response<bhttp::string_body> response;
    beast::flat_buffer buffer;
    bhttp::read(socket, buffer, response);
    EXPECT_EQ(response.result_int(), c.status);
    auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(std::string(body["Message"]).rfind("ErrorCode:" + c.code + ";", 0), 0u)
        << response.body();
    EXPECT_FALSE(response.keep_alive());
  }
}

TEST_F(SessionAsyncTest, OpenConnectionsAndAnswersAreCounted) {
  metrics::Gauge open = metrics::GetGauge("iothub_connections", "", {{"endpoint", "http"}});
  metrics::Counter not_found =
      metrics::GetCounter("iothub_http_responses_total", "", {{"code", "4xx"}});
  double open_before = open.Value();
  double not_found_before = not_found.Value();
  Serve(std::make_shared<Router>());
  {
    tcp::socket socket = Connect();
    Send(socket, "GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(ReadUntil(socket, "ResourceNotFound"));
    EXPECT_EQ(open.Value(), open_before + 1);
    EXPECT_EQ(not_found.Value(), not_found_before + 1);
  }
  for (int i = 0; i < 500 && open.Value() != open_before; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(open.Value(), open_before);
}

}  // namespace
}  // namespace iothub::http
