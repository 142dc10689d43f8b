// A real iothubd's HTTPS endpoint under bad input, spoken by curl and by raw (TLS) sockets: each
// mistake gets its status and Azure error body, nothing is half-done, and other clients keep
// being served meanwhile. Also the device transport, /metrics and the WebSocket refusal as curl
// sees them.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/https_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

std::string ErrorCode(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("Message")) return "<no Azure error body: " + body + ">";
  std::string message = j["Message"];
  if (message.rfind("ErrorCode:", 0) != 0) return "<no ErrorCode: " + body + ">";
  return message.substr(10, message.find(';') - 10);
}

// Runs a shell command; its stdout.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

class HttpsBadInputTest : public HttpsTest {
 protected:
  // Creates `id` and returns a device token for it.
  std::string CreateDeviceToken(const std::string& id) {
    CurlResult created =
        Curl("PUT", "/devices/" + id, owner_token_, R"({"deviceId":")" + id + "\"}");
    EXPECT_EQ(created.status, 200) << created.body;
    auto j = nlohmann::json::parse(created.body, nullptr, false);
    if (!j.is_object()) return "";
    std::string key = j["authentication"]["symmetricKey"]["primaryKey"];
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/" + id, key,
                                      SystemClock::Instance().Now() + 1h);
  }

  int RawTcpConnect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    ::inet_pton(AF_INET, address_.c_str(), &addr.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }
};

TEST_F(HttpsBadInputTest, RegistryMistakesGetTheirStatusAndAzureCode) {
  CurlResult malformed = Curl("PUT", "/devices/d1", owner_token_, R"({"deviceId":)");
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  EXPECT_EQ(ErrorCode(malformed.body), "ArgumentInvalid");

  CurlResult bad_id = Curl("PUT", "/devices/bad%23id", owner_token_, R"({"deviceId":"bad#id"})");
  EXPECT_EQ(bad_id.status, 400) << bad_id.body;
  std::string long_id(129, 'a');
  CurlResult too_long =
      Curl("PUT", "/devices/" + long_id, owner_token_, R"({"deviceId":")" + long_id + "\"}");
  EXPECT_EQ(too_long.status, 400) << too_long.body;

  ASSERT_EQ(Curl("PUT", "/devices/d1", owner_token_, R"({"deviceId":"d1"})").status, 200);
  CurlResult again = Curl("PUT", "/devices/d1", owner_token_, R"({"deviceId":"d1"})");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(ErrorCode(again.body), "DeviceAlreadyExists");
  CurlResult stale = Curl("PUT", "/devices/d1", owner_token_, R"({"deviceId":"d1"})",
                          "If-Match: \"not-the-etag\"");
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(ErrorCode(stale.body), "PreconditionFailed");
  CurlResult stale_delete = Curl("DELETE", "/devices/d1", owner_token_, {}, "If-Match: \"nope\"");
  EXPECT_EQ(stale_delete.status, 412) << stale_delete.body;
  EXPECT_EQ(Curl("GET", "/devices/d1", owner_token_).status, 200);  // still there
}

TEST_F(HttpsBadInputTest, BadTokensAreRefusedWith401) {
  auto strings = nlohmann::json::parse(ReadFile(data() + "/connection-strings.json"));
  auto owner = core::auth::ParseConnectionString(strings.at("iothubowner").get<std::string>());
  ASSERT_TRUE(owner.has_value());
  std::string expired = core::auth::CreateSasToken(
      kHost, owner->shared_access_key, SystemClock::Instance().Now() - 1min, "iothubowner");
  CurlResult r = Curl("GET", "/devices/", expired);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(ErrorCode(r.body), "IotHubUnauthorizedAccess");
  EXPECT_EQ(Curl("GET", "/devices/", "SharedAccessSignature garbage").status, 401);

  // A device's own token reaches its transport, never the registry.
  std::string device_token = CreateDeviceToken("d1");
  EXPECT_EQ(Curl("GET", "/devices/d1", device_token).status, 401);
  EXPECT_EQ(Curl("PUT", "/devices/d2", device_token, R"({"deviceId":"d2"})").status, 401);
  EXPECT_EQ(Curl("GET", "/devices/d1/messages/devicebound", device_token).status, 204);
  // ... and only its own device's.
  CreateDeviceToken("d2");
  EXPECT_EQ(Curl("GET", "/devices/d2/messages/devicebound", device_token).status, 401);
  // registryRead cannot write.
  auto reader = core::auth::ParseConnectionString(strings.at("registryRead").get<std::string>());
  ASSERT_TRUE(reader.has_value());
  std::string read_token = core::auth::CreateSasToken(
      kHost, reader->shared_access_key, SystemClock::Instance().Now() + 1h, "registryRead");
  EXPECT_EQ(Curl("GET", "/devices/d1", read_token).status, 200);
  EXPECT_EQ(Curl("DELETE", "/devices/d1", read_token, {}, "If-Match: *").status, 401);
}

TEST_F(HttpsBadInputTest, OversizeBodyIs413AndTheHubKeepsServing) {
  std::string big = dir_.str() + "/big.json";
  {
    std::ofstream out(big);
    out << R"({"deviceId":"big","x":")" << std::string(1536 * 1024, 'x') << "\"}";
  }
  std::string status = Shell("curl -sS -o " + dir_.str() + "/big-answer -w '%{http_code}' " +
                             CurlTrust() + " -X PUT -H 'Authorization: " + owner_token_ +
                             "' -H 'Content-Type: application/json' --data-binary @" + big + " '" +
                             BaseUrl() + "/devices/big' 2>/dev/null");
  EXPECT_EQ(status, "413");
  EXPECT_EQ(ErrorCode(ReadFile(dir_.str() + "/big-answer")), "MessageTooLarge");
  EXPECT_EQ(Curl("GET", "/devices/big", owner_token_).status, 404);
  EXPECT_EQ(Curl("GET", "/statistics/devices", owner_token_).status, 200);
}

TEST_F(HttpsBadInputTest, SlowAndTruncatedClientsDoNotStopOthers) {
  // Twenty connections that never start TLS, held open throughout.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(RawTcpConnect());
  // On one TLS connection: a whole request, then one cut off in the middle of its body, then the
  // connection closed. (The token goes in as a printf argument: it holds '%'.)
  std::string whole = R"({"deviceId":"whole"})";
  Shell(
      "printf 'PUT /devices/whole HTTP/1.1\\r\\nHost: h\\r\\nAuthorization: %s\\r\\n"
      "Content-Length: " +
      std::to_string(whole.size()) + "\\r\\n\\r\\n" + whole +
      "PUT /devices/cut HTTP/1.1\\r\\nHost: h\\r\\nAuthorization: %s\\r\\n"
      "Content-Length: 100\\r\\n\\r\\n{\"deviceId\":' '" +
      owner_token_ + "' '" + owner_token_ +
      "' | timeout 10 openssl s_client -quiet -no_ign_eof -connect " + address_ + ":" +
      std::to_string(port_) + " -servername " + kHost + " >/dev/null 2>&1");
  EXPECT_EQ(Curl("GET", "/devices/whole", owner_token_).status, 200);
  // Garbage instead of a TLS handshake.
  int garbage = RawTcpConnect();
  EXPECT_GT(::write(garbage, "GET / HTTP/1.1\r\n\r\n", 18), 0);
  // Everyone else is served at once, and nothing was half-created.
  CurlResult ok = Curl("GET", "/devices/cut", owner_token_);
  EXPECT_EQ(ok.status, 404) << ok.body;
  EXPECT_EQ(Curl("PUT", "/devices/d1", owner_token_, R"({"deviceId":"d1"})").status, 200);
  ::close(garbage);
  for (int fd : idle) ::close(fd);
}

TEST_F(HttpsBadInputTest, DeviceTransportWithCurl) {
  std::string token = CreateDeviceToken("d1");
  CurlResult sent =
      Curl("POST", "/devices/d1/messages/events", token, R"({"t":21})", "iothub-app-unit: celsius");
  EXPECT_EQ(sent.status, 204) << sent.body;
  CurlResult batch = Curl("POST", "/devices/d1/messages/events", token, R"([{"body":"e30="}])",
                          "Content-Type: application/vnd.microsoft.iothub.json");
  EXPECT_EQ(batch.status, 204) << batch.body;
  CurlResult broken = Curl("POST", "/devices/d1/messages/events", token, R"([{"body":)",
                           "Content-Type: application/vnd.microsoft.iothub.json");
  EXPECT_EQ(broken.status, 400) << broken.body;
  EXPECT_EQ(Curl("GET", "/devices/d1/messages/devicebound", token).status, 204);
  CurlResult stale = Curl("DELETE", "/devices/d1/messages/devicebound/no-such-lock", token);
  EXPECT_EQ(stale.status, 412) << stale.body;

  // /metrics counts what happened, without a token.
  CurlResult scraped = Curl("GET", "/metrics", "");
  ASSERT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.body.find("iothub_connections_accepted_total{endpoint=\"https\"}"),
            std::string::npos)
      << scraped.body;
  EXPECT_NE(scraped.body.find("iothub_devices{status=\"enabled\"} 1"), std::string::npos);
  // Two records landed (the single message and the batch of one): next offsets sum to 2.
  size_t total = 0;
  for (size_t at = scraped.body.find("iothub_telemetry_next_offset{"); at != std::string::npos;
       at = scraped.body.find("iothub_telemetry_next_offset{", at + 1)) {
    size_t value = scraped.body.find("} ", at);
    total += std::stoul(scraped.body.substr(value + 2));
  }
  EXPECT_EQ(total, 2u);
  EXPECT_NE(
      scraped.body.find("iothub_messages_received_total{endpoint=\"https\",kind=\"telemetry\"} 2"),
      std::string::npos);
  EXPECT_NE(scraped.body.find("iothub_store_write_seconds_count{sync=\"true\"}"),
            std::string::npos);
}

// MQTT and AMQP are served at /$iothub/websocket (mqtt_paho_test.cc, amqp_bad_input_test.cc);
// another subprotocol, and an upgrade naming none, are refused.
TEST_F(HttpsBadInputTest, WebSocketUpgradeForAnUnservedProtocolIsRefused) {
  auto upgrade = [&](const std::string& protocol_header) {
    return Shell("curl -sS -o /dev/null -w '%{http_code}' " + CurlTrust() +
                 " --http1.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' "
                 "-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: "
                 "dGhlIHNhbXBsZSBub25jZQ==' " +
                 protocol_header + " '" + BaseUrl() + "/$iothub/websocket' 2>/dev/null");
  };
  EXPECT_EQ(upgrade("-H 'Sec-WebSocket-Protocol: v12.stomp'"), "501");
  EXPECT_EQ(upgrade(""), "400");
}

}  // namespace
}  // namespace iothub::testing
