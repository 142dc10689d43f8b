// The service side of a real iothubd's HTTPS endpoint with curl: C2D send and its limits, the
// device receiving and completing over HTTP, the feedback record that follows, purge, telemetry
// reads, a live Server-Sent Events stream, and consumer-group checkpoints.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tests/integration/https_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class HttpsServiceTest : public HttpsTest {
 protected:
  // Feedback batches go out 200 ms after their first record.
  std::vector<std::string> ExtraArgs() const override {
    return {"--feedback-batch-interval-ms", "200"};
  }

  std::string CreateDeviceToken(const std::string& id) {
    CurlResult created =
        Curl("PUT", "/devices/" + id, owner_token_, R"({"deviceId":")" + id + "\"}");
    EXPECT_EQ(created.status, 200) << created.body;
    auto j = json::parse(created.body, nullptr, false);
    if (!j.is_object()) return "";
    std::string key = j["authentication"]["symmetricKey"]["primaryKey"];
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/" + id, key,
                                      SystemClock::Instance().Now() + 1h);
  }

  // curl with -i: the status line and headers are part of the body.
  CurlResult CurlWithHeaders(const std::string& method, const std::string& path,
                             const std::string& token) {
    return CurlWith(method, path, token, {}, {}, "-i");
  }

  // Polls until `path` answers other than 204, up to `limit`.
  CurlResult PollUntilContent(const std::string& path, const std::string& token,
                              std::chrono::seconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    CurlResult r;
    do {
      r = CurlWithHeaders("GET", path, token);
      if (r.status != 204) return r;
      std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < until);
    return r;
  }

  static std::string HeaderValue(const std::string& response, const std::string& name) {
    std::string lower = response;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string key = "\n" + name + ": ";
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find(key);
    if (at == std::string::npos) return "";
    size_t start = at + key.size();
    return response.substr(start, response.find('\r', start) - start);
  }
  static std::string Body(const std::string& response) {
    size_t at = response.find("\r\n\r\n");
    return at == std::string::npos ? "" : response.substr(at + 4);
  }
};

TEST_F(HttpsServiceTest, C2dSendReceiveCompleteThenFeedback) {
  std::string device = CreateDeviceToken("d1");
  CurlResult sent =
      CurlWith("POST", "/devices/d1/messages/deviceBound", owner_token_, "hello",
               {"Content-Type: text/plain", "IoTHub-MessageId: m1", "IoTHub-CorrelationId: c1",
                "IoTHub-Ack: full", "iothub-app-color: red"});
  ASSERT_EQ(sent.status, 201) << sent.body;
  EXPECT_EQ(json::parse(sent.body).at("messageId"), "m1");

  CurlResult got = CurlWithHeaders("GET", "/devices/d1/messages/devicebound", device);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got.body), "hello");
  EXPECT_EQ(HeaderValue(got.body, "iothub-messageid"), "m1");
  EXPECT_EQ(HeaderValue(got.body, "iothub-correlationid"), "c1");
  EXPECT_EQ(HeaderValue(got.body, "iothub-app-color"), "red");
  std::string etag = HeaderValue(got.body, "ETag");
  ASSERT_GE(etag.size(), 3u);
  std::string lock = etag.substr(1, etag.size() - 2);
  EXPECT_EQ(Curl("DELETE", "/devices/d1/messages/devicebound/" + lock, device).status, 204);

  CurlResult feedback =
      PollUntilContent("/messages/serviceBound/feedback", owner_token_, std::chrono::seconds(10));
  ASSERT_EQ(feedback.status, 200) << feedback.body;
  auto records = json::parse(Body(feedback.body));
  ASSERT_EQ(records.size(), 1u) << feedback.body;
  EXPECT_EQ(records[0].at("originalMessageId"), "m1");
  EXPECT_EQ(records[0].at("statusCode"), "Success");
  EXPECT_EQ(records[0].at("deviceId"), "d1");
  std::string feedback_etag = HeaderValue(feedback.body, "ETag");
  std::string feedback_lock = feedback_etag.substr(1, feedback_etag.size() - 2);
  EXPECT_EQ(Curl("DELETE", "/messages/serviceBound/feedback/" + feedback_lock, owner_token_).status,
            204);
  EXPECT_EQ(Curl("GET", "/messages/serviceBound/feedback", owner_token_).status, 204);
}

TEST_F(HttpsServiceTest, QueueLimitUnknownDeviceAndPurge) {
  CreateDeviceToken("d1");
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Curl("POST", "/devices/d1/messages/deviceBound", owner_token_, "m").status, 201) << i;
  }
  CurlResult full = Curl("POST", "/devices/d1/messages/deviceBound", owner_token_, "m");
  EXPECT_EQ(full.status, 403) << full.body;
  EXPECT_NE(full.body.find("ErrorCode:DeviceMaximumQueueDepthExceeded;"), std::string::npos);
  EXPECT_EQ(Curl("POST", "/devices/nobody/messages/deviceBound", owner_token_, "m").status, 404);
  CurlResult purged = Curl("DELETE", "/devices/d1/commands", owner_token_);
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(json::parse(purged.body).at("totalMessagesPurged"), 50);
  EXPECT_EQ(Curl("POST", "/devices/d1/messages/deviceBound", owner_token_, "m").status, 201);
}

TEST_F(HttpsServiceTest, TelemetryReadStreamAndCheckpoint) {
  std::string device = CreateDeviceToken("d1");
  // Follow live before sending: curl -N prints the SSE stream as it comes, for 4 s.
  std::string stream_out = dir_.str() + "/sse";
  auto follower = std::async(std::launch::async, [&] {
    std::string cmd = "curl -sS -N --max-time 4 " + CurlTrust() +
                      " -H 'Authorization: " + owner_token_ + "' '" + BaseUrl() +
                      "/messages/events?deviceId=d1' > " + stream_out + " 2>/dev/null";
    return std::system(cmd.c_str());
  });
  std::this_thread::sleep_for(1s);  // the stream starts at "end": let it subscribe first
  ASSERT_EQ(
      Curl("POST", "/devices/d1/messages/events", device, R"({"t":1})", "iothub-app-unit: celsius")
          .status,
      204);
  ASSERT_EQ(Curl("POST", "/devices/d1/messages/events", device, R"({"t":2})").status, 204);
  follower.wait();
  std::string sse = ReadFile(stream_out);
  size_t first = sse.find("\"bodyText\":\"{\\\"t\\\":1}\"");
  size_t second = sse.find("\"bodyText\":\"{\\\"t\\\":2}\"");
  EXPECT_NE(first, std::string::npos) << sse;
  EXPECT_NE(second, std::string::npos) << sse;
  EXPECT_LT(first, second);
  EXPECT_NE(sse.find("\"unit\":\"celsius\""), std::string::npos) << sse;
  EXPECT_NE(sse.find("event: message"), std::string::npos);

  // The same two by reading their partition from the start.
  auto info = json::parse(Curl("GET", "/messages/events/partitions", owner_token_).body);
  int partition = -1;
  for (const auto& p : info.at("partitions")) {
    if (p.at("nextOffset") == 2) partition = p.at("partition");
  }
  ASSERT_GE(partition, 0) << info.dump();
  std::string base = "/messages/events/partitions/" + std::to_string(partition);
  auto read = json::parse(Curl("GET", base + "?from=start", owner_token_).body);
  ASSERT_EQ(read.at("events").size(), 2u) << read.dump();
  EXPECT_EQ(read.at("events")[0].at("deviceId"), "d1");
  EXPECT_EQ(read.at("nextOffset"), 2);

  // A checkpoint after the first; reading from it gives only the second.
  EXPECT_EQ(Curl("PUT", "/messages/events/consumerGroups/g1", owner_token_).status, 201);
  EXPECT_EQ(Curl("PUT",
                 "/messages/events/consumerGroups/g1/partitions/" + std::to_string(partition) +
                     "/checkpoint",
                 owner_token_, R"({"offset":1})")
                .status,
            204);
  auto resumed =
      json::parse(Curl("GET", base + "?from=checkpoint&consumerGroup=g1", owner_token_).body);
  ASSERT_EQ(resumed.at("events").size(), 1u) << resumed.dump();
  EXPECT_EQ(resumed.at("events")[0].at("offset"), 1);
  // A device token reads no telemetry.
  EXPECT_EQ(Curl("GET", base + "?from=start", device).status, 401);
}

}  // namespace
}  // namespace iothub::testing
