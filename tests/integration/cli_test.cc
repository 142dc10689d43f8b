// The `iothub` CLI (IOTHUB_CLI_PATH) end to end against a real iothubd on its own loopback
// address: it finds the hub through --data-dir / the environment / --connection-string, connects
// with --host while verifying the certificate for HostName, and drives the registry, C2D,
// feedback and telemetry. The device side of the C2D and telemetry cases is curl with a device
// token. Cases whose REST resource the hub does not serve yet (404 ResourceNotFound) skip.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "tests/integration/https_fixture.h"
#include "tests/integration/hub_process.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

#ifdef IOTHUB_CLI_PATH

constexpr int kExitOk = 0, kExitConfig = 3, kExitConnection = 4, kExitUnauthorized = 5,
              kExitNotFound = 6, kExitConflict = 7, kExitRejected = 8, kExitNegativeFeedback = 11;

struct CliResult {
  int exit = -1;
  std::string out;
  std::string err;
};

// `dir`/cli-N: where the Nth run of the CLI keeps its output.
std::string NextCapturePrefix(const std::string& dir) {
  static int counter = 0;
  return dir + "/cli-" + std::to_string(++counter);
}

std::vector<std::string> WithCli(std::vector<std::string> args) {
  // The environment's IOTHUB_TEST_CLI when set (scripts/test: the release build's), else the
  // build's own.
  const char* cli = std::getenv("IOTHUB_TEST_CLI");
  args.insert(args.begin(), cli != nullptr && *cli != '\0' ? cli : IOTHUB_CLI_PATH);
  return args;
}

// One run of the CLI, its output captured to files under `dir`. The destructor kills it if still
// running.
class CliProcess : public ChildProcess {
 public:
  // `env`: NAME=VALUE entries replacing the test's own IOTHUB_CONNECTION_STRING (always removed).
  CliProcess(std::vector<std::string> args, const std::vector<std::string>& env,
             const std::string& dir)
      : ChildProcess(WithCli(std::move(args)), NextCapturePrefix(dir),
                     {.set = env, .unset = {"IOTHUB_CONNECTION_STRING"}}) {}

  // The result once it exited; exit -1 when still running after `limit`.
  CliResult Wait(std::chrono::milliseconds limit) {
    return {.exit = WaitForExit(limit).value_or(-1), .out = out(), .err = err()};
  }
};

bool NotServed(const CliResult& r) {
  return r.exit == kExitNotFound && r.err.find("ResourceNotFound") != std::string::npos;
}

#define SKIP_UNLESS_SERVED(result)                                                \
  if (NotServed(result)) {                                                        \
    GTEST_SKIP() << "the hub does not serve this resource yet: " << (result).err; \
  }

// The hub of https_fixture.h, with feedback batched after 50 ms instead of 15 s.
class CliTest : public HttpsTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--feedback-batch-interval-ms", "50"};
  }

  // iothub --data-dir DATA --host ADDRESS:PORT args...
  CliResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data(), "--host", where()});
    return CliRaw(std::move(args));
  }
  CliResult CliRaw(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    CliProcess cli(std::move(args), env, dir_.str());
    return cli.Wait(30s);
  }

  // Creates `id` and returns its primary key.
  std::string CreateDevice(const std::string& id) {
    CliResult created = Cli({"device", "create", id, "--json"});
    EXPECT_EQ(created.exit, kExitOk) << created.err;
    auto device = Json::parse(created.out, nullptr, false);
    if (!device.is_object()) return {};
    return device["authentication"]["symmetricKey"]["primaryKey"].get<std::string>();
  }

  // curl as device `id` (a device-scoped token), trusting only the hub's CA. `path` may carry a
  // query ("...?reject").
  CurlResult DeviceCurl(const std::string& method, const std::string& path, const std::string& id,
                        const std::string& key, const std::string& body = {},
                        const std::string& extra_header = {}) {
    std::string token = core::auth::CreateSasToken(std::string(kHost) + "/devices/" + id, key,
                                                   SystemClock::Instance().Now() + 1h);
    std::ostringstream args;
    args << "-X " << method << " '" << BaseUrl() << path
         << (path.find('?') == std::string::npos ? '?' : '&')
         << "api-version=2021-04-12' -H 'Authorization: " << token << "'";
    if (!extra_header.empty()) args << " -H '" << extra_header << "'";
    if (!body.empty() || method == "POST") args << " --data-binary '" << body << "'";
    return RunCurl(args.str());
  }

  // The device's next C2D message (waits up to 10 s); status 0 when none came.
  CurlResult ReceiveC2d(const std::string& id, const std::string& key) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    CurlResult got;
    while (std::chrono::steady_clock::now() < deadline) {
      got = DeviceCurl("GET", "/devices/" + id + "/messages/devicebound", id, key);
      if (got.status != 204) return got;
      std::this_thread::sleep_for(100ms);  // polling, as the device SDK does
    }
    return {};
  }

  static std::string LockOf(const CurlResult& received) {
    std::string etag = received.Header("ETag");
    if (etag.size() >= 2 && etag.front() == '"') etag = etag.substr(1, etag.size() - 2);
    return etag;
  }
};

TEST_F(CliTest, DeviceLifecycle) {
  CliResult created = Cli({"device", "create", "d1"});
  ASSERT_EQ(created.exit, kExitOk) << created.err;
  EXPECT_NE(created.out.find("Device d1\n"), std::string::npos) << created.out;
  EXPECT_NE(created.out.find("status:               enabled"), std::string::npos);

  CliResult shown = Cli({"device", "show", "d1", "--json"});
  ASSERT_EQ(shown.exit, kExitOk) << shown.err;
  Json device = Json::parse(shown.out);
  EXPECT_EQ(device["deviceId"], "d1");
  std::string key = device["authentication"]["symmetricKey"]["primaryKey"].get<std::string>();
  EXPECT_EQ(key.size(), 44u);

  CliResult listed = Cli({"device", "list"});
  ASSERT_EQ(listed.exit, kExitOk) << listed.err;
  EXPECT_NE(listed.out.find("\nd1 "), std::string::npos) << listed.out;

  CliResult disabled = Cli({"device", "disable", "d1", "--reason", "maintenance"});
  ASSERT_EQ(disabled.exit, kExitOk) << disabled.err;
  EXPECT_EQ(disabled.out, "Device d1 is disabled.\n");
  Json after = Json::parse(Cli({"device", "show", "d1", "--json"}).out);
  EXPECT_EQ(after["status"], "disabled");
  EXPECT_EQ(after["statusReason"], "maintenance");
  EXPECT_EQ(after["authentication"]["symmetricKey"]["primaryKey"], key);

  CliResult stats = Cli({"stats", "--json"});
  ASSERT_EQ(stats.exit, kExitOk) << stats.err;
  EXPECT_EQ(Json::parse(stats.out)["disabledDeviceCount"], 1);

  CliResult enabled = Cli({"device", "enable", "d1"});
  ASSERT_EQ(enabled.exit, kExitOk) << enabled.err;
  EXPECT_EQ(enabled.out, "Device d1 is enabled.\n");

  CliResult cs = Cli({"device", "connection-string", "d1"});
  ASSERT_EQ(cs.exit, kExitOk) << cs.err;
  EXPECT_EQ(cs.out, "HostName=hub.example.test;DeviceId=d1;SharedAccessKey=" + key + "\n");

  CliResult human_stats = Cli({"stats"});
  ASSERT_EQ(human_stats.exit, kExitOk) << human_stats.err;
  EXPECT_NE(human_stats.out.find("devices:    1 (1 enabled, 0 disabled)"), std::string::npos)
      << human_stats.out;

  CliResult deleted = Cli({"device", "delete", "d1"});
  ASSERT_EQ(deleted.exit, kExitOk) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted device d1.\n");

  CliResult gone = Cli({"device", "show", "d1"});
  EXPECT_EQ(gone.exit, kExitNotFound);
  EXPECT_NE(gone.err.find("iothub: DeviceNotFound: "), std::string::npos) << gone.err;
  EXPECT_EQ(gone.err.find('\n'), gone.err.size() - 1) << "one line: " << gone.err;
}

// The token `device token` prints is what a device presents: the hub takes it as the device's.
TEST_F(CliTest, DeviceTokenAuthenticatesTheDevice) {
  ASSERT_FALSE(CreateDevice("d1").empty());
  CliResult token = Cli({"device", "token", "d1", "--ttl", "600"});
  ASSERT_EQ(token.exit, kExitOk) << token.err;
  ASSERT_EQ(token.out.find('\n'), token.out.size() - 1) << "one line: " << token.out;
  EXPECT_EQ(token.out.rfind("SharedAccessSignature sr=hub.example.test%2Fdevices%2Fd1&", 0), 0u)
      << token.out;
  CurlResult sent = RunCurl("-X POST '" + BaseUrl() +
                            "/devices/d1/messages/events?api-version=2021-04-12' -H "
                            "'Authorization: " +
                            token.out.substr(0, token.out.size() - 1) + "' --data-binary 'hi'");
  EXPECT_EQ(sent.status, 204) << sent.body;

  CliResult unknown = Cli({"device", "token", "d9"});
  EXPECT_EQ(unknown.exit, kExitNotFound);
  EXPECT_NE(unknown.err.find("DeviceNotFound"), std::string::npos) << unknown.err;
}

TEST_F(CliTest, RegistryRefusalsHaveTheirExitCodes) {
  ASSERT_EQ(Cli({"device", "create", "d1"}).exit, kExitOk);
  CliResult again = Cli({"device", "create", "d1"});
  EXPECT_EQ(again.exit, kExitConflict);
  EXPECT_NE(again.err.find("DeviceAlreadyExists"), std::string::npos) << again.err;

  CliResult stale = Cli({"device", "delete", "d1", "--etag", "not-the-etag"});
  EXPECT_EQ(stale.exit, kExitConflict) << stale.err;

  CliResult bad_id = Cli({"device", "create", "a b"});
  EXPECT_EQ(bad_id.exit, kExitRejected) << bad_id.err;
}

TEST_F(CliTest, FindsTheHubThroughTheEnvironmentWithCaOption) {
  ASSERT_EQ(Cli({"device", "create", "env-device"}).exit, kExitOk);
  CliResult listed =
      CliRaw({"device", "list", "--json", "--host", where(), "--ca", data() + "/tls/ca.pem"},
             {"IOTHUB_CONNECTION_STRING=" + owner_});
  ASSERT_EQ(listed.exit, kExitOk) << listed.err;
  EXPECT_EQ(Json::parse(listed.out).at(0)["deviceId"], "env-device");
}

TEST_F(CliTest, PolicyWithoutRegistryWriteIsUnauthorized) {
  CliResult refused = Cli({"--policy", "registryRead", "device", "create", "d1"});
  EXPECT_EQ(refused.exit, kExitUnauthorized) << refused.err;
  EXPECT_NE(refused.err.find("IotHubUnauthorizedAccess"), std::string::npos) << refused.err;
}

TEST_F(CliTest, WrongKeyIsUnauthorized) {
  std::string forged = owner_.substr(0, owner_.find("SharedAccessKey=")) +
                       "SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  CliResult refused = CliRaw(
      {"--connection-string", forged, "--ca", data() + "/tls/ca.pem", "--host", where(), "stats"});
  EXPECT_EQ(refused.exit, kExitUnauthorized) << refused.err;
}

TEST_F(CliTest, UntrustedCertificateIsAClearTlsError) {
  // The system's trust store does not know the hub's own CA.
  CliResult untrusted = CliRaw({"--connection-string", owner_, "--host", where(), "stats"});
  EXPECT_EQ(untrusted.exit, kExitConnection);
  EXPECT_NE(untrusted.err.find("not trusted"), std::string::npos) << untrusted.err;

  // The right CA, but a HostName the certificate does not name.
  std::string elsewhere = "HostName=other.example.test" + owner_.substr(owner_.find(';'));
  CliResult mismatch = CliRaw({"--connection-string", elsewhere, "--ca", data() + "/tls/ca.pem",
                               "--host", where(), "stats"});
  EXPECT_EQ(mismatch.exit, kExitConnection);
  EXPECT_NE(mismatch.err.find("other.example.test"), std::string::npos) << mismatch.err;
}

TEST_F(CliTest, NoHubOrNoListenerHaveTheirExitCodes) {
  CliResult nothing = CliRaw({"stats"});
  EXPECT_EQ(nothing.exit, kExitConfig);
  EXPECT_NE(nothing.err.find("--connection-string"), std::string::npos) << nothing.err;

  CliResult closed = CliRaw({"--data-dir", data(), "--host",
                             address_ + ":" + std::to_string(FreePort(address_)), "stats"});
  EXPECT_EQ(closed.exit, kExitConnection);
  EXPECT_NE(closed.err.find("cannot connect"), std::string::npos) << closed.err;
}

TEST_F(CliTest, C2dSendReachesTheDeviceAndFeedbackComesBack) {
  std::string key = CreateDevice("d1");
  CliResult sent = Cli({"c2d", "send", "d1", "hello device", "--message-id", "m1", "--ack", "full",
                        "--property", "color=blue", "--ttl", "600"});
  SKIP_UNLESS_SERVED(sent);
  ASSERT_EQ(sent.exit, kExitOk) << sent.err;
  EXPECT_NE(sent.out.find("Sent message m1 to d1 (sequence number "), std::string::npos)
      << sent.out;

  CurlResult received = ReceiveC2d("d1", key);
  if (received.status == 404) GTEST_SKIP() << "device transport not served: " << received.body;
  ASSERT_EQ(received.status, 200) << received.body;
  EXPECT_EQ(received.body, "hello device");
  EXPECT_EQ(received.Header("iothub-app-color"), "blue");
  EXPECT_EQ(received.Header("iothub-messageid"), "m1");
  CurlResult completed =
      DeviceCurl("DELETE", "/devices/d1/messages/devicebound/" + LockOf(received), "d1", key);
  ASSERT_EQ(completed.status, 204) << completed.body;

  // Feedback is batched (50 ms here): poll with the one-shot form until it shows.
  Json record;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (record.is_null() && std::chrono::steady_clock::now() < deadline) {
    CliResult feedback = Cli({"feedback", "receive", "--json"});
    SKIP_UNLESS_SERVED(feedback);
    ASSERT_EQ(feedback.exit, kExitOk) << feedback.err;
    std::istringstream lines(feedback.out);
    for (std::string line; std::getline(lines, line);) {
      Json json = Json::parse(line);
      if (json["originalMessageId"] == "m1") record = json;
    }
    if (record.is_null()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(record.is_null()) << "no feedback record for m1";
  EXPECT_EQ(record["statusCode"], "Success");
  EXPECT_EQ(record["deviceId"], "d1");
  EXPECT_EQ(Cli({"feedback", "receive"}).out, "No feedback records.\n") << "it was completed";
}

// The README's walk-through: send, the device completes (or rejects), the CLI prints the record.
TEST_F(CliTest, WaitFeedbackPrintsTheMatchingRecord) {
  std::string key = CreateDevice("d1");
  for (const char* outcome : {"complete", "reject"}) {
    SCOPED_TRACE(outcome);
    CliProcess waiting({"--data-dir", data(), "--host", where(), "c2d", "send", "d1", "ping",
                        "--ack", "full", "--wait-feedback", "--timeout", "20"},
                       {}, dir_.str());
    CurlResult received = ReceiveC2d("d1", key);
    CliResult early = waiting.Wait(0ms);
    SKIP_UNLESS_SERVED(early);
    if (received.status == 404) GTEST_SKIP() << "device transport not served: " << received.body;
    ASSERT_EQ(received.status, 200) << received.body << early.err;
    std::string message_id = received.Header("iothub-messageid");
    EXPECT_EQ(message_id.size(), 36u) << "the CLI generates a message id: " << message_id;
    std::string settle = "/devices/d1/messages/devicebound/" + LockOf(received);
    if (std::string(outcome) == "reject") settle += "?reject";
    CurlResult settled = DeviceCurl("DELETE", settle, "d1", key);
    ASSERT_EQ(settled.status, 204) << settled.body;

    CliResult done = waiting.Wait(25s);
    if (std::string(outcome) == "complete") {
      ASSERT_EQ(done.exit, kExitOk) << done.err;
      EXPECT_NE(done.out.find("Feedback: "), std::string::npos) << done.out;
      EXPECT_NE(done.out.find("Success"), std::string::npos) << done.out;
    } else {
      EXPECT_EQ(done.exit, kExitNegativeFeedback) << done.err;
      EXPECT_NE(done.out.find("Rejected"), std::string::npos) << done.out;
    }
    EXPECT_NE(done.out.find("message " + message_id), std::string::npos) << done.out;
  }
}

TEST_F(CliTest, PurgeEmptiesTheQueue) {
  CreateDevice("d1");
  for (const char* body : {"one", "two"}) {
    CliResult sent = Cli({"c2d", "send", "d1", body});
    SKIP_UNLESS_SERVED(sent);
    ASSERT_EQ(sent.exit, kExitOk) << sent.err;
  }
  CliResult purged = Cli({"c2d", "purge", "d1"});
  SKIP_UNLESS_SERVED(purged);
  ASSERT_EQ(purged.exit, kExitOk) << purged.err;
  EXPECT_EQ(purged.out, "Purged 2 messages from the queue of d1.\n");

  CliResult unknown = Cli({"c2d", "send", "nobody", "x"});
  EXPECT_EQ(unknown.exit, kExitNotFound);
  EXPECT_NE(unknown.err.find("DeviceNotFound"), std::string::npos) << unknown.err;
}

TEST_F(CliTest, MonitorPrintsTelemetryWithItsProperties) {
  std::string key1 = CreateDevice("d1");
  std::string key2 = CreateDevice("d2");
  CurlResult sent1 = DeviceCurl("POST", "/devices/d1/messages/events", "d1", key1,
                                R"({"temperature":21})", "iothub-app-alert: no");
  if (sent1.status == 404) GTEST_SKIP() << "device transport not served: " << sent1.body;
  ASSERT_EQ(sent1.status, 204) << sent1.body;
  CurlResult sent2 = DeviceCurl("POST", "/devices/d2/messages/events", "d2", key2, "from d2",
                                "iothub-app-alert: yes");
  ASSERT_EQ(sent2.status, 204) << sent2.body;

  CliResult all = Cli({"monitor", "--from", "start", "--count", "2", "--timeout", "10"});
  SKIP_UNLESS_SERVED(all);
  ASSERT_EQ(all.exit, kExitOk) << all.err;
  EXPECT_NE(all.out.find("  body: {\"temperature\":21}\n"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("  properties: alert=no\n"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("  body: from d2\n"), std::string::npos) << all.out;

  CliResult one = Cli({"monitor", "--from", "start", "--device", "d2", "--count", "1", "--timeout",
                       "10", "--json"});
  ASSERT_EQ(one.exit, kExitOk) << one.err;
  Json event = Json::parse(one.out);
  EXPECT_EQ(event["deviceId"], "d2");
  EXPECT_EQ(event["bodyText"], "from d2");
  EXPECT_EQ(event["properties"]["alert"], "yes");
}

TEST_F(CliTest, MonitorFollowsLiveEventsAndStopsOnCtrlC) {
  std::string key = CreateDevice("d1");
  CliProcess monitor({"--data-dir", data(), "--host", where(), "monitor", "--json"}, {},
                     dir_.str());
  // Keep sending until the monitor (which starts at the end) shows one.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (monitor.out().empty() && std::chrono::steady_clock::now() < deadline) {
    CliResult early = monitor.Wait(0ms);
    SKIP_UNLESS_SERVED(early);
    ASSERT_EQ(early.exit, -1) << early.err;
    CurlResult sent = DeviceCurl("POST", "/devices/d1/messages/events", "d1", key, "live");
    if (sent.status == 404) GTEST_SKIP() << "device transport not served: " << sent.body;
    ASSERT_EQ(sent.status, 204) << sent.body;
    std::this_thread::sleep_for(200ms);
  }
  monitor.Signal(SIGINT);
  CliResult done = monitor.Wait(5s);
  EXPECT_EQ(done.exit, kExitOk) << done.err;
  ASSERT_FALSE(done.out.empty());
  EXPECT_EQ(Json::parse(done.out.substr(0, done.out.find('\n')))["bodyText"], "live");
}

#else  // !IOTHUB_CLI_PATH

TEST(CliTest, NeedsTheCli) { GTEST_SKIP() << "built without tools/iothub (the iothub target)"; }

#endif

}  // namespace
}  // namespace iothub::testing
