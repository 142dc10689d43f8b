#pragma once

// A test base for the session tests: a one-shard pool serving a router over plain HTTP on
// 127.0.0.1 (port 0), and raw client sockets to talk to it.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string_view>

#include "http/session.h"
#include "net/listener.h"
#include "net/shards.h"

namespace iothub::http {

class LoopbackSessionTest : public ::testing::Test {
 protected:
  void Listen(std::shared_ptr<const Router> router, SessionOptions options) {
    auto listener = net::Listener::Bind(pool_, {.name = "http", .address = "127.0.0.1", .port = 0},
                                        HttpAcceptHandler(std::move(router), options));
    ASSERT_TRUE(listener.has_value()) << listener.error().ToString();
    listener_ = std::move(*listener);
  }

  boost::asio::ip::tcp::socket Connect() {
    boost::asio::ip::tcp::socket socket(client_io_);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), listener_->port()});
    return socket;
  }

  static void Send(boost::asio::ip::tcp::socket& socket, std::string_view bytes) {
    boost::asio::write(socket, boost::asio::buffer(bytes.data(), bytes.size()));
  }

  net::ShardPool pool_{1};
  std::unique_ptr<net::Listener> listener_;
  boost::asio::io_context client_io_;
};

}  // namespace iothub::http
