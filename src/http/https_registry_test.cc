// End to end: the registry REST resources through a real TLS session on 127.0.0.1 (port 0), with
// handlers on a separate executor as the daemon will run them, and a Beast client.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "http/registry_resource.h"
#include "http/session.h"
#include "http/statistics_resource.h"
#include "net/listener.h"
#include "net/shards.h"
#include "net/tls_context.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certificate.h"

namespace iothub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using nlohmann::json;

TEST(HttpsRegistryTest, CreateGetListDeleteOverTls) {
  // The hub: registry calls do not touch the shards, so manual ones that never run suffice.
  FakeClock clock;
  storage::MemoryStore store;
  testing::ManualExecutor shard0;
  core::Hub hub({.host_name = "hub.example"}, store, clock, {&shard0});
  ASSERT_TRUE(hub.Open().ok());
  auto router = std::make_shared<Router>();
  AddRegistryRoutes(*router, hub);
  AddStatisticsRoutes(*router, hub);

  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteSelfSignedCertificate(dir.str()));
  auto tls = net::TlsContext::CreateServer(dir.str() + "/cert.pem", dir.str() + "/key.pem");
  ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
  net::ShardPool handlers(1);  // stands for the daemon's blocking pool
  net::ShardPool pool(1);
  auto listener = net::Listener::Bind(
      pool, {.name = "https", .address = "127.0.0.1", .port = 0},
      HttpsAcceptHandler(*tls, router, {.handler_executor = &handlers.executor(0)}));
  ASSERT_TRUE(listener.has_value()) << listener.error().ToString();

  asio::io_context io;
  asio::ssl::context client_ctx(asio::ssl::context::tlsv12_client);
  client_ctx.load_verify_file(dir.str() + "/cert.pem");
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, client_ctx);
  stream.set_verify_mode(asio::ssl::verify_peer);
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), (*listener)->port()});
  stream.handshake(asio::ssl::stream_base::client);

  std::string token =
      core::auth::CreateSasToken("hub.example", hub.policies().Find("iothubowner")->primary_key,
                                 clock.Now() + std::chrono::hours(1), "iothubowner");
  beast::flat_buffer buffer;
  // What the Node SDK's Registry sends (service/src/registry.ts).
  auto call = [&](bhttp::verb verb, const std::string& target, const std::string& body = "",
                  const char* if_match = nullptr) {
    bhttp::request<bhttp::string_body> request{verb, target + "?api-version=2021-04-12", 11};
    request.set(bhttp::field::host, "hub.example");
    request.set(bhttp::field::authorization, token);
    if (if_match != nullptr) request.set(bhttp::field::if_match, if_match);
    if (!body.empty()) {
      request.set(bhttp::field::content_type, "application/json; charset=utf-8");
      request.body() = body;
    }
    request.prepare_payload();
    bhttp::write(stream, request);
    bhttp::response<bhttp::string_body> response;
    bhttp::read(stream, buffer, response);
    return response;
  };

  auto created = call(bhttp::verb::put, "/devices/e2e", R"({"deviceId":"e2e"})");
  ASSERT_EQ(created.result_int(), 200) << created.body();
  EXPECT_EQ(created[bhttp::field::content_type], "application/json; charset=utf-8");
  EXPECT_EQ(json::parse(created.body())["deviceId"], "e2e");

  auto got = call(bhttp::verb::get, "/devices/e2e");
  ASSERT_EQ(got.result_int(), 200);
  EXPECT_EQ(got[bhttp::field::etag], created[bhttp::field::etag]);

  auto updated =
      call(bhttp::verb::put, "/devices/e2e", R"({"deviceId":"e2e","status":"disabled"})", "*");
  ASSERT_EQ(updated.result_int(), 200) << updated.body();
  EXPECT_EQ(json::parse(updated.body())["status"], "disabled");

  auto list = call(bhttp::verb::get, "/devices/");
  ASSERT_EQ(list.result_int(), 200);
  EXPECT_EQ(json::parse(list.body()).size(), 1u);

  auto stats = call(bhttp::verb::get, "/statistics/devices");
  EXPECT_EQ(json::parse(stats.body())["disabledDeviceCount"], 1);

  auto deleted = call(bhttp::verb::delete_, "/devices/e2e", "", "*");
  EXPECT_EQ(deleted.result_int(), 204);
  auto gone = call(bhttp::verb::get, "/devices/e2e");
  EXPECT_EQ(gone.result_int(), 404);
  EXPECT_NE(gone.body().find("ErrorCode:DeviceNotFound;"), std::string::npos) << gone.body();

  beast::error_code ec;
  stream.shutdown(ec);
  (*listener)->Close();
  pool.Stop();
  pool.Join();
  handlers.Stop();
  handlers.Join();
  hub.Close();
}

}  // namespace
}  // namespace iothub::http
