#pragma once

#include <cstddef>
#include <memory>

#include "base/clock.h"
#include "base/executor.h"
#include "http/router.h"
#include "net/listener.h"
#include "net/tls_context.h"

namespace iothub::http {

struct SessionOptions {
  // Request line + headers. Beyond: 431 and the connection closes.
  size_t max_header_bytes = 16 * 1024;
  // Decoded body (after de-chunking). Beyond (or a larger Content-Length): 413 MessageTooLarge
  // and the connection closes. D2C batches are at most 256 KiB; registry bulk imports need more.
  size_t max_body_bytes = 1024 * 1024;
  // How long a connection may wait for the next request's header, including the first (and the
  // TLS handshake). Then it is closed without an answer.
  Duration idle_timeout = std::chrono::seconds(120);
  // Once a header is in: how long reading its body, and writing the answer, may take.
  Duration read_timeout = std::chrono::seconds(30);
  // A streamed answer (BodyStream) that stays quiet this long gets its heartbeat written, so a
  // client that went away is noticed.
  Duration stream_heartbeat = std::chrono::seconds(15);
  // When set, blocking handlers (Router::Add) run there (they may block on the store) and the
  // session resumes on its shard afterwards; when null, they run inline on the shard thread
  // (tests, or a router whose handlers never block). Asynchronous handlers (Router::AddAsync)
  // always start on the shard. Must outlive every session.
  Executor* handler_executor = nullptr;
};

// One HTTP/1.1 server session per accepted connection: reads requests (keep-alive, chunked bodies,
// the limits of `options`), hands each to `router`, writes the answer, until the client closes,
// asks for "Connection: close", a timeout passes, or a request breaks the limits or the syntax
// (answered with the Azure error body, then closed). Pipelined requests are answered in order.
//
// A request to upgrade to WebSocket is refused (501 at /$iothub/websocket until the MQTT and AMQP
// front-ends take such streams, 404 elsewhere) and the connection closes. A response with a
// BodyStream is sent with chunked encoding as the stream produces it; the connection closes after
// it.
//
// Runs on the connection's shard: call from the Listener's accept handler. The session owns the
// connection; `router` (and whatever its handlers refer to) must outlive it. No exceptions leave
// it: I/O errors end the session quietly.
void ServeHttps(net::TcpConnection connection, std::shared_ptr<net::TlsContext> tls,
                std::shared_ptr<const Router> router, SessionOptions options);
// The same over plain TCP, for the optional plain listener behind a TLS-terminating proxy.
void ServeHttp(net::TcpConnection connection, std::shared_ptr<const Router> router,
               SessionOptions options);

// Accept handlers for net::Listener::Bind wrapping the two above.
net::AcceptHandler HttpsAcceptHandler(std::shared_ptr<net::TlsContext> tls,
                                      std::shared_ptr<const Router> router,
                                      SessionOptions options = {});
net::AcceptHandler HttpAcceptHandler(std::shared_ptr<const Router> router,
                                     SessionOptions options = {});

}  // namespace iothub::http
