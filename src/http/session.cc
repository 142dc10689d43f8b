#include "http/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"
#include "base/strings.h"
#include "http/errors.h"
#include "http/websocket_stream.h"
#include "net/asio_access.h"

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::use_awaitable;
using beast::error_code;

using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

// Hands `request` to the router and completes (with the answer) on the awaiting coroutine's own
// executor, whatever thread the handler answered on: blocking handlers run on `blocking`, async
// ones answer from wherever their work finished.
template <typename Token>
auto AsyncDispatch(const Router& router, std::shared_ptr<const Request> request, Executor* blocking,
                   Token&& token) {
  return asio::async_initiate<Token, void(Response)>(
      [&router, blocking](auto handler, std::shared_ptr<const Request> request) {
        // The Responder is a copyable std::function; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        router.Dispatch(
            std::move(request),
            [shared](Response response) {
              auto resume_on = asio::get_associated_executor(*shared);
              asio::post(resume_on, [shared, response = std::move(response)]() mutable {
                (*shared)(std::move(response));
              });
            },
            blocking);
      },
      token, std::move(request));
}

// Takes the body out of `in` (bodies reach 1 MiB; the session needs only the head afterwards).
std::shared_ptr<Request> ToRequest(BeastRequest& in, Status* status) {
  auto request = std::make_shared<Request>();
  Request& out = *request;
  out.method = std::string(in.method_string());
  *status = ParseTarget(std::string_view(in.target().data(), in.target().size()), &out);
  for (const auto& field : in) {
    std::string name(field.name_string());
    std::string value(field.value());
    auto [it, inserted] = out.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;  // repeated fields fold into one list (RFC 9110)
  }
  out.body = std::move(in.body());
  return request;
}

BeastResponse ToBeast(Response in, unsigned version, bool keep_alive) {
  BeastResponse out{static_cast<bhttp::status>(in.status), version};
  out.set(bhttp::field::server, "iothub");
  for (auto& [name, value] : in.headers) out.set(name, value);
  // These statuses carry no body (RFC 9110); Beast refuses to frame one, so drop it.
  bool bodiless = in.status < 200 || in.status == 204 || in.status == 304;
  if (!bodiless) out.body() = std::move(in.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

// The answer to a request that broke the protocol or a limit; the connection closes after it.
std::optional<Response> AnswerToReadError(const error_code& ec, const SessionOptions& options) {
  if (ec == bhttp::error::body_limit) {
    return ErrorResponse(
        TooLarge("request body exceeds " + std::to_string(options.max_body_bytes) + " bytes",
                 "MessageTooLarge"));
  }
  if (ec == bhttp::error::header_limit) {
    return ErrorResponse(
        431, "RequestHeaderFieldsTooLarge",
        "request header exceeds " + std::to_string(options.max_header_bytes) + " bytes");
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return ErrorResponse(400, "ArgumentInvalid", "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;  // the peer went away or timed out: nobody to answer
}

// Connections open per listener kind, and answers by status class.
struct EndpointMetrics {
  explicit EndpointMetrics(const std::string& endpoint)
      : open(metrics::GetGauge("iothub_connections", "Client connections open.",
                               {{"endpoint", endpoint}})),
        accepted(metrics::GetCounter("iothub_connections_accepted_total",
                                     "Client connections accepted.", {{"endpoint", endpoint}})) {}
  metrics::Gauge open;
  metrics::Counter accepted;
};

const EndpointMetrics& HttpsMetrics() {
  static const EndpointMetrics m("https");
  return m;
}
const EndpointMetrics& PlainHttpMetrics() {
  static const EndpointMetrics m("http");
  return m;
}

void CountResponse(int status) {
  static const metrics::Counter by_class[] = {
      metrics::GetCounter("iothub_http_responses_total", "HTTP answers by status class.",
                          {{"code", "1xx"}}),
      metrics::GetCounter("iothub_http_responses_total", "HTTP answers by status class.",
                          {{"code", "2xx"}}),
      metrics::GetCounter("iothub_http_responses_total", "HTTP answers by status class.",
                          {{"code", "3xx"}}),
      metrics::GetCounter("iothub_http_responses_total", "HTTP answers by status class.",
                          {{"code", "4xx"}}),
      metrics::GetCounter("iothub_http_responses_total", "HTTP answers by status class.",
                          {{"code", "5xx"}}),
  };
  int index = status / 100 - 1;
  if (index >= 0 && index < 5) by_class[index].Increment();
}

// Counts a connection as open for its lifetime (the coroutine frame's).
class OpenConnection {
 public:
  explicit OpenConnection(const EndpointMetrics& m) : m_(m) {
    m_.accepted.Increment();
    m_.open.Increment();
  }
  ~OpenConnection() { m_.open.Decrement(); }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;

 private:
  const EndpointMetrics& m_;
};

bool IsWebSocketUpgrade(const Request& request) {
  auto upgrade = request.Header("Upgrade");
  return upgrade.has_value() && EqualsIgnoreCase(*upgrade, "websocket");
}

bool IsWebSocketEndpoint(const Request& request) {
  return request.segments.size() == 2 && request.segments[0] == "$iothub" &&
         EqualsIgnoreCase(request.segments[1], "websocket");
}

// A subprotocol the client offered and a front-end serves: the client's own spelling, echoed in
// the 101 answer, and the front-end's acceptor.
struct ChosenProtocol {
  std::string spelling;
  const net::StreamAcceptor* acceptor = nullptr;
};

// The first subprotocol the client offers (Sec-WebSocket-Protocol, a comma-separated list) that
// options.websocket_protocols serves; nullopt when there is none. Names are compared
// case-insensitively: the C SDK asks for "MQTT", the Node SDK for "mqtt" (PROTOCOL.md).
std::optional<ChosenProtocol> ChooseWebSocketProtocol(const Request& request,
                                                      const SessionOptions& options) {
  if (!IsWebSocketEndpoint(request)) return std::nullopt;
  std::string offered(request.Header("Sec-WebSocket-Protocol").value_or(""));
  for (std::string_view token : Split(offered, ',')) {
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    for (const auto& entry : options.websocket_protocols) {
      if (EqualsIgnoreCase(entry.first, token)) {
        return ChosenProtocol{.spelling = std::string(token), .acceptor = &entry.second};
      }
    }
  }
  return std::nullopt;
}

// An upgrade no registered front-end takes is refused with an Azure error body and the connection
// closes.
Response RefuseWebSocket(const Request& request) {
  if (!IsWebSocketEndpoint(request)) {
    return ErrorResponse(404, "ResourceNotFound", "no WebSocket endpoint at this path");
  }
  std::string protocol(request.Header("Sec-WebSocket-Protocol").value_or(""));
  if (protocol.empty()) {
    return ErrorResponse(400, "ArgumentInvalid",
                         "a WebSocket subprotocol (mqtt or AMQPWSB10) is required");
  }
  HUB_LOG_INFO("http", "refused a WebSocket upgrade for subprotocol '{}': not served", protocol);
  return ErrorResponse(501, "NotImplemented",
                       "WebSocket subprotocol '" + protocol + "' is not served by this hub yet");
}

// Writes a streamed answer: the head with chunked encoding, then every piece the BodyStream gives,
// with its heartbeat when it stays quiet for options.stream_heartbeat, until it ends or a write
// fails. The connection closes afterwards.
template <typename Stream>
asio::awaitable<void> WriteStreamed(Stream& stream, Response response, unsigned version,
                                    const SessionOptions& options) {
  std::shared_ptr<BodyStream> body = std::move(response.stream);
  // What the BodyStream delivered, and the timer to wake the waiting loop. Only touched on this
  // session's executor (pieces are posted here).
  struct Pending {
    std::optional<std::optional<std::string>> piece;
    asio::steady_timer* wake = nullptr;
  };
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  auto pending = std::make_shared<Pending>();
  pending->wake = &timer;
  // Runs however this coroutine ends, including destruction while suspended at shutdown.
  struct Finish {
    std::shared_ptr<Pending> pending;
    std::shared_ptr<BodyStream> body;
    ~Finish() {
      pending->wake = nullptr;
      body->Cancel();
    }
  } finish{pending, body};

  bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(response.status), version};
  head.set(bhttp::field::server, "iothub");
  for (auto& [name, value] : response.headers) head.set(name, value);
  head.keep_alive(false);
  head.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> serializer{head};
  error_code ec;
  beast::get_lowest_layer(stream).expires_after(options.read_timeout);
  co_await bhttp::async_write_header(stream, serializer, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  while (true) {
    pending->piece.reset();
    body->Pull([pending, executor](std::optional<std::string> piece) {
      asio::post(executor, [pending, piece = std::move(piece)]() mutable {
        pending->piece = std::move(piece);
        if (pending->wake != nullptr) pending->wake->cancel();
      });
    });
    while (!pending->piece.has_value()) {
      timer.expires_after(options.stream_heartbeat);
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      if (pending->piece.has_value() || ec) continue;  // woken by a piece (or spuriously)
      std::string heartbeat = body->Heartbeat();
      if (heartbeat.empty()) continue;
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(heartbeat)),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;  // the client is gone
    }
    if (!pending->piece->has_value()) break;  // the stream ended
    const std::string& piece = **pending->piece;
    if (piece.empty()) continue;  // an empty chunk would end the body
    beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(piece)),
                               asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
  }
  beast::get_lowest_layer(stream).expires_after(options.read_timeout);
  co_await asio::async_write(stream, bhttp::make_chunk_last(),
                             asio::redirect_error(use_awaitable, ec));
}

template <typename Stream>
asio::awaitable<void> RunSession(Stream& stream, std::shared_ptr<const Router> router,
                                 SessionOptions options) {
  beast::flat_buffer buffer;
  error_code ec;
  while (true) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser,
                                      asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      // curl asks before sending bodies over 1 KiB and would otherwise wait a second.
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
        co_await bhttp::async_write(stream, go_on, asio::redirect_error(use_awaitable, ec));
      }
    }
    if (!ec) {
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    }
    if (ec) {
      std::optional<Response> answer = AnswerToReadError(ec, options);
      if (answer) {
        CountResponse(answer->status);
        BeastResponse out = ToBeast(std::move(*answer), 11, /*keep_alive=*/false);
        beast::get_lowest_layer(stream).expires_after(options.read_timeout);
        co_await bhttp::async_write(stream, out, asio::redirect_error(use_awaitable, ec));
      }
      co_return;
    }
    BeastRequest beast_request = parser.release();
    Status parsed;
    std::shared_ptr<Request> request = ToRequest(beast_request, &parsed);
    bool keep_alive = beast_request.keep_alive();
    Response response;
    if (!parsed.ok()) {
      response = ErrorResponse(parsed);
    } else if (IsWebSocketUpgrade(*request)) {
      if (std::optional<ChosenProtocol> chosen = ChooseWebSocketProtocol(*request, options)) {
        CountResponse(101);
        // The connection is the WebSocket's now; this frame keeps `stream` alive until it is over.
        co_await ServeWebSocket(stream, std::move(beast_request), std::move(chosen->spelling),
                                *chosen->acceptor, options.read_timeout);
        co_return;
      }
      response = RefuseWebSocket(*request);
      keep_alive = false;
    } else {
      response = co_await AsyncDispatch(*router, std::move(request), options.handler_executor,
                                        use_awaitable);
    }
    CountResponse(response.status);
    if (response.stream != nullptr) {
      co_await WriteStreamed(stream, std::move(response), beast_request.version(), options);
      co_return;
    }
    BeastResponse out = ToBeast(std::move(response), beast_request.version(), keep_alive);
    beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    co_await bhttp::async_write(stream, out, asio::redirect_error(use_awaitable, ec));
    if (ec || !keep_alive) co_return;
  }
}

asio::awaitable<void> ServeTls(asio::ip::tcp::socket socket, std::shared_ptr<net::TlsContext> tls,
                               std::shared_ptr<const Router> router, SessionOptions options) {
  OpenConnection counted(HttpsMetrics());
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls->native());
  beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
  error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(use_awaitable, ec));
  if (ec) {
    HUB_LOG_DEBUG("http", "TLS handshake failed: {}", ec.message());
    co_return;
  }
  co_await RunSession(stream, std::move(router), options);
  beast::get_lowest_layer(stream).expires_after(options.read_timeout);
  co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
}

asio::awaitable<void> ServePlain(asio::ip::tcp::socket socket, std::shared_ptr<const Router> router,
                                 SessionOptions options) {
  OpenConnection counted(PlainHttpMetrics());
  beast::tcp_stream stream(std::move(socket));
  co_await RunSession(stream, std::move(router), options);
  error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace

void ServeHttps(net::TcpConnection connection, std::shared_ptr<net::TlsContext> tls,
                std::shared_ptr<const Router> router, SessionOptions options) {
  asio::ip::tcp::socket socket = std::move(net::AsioSocket(connection));
  auto executor = socket.get_executor();
  asio::co_spawn(executor, ServeTls(std::move(socket), std::move(tls), std::move(router), options),
                 asio::detached);
}

void ServeHttp(net::TcpConnection connection, std::shared_ptr<const Router> router,
               SessionOptions options) {
  asio::ip::tcp::socket socket = std::move(net::AsioSocket(connection));
  auto executor = socket.get_executor();
  asio::co_spawn(executor, ServePlain(std::move(socket), std::move(router), options),
                 asio::detached);
}

net::AcceptHandler HttpsAcceptHandler(std::shared_ptr<net::TlsContext> tls,
                                      std::shared_ptr<const Router> router,
                                      SessionOptions options) {
  return [tls = std::move(tls), router = std::move(router), options](net::TcpConnection c) {
    ServeHttps(std::move(c), tls, router, options);
  };
}

net::AcceptHandler HttpAcceptHandler(std::shared_ptr<const Router> router, SessionOptions options) {
  return [router = std::move(router), options](net::TcpConnection c) {
    ServeHttp(std::move(c), router, options);
  };
}

}  // namespace iothub::http
