// The CLI's only Beast/Asio file. Calls are blocking for the caller, but each step runs as an
// asynchronous operation on a private io_context driven in 100 ms slices: Asio's synchronous
// socket calls cannot time out, and the slices let Ctrl-C and deadlines end any wait.
#include "tools/iothub/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>

namespace iothub::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using TlsStream = ssl::stream<tcp::socket>;
using Clock = std::chrono::steady_clock;

constexpr auto kSlice = std::chrono::milliseconds(100);
constexpr uint64_t kMaxResponseBody = uint64_t{64} << 20;
constexpr size_t kMaxErrorBody = size_t{1} << 20;

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

Status ConnectionError(std::string message) {
  return Unavailable(std::move(message), kConnectionError);
}

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

HttpResponse HeadOf(const http::response_header<>& header) {
  HttpResponse out;
  out.status = static_cast<int>(header.result_int());
  for (const auto& field : header) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return out;
}

}  // namespace

struct HttpsClient::Impl {
  explicit Impl(HttpsClientOptions o) : options(std::move(o)) {
    if (options.connect_host.empty()) options.connect_host = options.host_name;
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (options.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(options.ca_file, ec);
    }
    if (ec) {
      std::string what = options.ca_file.empty() ? "the system's CA certificates"
                                                 : "the CA file " + options.ca_file;
      ctx_status = InvalidArgument("cannot load " + what + ": " + ec.message(), kConfigError);
    }
  }

  bool Interrupted() const { return options.interrupted && options.interrupted(); }

  // Runs the operation `start` begins (it takes the completion handler) until it completes,
  // `timeout` passes or `stop` returns true; in the last two cases `cancel` aborts it and
  // timed_out / stopped say why.
  template <typename Start, typename Cancel, typename Stop>
  error_code Run(Start&& start, Cancel&& cancel, std::chrono::milliseconds timeout, Stop&& stop) {
    timed_out = stopped = false;
    std::optional<error_code> result;
    start([&result](error_code ec, auto&&...) { result = ec; });
    auto deadline = Clock::now() + timeout;
    bool cancelled = false;
    ioc.restart();
    while (!result) {
      ioc.run_for(kSlice);
      if (result) break;
      if (ioc.stopped()) return asio::error::operation_aborted;  // nothing left to run
      if (cancelled) continue;
      if (stop()) {
        stopped = cancelled = true;
      } else if (Clock::now() >= deadline) {
        timed_out = cancelled = true;
      }
      if (cancelled) cancel();
    }
    return *result;
  }

  template <typename Start>
  error_code RunOnStream(Start&& start, std::chrono::milliseconds timeout) {
    return RunOnStream(std::forward<Start>(start), timeout, [this] { return Interrupted(); });
  }
  template <typename Start, typename Stop>
  error_code RunOnStream(Start&& start, std::chrono::milliseconds timeout, Stop&& stop) {
    return Run(
        std::forward<Start>(start), [this] { CloseSocket(); }, timeout, std::forward<Stop>(stop));
  }

  // The Status for a failed step `what`.
  Status Failure(const std::string& what, error_code ec) {
    if (stopped) return Unavailable("interrupted", kInterrupted);
    if (timed_out) return ConnectionError(what + ": no answer within " + Seconds(options.timeout));
    return ConnectionError(what + ": " + ec.message());
  }

  std::string Where() const {
    return options.connect_host + ":" + std::to_string(options.port) +
           (options.connect_host == options.host_name ? "" : " (" + options.host_name + ")");
  }

  void CloseSocket() {
    error_code ignored;
    if (stream) stream->next_layer().close(ignored);
  }

  void Disconnect() {
    CloseSocket();
    stream.reset();
    buffer.clear();
  }

  Status Connect() {
    Disconnect();
    if (!ctx_status.ok()) return ctx_status;
    stream = std::make_unique<TlsStream>(ioc, ctx);
    SSL* native = stream->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(native);
    const std::string& name = options.host_name;
    bool name_set;
    if (IsIpLiteral(name)) {
      name_set = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
    } else {
      // SNI only for names (PROTOCOL.md, "Ports and host names").
      name_set = SSL_set_tlsext_host_name(native, name.c_str()) == 1 &&
                 X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0) == 1;
    }
    if (!name_set) {
      return InvalidArgument("'" + name + "' cannot be used as a TLS host name", kConfigError);
    }

    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    error_code ec = Run(
        [&](auto done) {
          resolver.async_resolve(options.connect_host, std::to_string(options.port),
                                 [&endpoints, done](error_code e, tcp::resolver::results_type r) {
                                   endpoints = std::move(r);
                                   done(e);
                                 });
        },
        [&] { resolver.cancel(); }, options.timeout, [this] { return Interrupted(); });
    if (ec) return Failure("cannot resolve " + options.connect_host, ec);

    ec = RunOnStream(
        [&](auto done) {
          asio::async_connect(stream->next_layer(), endpoints,
                              [done](error_code e, const tcp::endpoint&) { done(e); });
        },
        options.timeout);
    if (ec) return Failure("cannot connect to " + Where(), ec);

    ec = RunOnStream([&](auto done) { stream->async_handshake(ssl::stream_base::client, done); },
                     options.timeout);
    if (ec) {
      long verify = SSL_get_verify_result(native);
      if (!stopped && !timed_out && verify != X509_V_OK) {
        std::string hint = options.ca_file.empty()
                               ? " (trust the hub's CA with --ca FILE or --data-dir DIR)"
                               : " (is " + options.ca_file + " the hub's CA?)";
        return ConnectionError("TLS: the certificate of " + Where() + " is not trusted for '" +
                               name + "': " + X509_verify_cert_error_string(verify) + hint);
      }
      return Failure("TLS handshake with " + Where() + " failed", ec);
    }
    return Status::Ok();
  }

  std::string HostHeader() const {
    std::string host = options.host_name.find(':') != std::string::npos
                           ? "[" + options.host_name + "]"  // an IPv6 literal
                           : options.host_name;
    return options.port == 443 ? host : host + ":" + std::to_string(options.port);
  }

  // Connects when needed and writes `request`. *reused tells whether an old connection was used.
  Status Write(const HttpRequest& request, bool* reused) {
    *reused = stream != nullptr;
    if (!stream) HUB_RETURN_IF_ERROR(Connect());
    http::request<http::string_body> req;
    req.version(11);
    http::verb verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) {
      req.method_string(request.method);
    } else {
      req.method(verb);
    }
    req.target(request.target);
    req.set(http::field::host, HostHeader());
    req.set(http::field::user_agent, "iothub-cli/0.1.0");
    for (const auto& [name, value] : request.headers) req.insert(name, value);
    req.body() = request.body;
    req.prepare_payload();
    error_code ec =
        RunOnStream([&](auto done) { http::async_write(*stream, req, done); }, options.timeout);
    if (ec) {
      Status failed = Failure("sending to " + Where(), ec);
      Disconnect();
      return failed;
    }
    return Status::Ok();
  }

  Result<HttpResponse> SendOnce(const HttpRequest& request, bool* retry) {
    bool reused = false;
    *retry = false;
    Status written = Write(request, &reused);
    if (!written.ok()) {
      *retry = reused && written.reason() == kConnectionError && !timed_out;
      return written;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    error_code ec = RunOnStream([&](auto done) { http::async_read(*stream, buffer, parser, done); },
                                options.timeout);
    if (ec) {
      Status failed = Failure("reading the answer of " + Where(), ec);
      *retry = reused && !parser.got_some() && !stopped && !timed_out;
      Disconnect();
      return failed;
    }
    HttpResponse response = HeadOf(parser.get().base());
    response.body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) Disconnect();
    return response;
  }

  // Reads the rest of a (small) non-200 streamed answer into *body.
  Status ReadErrorBody(http::response_parser<http::buffer_body>& parser, std::string* body) {
    char chunk[8192];
    while (!parser.is_done() && body->size() < kMaxErrorBody) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      error_code ec =
          RunOnStream([&](auto done) { http::async_read_some(*stream, buffer, parser, done); },
                      options.timeout);
      if (ec == http::error::need_buffer) ec = {};
      body->append(chunk, sizeof chunk - parser.get().body().size);
      if (ec) return Failure("reading the answer of " + Where(), ec);
    }
    return Status::Ok();
  }

  HttpsClientOptions options;
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  Status ctx_status;
  std::unique_ptr<TlsStream> stream;  // null when not connected
  beast::flat_buffer buffer;          // bytes read past the last response
  bool timed_out = false;
  bool stopped = false;
};

HttpsClient::HttpsClient(HttpsClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpsClient::~HttpsClient() = default;

Result<HttpResponse> HttpsClient::Send(const HttpRequest& request) {
  bool retry = false;
  Result<HttpResponse> response = impl_->SendOnce(request, &retry);
  // A kept-alive connection the hub closed while idle fails before any answer: try a new one.
  if (!response && retry) response = impl_->SendOnce(request, &retry);
  return response;
}

Status HttpsClient::Stream(const HttpRequest& request, StreamHandler& handler) {
  Impl& s = *impl_;
  bool reused = false;
  Status written = s.Write(request, &reused);
  if (!written.ok() && reused && written.reason() == kConnectionError && !s.timed_out) {
    written = s.Write(request, &reused);
  }
  HUB_RETURN_IF_ERROR(written);

  http::response_parser<http::buffer_body> parser;
  // Not boost::none: Beast 1.74 compares a Content-Length against an empty optional as "over".
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  error_code ec =
      s.RunOnStream([&](auto done) { http::async_read_header(*s.stream, s.buffer, parser, done); },
                    s.options.timeout);
  if (ec) {
    Status failed = s.Failure("reading the answer of " + s.Where(), ec);
    s.Disconnect();
    return failed;
  }
  HttpResponse head = HeadOf(parser.get().base());
  if (head.status != 200) {
    Status read = s.ReadErrorBody(parser, &head.body);
    s.Disconnect();
    HUB_RETURN_IF_ERROR(read);
    handler.OnHead(head);
    return Status::Ok();
  }
  if (!handler.OnHead(head)) {
    s.Disconnect();
    return Status::Ok();
  }

  auto stop = [&] { return handler.ShouldStop() || s.Interrupted(); };
  char chunk[16384];
  while (true) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    ec = s.RunOnStream([&](auto done) { http::async_read_some(*s.stream, s.buffer, parser, done); },
                       s.options.stream_idle_timeout, stop);
    if (ec == http::error::need_buffer) ec = {};
    size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0 && !handler.OnData(std::string_view(chunk, n))) break;
    if (s.stopped) break;
    if (s.timed_out) {
      s.Disconnect();
      return ConnectionError("the event stream from " + s.Where() + " was silent for " +
                             Seconds(s.options.stream_idle_timeout));
    }
    if (ec == http::error::end_of_stream || (!ec && parser.is_done())) {
      s.Disconnect();
      return ConnectionError("the hub ended the event stream");
    }
    if (ec) {
      Status failed = s.Failure("the event stream from " + s.Where(), ec);
      s.Disconnect();
      return failed;
    }
  }
  s.Disconnect();
  return Status::Ok();
}

}  // namespace iothub::cli
