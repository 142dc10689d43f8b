#pragma once

// The one header of src/net that exposes Asio, for the protocol front-ends (src/mqtt, src/amqp,
// src/http) that run their sessions on Asio sockets. Everything else uses the small headers
// (shards.h, listener.h, tls_context.h). Include it only from .cc files: Asio is slow to compile.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/listener.h"
#include "net/shards.h"

namespace iothub::net {

// Shard `shard`'s event loop; create sockets and timers of that shard on it.
boost::asio::io_context& IoContext(ShardPool& pool, size_t shard);

// The Asio socket inside an accepted connection (bound to IoContext(pool, connection.shard())).
// Move it out to own it: `auto socket = std::move(AsioSocket(connection));`.
boost::asio::ip::tcp::socket& AsioSocket(TcpConnection& connection);

}  // namespace iothub::net
