#include "http/websocket_stream.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <memory>
#include <utility>

#include "base/log.h"
#include "net/listener.h"
#include "net/shards.h"

// A net::ByteStream over a Beast WebSocket. MQTT (and AMQP) over WebSockets are a byte stream cut
// into binary messages at arbitrary points: reads hand the payload bytes on as they come, with no
// regard for message boundaries; each Write is sent as one binary message.
//
// The Beast websocket object lives in ServeWebSocket's coroutine frame (which also owns the TLS or
// TCP stream under it); the ByteStream refers to it while the WebSocket is open and tells the
// coroutine when it is over and no operation is pending, so the frame may end. Per-connection
// buffers are fine here: WebSocket clients are the minority.

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using beast::error_code;

constexpr size_t kReadChunk = 16 * 1024;

template <typename Stream>
class WebSocketByteStream final : public net::ByteStream,
                                  public std::enable_shared_from_this<WebSocketByteStream<Stream>> {
 public:
  using WebSocket = websocket::stream<Stream&>;

  // `done` is cancelled once the stream is over and nothing is pending on `ws`.
  WebSocketByteStream(WebSocket& ws, size_t shard, std::string remote, asio::steady_timer& done)
      : ws_(&ws),
        executor_(ws.get_executor()),
        shard_(shard),
        remote_(std::move(remote)),
        done_(&done) {}

  bool over() const { return ws_ == nullptr; }

  // The coroutine frame is going away (normally after `done`; also when the loop is destroyed
  // at shutdown): forget it.
  void Detach() {
    state_ = State::kClosed;
    ws_ = nullptr;
    done_ = nullptr;
    linger_.reset();
  }

  void Start(std::shared_ptr<net::StreamHandler> handler) override {
    if (state_ != State::kNew) return;
    handler_ = std::move(handler);
    state_ = State::kOpen;
    asio::post(executor_, [self = this->shared_from_this()] {
      if (self->state_ != State::kOpen) return;
      self->handler_->OnOpen();
      self->StartRead();
    });
    StartWrite();  // what was written before Start
  }

  void Write(std::string_view bytes) override {
    if (bytes.empty() || state_ >= State::kClosing) return;
    output_.append(bytes);
    if (state_ == State::kOpen) StartWrite();
  }

  size_t pending_write_bytes() const override {
    // Once over, nothing more will be written (a write in flight is failing).
    return state_ == State::kClosed ? 0 : output_.size() + writing_.size();
  }

  void PauseReading() override { paused_ = true; }

  void ResumeReading() override {
    if (!paused_) return;
    paused_ = false;
    asio::post(executor_, [self = this->shared_from_this()] {
      if (self->paused_ || self->state_ != State::kOpen) return;
      self->Deliver();
      self->StartRead();
    });
  }

  void Close(Duration linger) override {
    if (state_ == State::kNew) {
      Finish("closed by the server");
      return;
    }
    if (state_ != State::kOpen) return;
    state_ = State::kClosing;
    close_reason_ = "closed by the server";
    linger_ = std::make_unique<asio::steady_timer>(executor_);
    linger_->expires_after(linger);
    linger_->async_wait([self = this->shared_from_this(), linger](error_code ec) {
      if (!ec) {
        self->Finish("closed by the server (linger " + std::to_string(linger.count()) +
                     " ms expired)");
      }
    });
    if (!write_in_flight_ && output_.empty()) SendClose();
  }

  void Abort() override { Finish("aborted by the server"); }

  size_t shard() const override { return shard_; }
  const std::string& remote_endpoint() const override { return remote_; }

 private:
  enum class State { kNew, kOpen, kClosing, kClosed };

  void StartRead() {
    if (read_in_flight_ || paused_ || state_ != State::kOpen) return;
    read_in_flight_ = true;
    ws_->async_read_some(input_, kReadChunk,
                         [self = this->shared_from_this()](error_code ec, size_t) {
                           self->read_in_flight_ = false;
                           self->OnRead(ec);
                         });
  }

  void OnRead(error_code ec) {
    if (state_ == State::kClosed) {
      MaybeDone();
      return;
    }
    if (ec == websocket::error::closed) {
      // The peer's close frame; Beast has answered it. When we started the closing, the close
      // operation finishes the stream.
      if (state_ == State::kOpen) Finish("the peer closed the WebSocket");
      return;
    }
    if (ec) {
      Finish("WebSocket read failed: " + ec.message());
      return;
    }
    if (state_ != State::kOpen) {
      input_.clear();  // closing: the close operation reads (and drops) the rest
      return;
    }
    if (!ws_->got_binary()) {
      // MQTT 3.1.1 section 6 (MQTT-6.0.0-1) and AMQP over WebSockets: binary messages only.
      Finish("a text WebSocket message (only binary messages carry the protocol)");
      return;
    }
    Deliver();
    StartRead();
  }

  void Deliver() {
    if (paused_ || state_ != State::kOpen || input_.size() == 0) return;
    auto data = input_.data();
    std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    handler_->OnData(bytes);  // may Pause, Close or Abort: all of it was delivered anyway
    input_.clear();
    input_.shrink_to_fit();
  }

  void StartWrite() {
    if (write_in_flight_ || output_.empty() || ws_ == nullptr || close_sent_ ||
        state_ == State::kClosed) {
      return;
    }
    writing_ = std::move(output_);
    output_ = std::string();
    write_in_flight_ = true;
    ws_->binary(true);
    ws_->async_write(asio::buffer(writing_), [self = this->shared_from_this()](
                                                 error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(error_code ec) {
    write_in_flight_ = false;
    std::string().swap(writing_);
    if (state_ == State::kClosed) {
      MaybeDone();
      return;
    }
    if (ec) {
      Finish("WebSocket write failed: " + ec.message());
      return;
    }
    if (!output_.empty()) {
      StartWrite();
    } else if (state_ == State::kClosing) {
      SendClose();
    } else if (state_ == State::kOpen) {
      handler_->OnDrained();
    }
  }

  // The closing handshake: our close frame, then Beast waits for the peer's and tears the
  // connection down.
  void SendClose() {
    if (close_sent_) return;
    close_sent_ = true;
    close_in_flight_ = true;
    ws_->async_close(websocket::close_code::normal,
                     [self = this->shared_from_this()](error_code ec) {
                       self->close_in_flight_ = false;
                       if (ec && ec != websocket::error::closed) {
                         self->Finish(self->close_reason_ + " (" + ec.message() + ")");
                       } else {
                         self->Finish(self->close_reason_);
                       }
                     });
  }

  // Ends the stream: closes the socket under pending operations (they complete with an error,
  // then MaybeDone lets the coroutine go) and posts OnClosed.
  void Finish(std::string why) {
    if (state_ == State::kClosed) {
      MaybeDone();
      return;
    }
    state_ = State::kClosed;
    if (linger_ != nullptr) linger_->cancel();
    linger_.reset();
    std::string().swap(output_);
    if (ws_ != nullptr && (read_in_flight_ || write_in_flight_ || close_in_flight_)) {
      error_code ignored;
      beast::get_lowest_layer(*ws_).socket().close(ignored);
    }
    if (handler_ != nullptr) {
      asio::post(executor_, [self = this->shared_from_this(), why = std::move(why)] {
        std::shared_ptr<net::StreamHandler> handler = std::move(self->handler_);
        handler->OnClosed(why);
      });
    }
    MaybeDone();
  }

  void MaybeDone() {
    if (state_ != State::kClosed || read_in_flight_ || write_in_flight_ || close_in_flight_) {
      return;
    }
    if (done_ != nullptr) done_->cancel();
    ws_ = nullptr;
    done_ = nullptr;
  }

  WebSocket* ws_;  // null once over
  asio::any_io_executor executor_;
  size_t shard_;
  std::string remote_;
  asio::steady_timer* done_;
  std::shared_ptr<net::StreamHandler> handler_;
  State state_ = State::kNew;
  bool paused_ = false;
  bool read_in_flight_ = false;
  bool write_in_flight_ = false;
  bool close_in_flight_ = false;
  bool close_sent_ = false;
  beast::flat_buffer input_;
  std::string output_;
  std::string writing_;
  std::string close_reason_;
  std::unique_ptr<asio::steady_timer> linger_;
};

std::string RemoteOf(beast::tcp_stream& lowest) {
  error_code ec;
  auto endpoint = lowest.socket().remote_endpoint(ec);
  return ec ? "?" : net::FormatHostPort(endpoint.address().to_string(), endpoint.port());
}

}  // namespace

template <typename Stream>
asio::awaitable<void> ServeWebSocket(Stream& stream,
                                     beast::http::request<beast::http::string_body> request,
                                     std::string protocol, net::StreamAcceptor acceptor,
                                     Duration handshake_timeout) {
  // From here on the WebSocket's own timeouts apply, not the HTTP session's.
  beast::get_lowest_layer(stream).expires_never();
  websocket::stream<Stream&> ws(stream);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = handshake_timeout;
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  // permessage-deflate stays off (Beast's default): the 101 carries no Sec-WebSocket-Extensions,
  // which the Node SDK's ws client requires unless the extension is implemented.
  ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& response) {
    response.set(beast::http::field::server, "iothub");
    response.set(beast::http::field::sec_websocket_protocol, protocol);
  }));
  ws.auto_fragment(false);  // one frame per Write, sent from our buffer
  error_code ec;
  co_await ws.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    HUB_LOG_DEBUG("http", "WebSocket upgrade failed: {}", ec.message());
    co_return;
  }
  asio::steady_timer done(co_await asio::this_coro::executor);
  done.expires_at(asio::steady_timer::time_point::max());
  auto byte_stream = std::make_shared<WebSocketByteStream<Stream>>(
      ws, net::ShardPool::CurrentShard().value_or(0), RemoteOf(beast::get_lowest_layer(stream)),
      done);
  // However this frame ends (also destroyed while suspended at shutdown), the stream forgets it.
  struct DetachOnExit {
    std::shared_ptr<WebSocketByteStream<Stream>> stream;
    ~DetachOnExit() { stream->Detach(); }
  } detach{byte_stream};
  HUB_LOG_DEBUG("http", "WebSocket '{}' accepted from {}", protocol,
                byte_stream->remote_endpoint());
  acceptor(byte_stream);
  while (!byte_stream->over()) {
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

template asio::awaitable<void> ServeWebSocket(TlsSessionStream&,
                                              beast::http::request<beast::http::string_body>,
                                              std::string, net::StreamAcceptor, Duration);
template asio::awaitable<void> ServeWebSocket(PlainSessionStream&,
                                              beast::http::request<beast::http::string_body>,
                                              std::string, net::StreamAcceptor, Duration);

}  // namespace iothub::http
