#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tools/iothub/transport.h"

namespace iothub::cli {

struct HttpsClientOptions {
  // The hub's name: the Host header, SNI (only for names, never IP literals, as the SDKs do) and
  // the name the certificate must carry (a DNS: or IP: SAN).
  std::string host_name;
  // Where to connect (name or IP literal); empty means host_name. Lets a test reach a hub whose
  // HostName does not resolve to where it listens.
  std::string connect_host;
  uint16_t port = 443;
  // PEM file of the CA(s) to trust; empty means the system's default trust store.
  std::string ca_file;
  // Longest wait for a connect, a TLS handshake, or any read or write of a plain request.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  // Longest silence on a stream (Transport::Stream) before it counts as lost. The hub sends
  // keep-alive comments on idle streams well within this.
  std::chrono::milliseconds stream_idle_timeout = std::chrono::seconds(120);
  // Polled about every 100 ms during any wait; true abandons the call (kInterrupted).
  std::function<bool()> interrupted;
};

// Transport over HTTPS (TLS 1.2+, certificate and host name verified) with Boost.Beast. Keeps one
// keep-alive connection and reconnects when needed; a request that fails on a reused connection
// before any answer arrived (the hub closed an idle connection) is sent once more on a new one.
// Beast and Asio stay inside https_client.cc. Thread: one thread uses an instance.
class HttpsClient final : public Transport {
 public:
  explicit HttpsClient(HttpsClientOptions options);
  ~HttpsClient() override;
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  Result<HttpResponse> Send(const HttpRequest& request) override;
  Status Stream(const HttpRequest& request, StreamHandler& handler) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iothub::cli
