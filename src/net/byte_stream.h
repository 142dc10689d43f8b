#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "net/listener.h"
#include "net/tls_context.h"

namespace iothub::net {

// What a ByteStream tells its user. Every call runs on the stream's shard thread.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // The stream is ready (TLS handshake done, WebSocket accepted): writes may begin. Called once,
  // before any OnData.
  virtual void OnOpen() {}
  // Bytes arrived, in order. `bytes` is valid only during the call (it may point into a buffer
  // shared by every connection of the shard).
  virtual void OnData(std::string_view bytes) = 0;
  // Every byte written so far has been handed to the OS (the stream holds no output).
  virtual void OnDrained() {}
  // The stream is over: the peer closed, an I/O error, a failed handshake, or Close()/Abort()
  // finished. `why` is for the log. Called exactly once (also when OnOpen never came); nothing
  // follows it, and the stream drops its reference to the handler.
  virtual void OnClosed(std::string_view why) = 0;
};

// A bidirectional byte stream with the transport hidden: TLS over TCP, plain TCP, or the binary
// messages of a WebSocket (MQTT and AMQP over WebSockets arrive on the HTTPS listener). Protocol
// front-ends are written against it and never see Asio.
//
// Made for many idle connections: while nothing is buffered a stream holds no read or write
// buffer (reads land in a per-shard scratch buffer; the TLS stream lets OpenSSL release its record
// buffers, SSL_MODE_RELEASE_BUFFERS).
//
// Thread: every method runs on the stream's shard thread (shard()); so do the handler's calls.
class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Starts the stream (handshake first, where there is one), then reads until closed or paused.
  // The stream keeps `handler` until it calls OnClosed. Call once.
  virtual void Start(std::shared_ptr<StreamHandler> handler) = 0;

  // Queues `bytes` for writing, in order, after what was queued before. Ignored once closing.
  virtual void Write(std::string_view bytes) = 0;
  // Bytes queued and not yet handed to the OS (for backpressure: stop producing above a limit).
  virtual size_t pending_write_bytes() const = 0;

  // Stops and resumes reading from the peer (backpressure). Paused, no OnData comes; the OS
  // buffers, then TCP flow control slows the peer.
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;

  // Writes what is queued (at most `linger` more), then closes (TLS: close_notify; WebSocket: a
  // close frame); OnClosed follows. Idempotent.
  virtual void Close(Duration linger = std::chrono::seconds(5)) = 0;
  // Closes at once, dropping queued output; OnClosed follows. Idempotent.
  virtual void Abort() = 0;

  virtual size_t shard() const = 0;
  // "127.0.0.1:50312": for logs.
  virtual const std::string& remote_endpoint() const = 0;
};

// Takes over an accepted connection as a TLS server stream (TlsContext's settings). The TLS
// handshake must finish within `handshake_timeout`, else the stream closes (OnClosed, no OnOpen).
// Call on the connection's shard (from the Listener's accept handler).
std::shared_ptr<ByteStream> MakeTlsStream(TcpConnection connection, std::shared_ptr<TlsContext> tls,
                                          Duration handshake_timeout = std::chrono::seconds(10));
// Plain TCP (the optional development listeners). OnOpen comes at once.
std::shared_ptr<ByteStream> MakePlainStream(TcpConnection connection);

// Something that takes a new stream and serves a protocol on it (calls Start). Runs on the
// stream's shard. The MQTT front-end offers one for 8883, 1883 and WebSockets.
using StreamAcceptor = std::function<void(std::shared_ptr<ByteStream>)>;

}  // namespace iothub::net
