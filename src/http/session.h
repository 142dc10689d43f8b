#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "http/router.h"
#include "net/byte_stream.h"
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
  // The WebSocket subprotocols served at GET /$iothub/websocket ("mqtt" for MQTT, "AMQPWSB10" for
  // AMQP), each with the acceptor that takes an upgraded connection as a net::ByteStream. Tokens
  // are case-sensitive (RFC 6455). The first protocol in the client's Sec-WebSocket-Protocol list
  // that is registered here is chosen. The acceptor runs on the connection's shard and must Start
  // (or Close/Abort) the stream: the connection stays open until the stream is over.
  std::vector<std::pair<std::string, net::StreamAcceptor>> websocket_protocols;
};

// One HTTP/1.1 server session per accepted connection: reads requests (keep-alive, chunked bodies,
// the limits of `options`), hands each to `router`, writes the answer, until the client closes,
// asks for "Connection: close", a timeout passes, or a request breaks the limits or the syntax
// (answered with the Azure error body, then closed). Pipelined requests are answered in order.
//
// A WebSocket upgrade at /$iothub/websocket offering a subprotocol of
// options.websocket_protocols is accepted (101 naming that protocol, permessage-deflate declined)
// and the connection becomes a net::ByteStream over the WebSocket's binary messages, given to that
// protocol's acceptor; the session serves no more HTTP on it. Other upgrades are refused and the
// connection closes: 501 naming the offered protocols when none is registered, 400 when none is
// offered, 404 at any other path. A response with a
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
