#pragma once

// Internal to iothub_http_session: included only by session.cc and websocket_stream.cc, the two
// translation units that include Beast anyway. Not for front-ends (they see net::ByteStream).

#include <utility>  // before Asio 1.74's awaitable.hpp, which uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <string>

#include "base/clock.h"
#include "net/byte_stream.h"

namespace iothub::http {

using TlsSessionStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using PlainSessionStream = boost::beast::tcp_stream;

// Accepts the WebSocket upgrade `request` on `stream` (a session's TLS or plain stream, whose
// request was just read), answering 101 with "Sec-WebSocket-Protocol: `protocol`" and without
// extensions (permessage-deflate declined), then hands `acceptor` a net::ByteStream over the
// WebSocket's binary messages and returns only once that stream is over, so the caller's frame
// (which owns `stream`) outlives it. The opening and closing handshakes must each finish within
// `handshake_timeout`; an open WebSocket has no idle timeout (the protocol above keeps alive).
// Runs on the connection's shard. Bytes the client sent after the request and before the 101
// are not expected (RFC 6455 4.1) and are dropped.
template <typename Stream>
boost::asio::awaitable<void> ServeWebSocket(
    Stream& stream, boost::beast::http::request<boost::beast::http::string_body> request,
    std::string protocol, net::StreamAcceptor acceptor, Duration handshake_timeout);

extern template boost::asio::awaitable<void> ServeWebSocket(
    TlsSessionStream&, boost::beast::http::request<boost::beast::http::string_body>, std::string,
    net::StreamAcceptor, Duration);
extern template boost::asio::awaitable<void> ServeWebSocket(
    PlainSessionStream&, boost::beast::http::request<boost::beast::http::string_body>, std::string,
    net::StreamAcceptor, Duration);

}  // namespace iothub::http
