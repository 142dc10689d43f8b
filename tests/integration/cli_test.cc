// The `iothub` CLI (IOTHUB_CLI_PATH) end to end against a real iothubd on its own loopback
// address: it finds the hub through --data-dir / the environment / --connection-string, connects
// with --host while verifying the certificate for HostName, and drives the registry, C2D,
// feedback and telemetry. The device side of the C2D and telemetry cases is curl with a device
// token. Cases whose REST resource the hub does not serve yet (404 ResourceNotFound) skip.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

#ifdef IOTHUB_CLI_PATH

constexpr char kHost[] = "hub.example.test";
constexpr int kExitOk = 0, kExitConfig = 3, kExitConnection = 4, kExitUnauthorized = 5,
              kExitNotFound = 6, kExitConflict = 7, kExitRejected = 8, kExitNegativeFeedback = 11;

struct CliResult {
  int exit = -1;
  std::string out;
  std::string err;
};

// One run of the CLI, its output captured to files. The destructor kills it if still running.
class CliProcess {
 public:
  // `env`: NAME=VALUE entries replacing the test's own IOTHUB_CONNECTION_STRING (always removed).
  CliProcess(std::vector<std::string> args, const std::vector<std::string>& env,
             const std::string& dir) {
    static int counter = 0;
    std::string base = dir + "/cli-" + std::to_string(++counter);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    args.insert(args.begin(), IOTHUB_CLI_PATH);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> vars = env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("IOTHUB_CONNECTION_STRING=", 0) != 0) vars.push_back(*e);
    }
    std::vector<char*> envp;
    envp.reserve(vars.size() + 1);
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    started_ = posix_spawn(&pid_, IOTHUB_CLI_PATH, &actions, &attr, argv.data(), envp.data()) == 0;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }

  ~CliProcess() {
    if (started_ && !exit_) {
      ::kill(pid_, SIGKILL);
      int wstatus;
      ::waitpid(pid_, &wstatus, 0);
    }
  }

  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // The result once it exited; exit -1 (and the process killed) when still running after `limit`.
  CliResult Wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (started_ && !exit_) {
      int wstatus;
      if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        exit_ = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(10ms);  // polling a child process
    }
    return {.exit = exit_.value_or(-1), .out = ReadFile(out_path_), .err = ReadFile(err_path_)};
  }

  void Signal(int signal) { ::kill(pid_, signal); }
  std::string out() const { return ReadFile(out_path_); }

 private:
  pid_t pid_ = -1;
  bool started_ = false;
  std::optional<int> exit_;
  std::string out_path_;
  std::string err_path_;
};

struct CurlResult {
  int status = 0;
  std::string body;
  std::string headers;

  // A response header's value ("" when absent), name matched case-insensitively.
  std::string Header(const std::string& name) const {
    std::istringstream lines(headers);
    std::string line;
    while (std::getline(lines, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos || colon != name.size()) continue;
      if (strncasecmp(line.c_str(), name.c_str(), name.size()) != 0) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
    return {};
  }
};

bool NotServed(const CliResult& r) {
  return r.exit == kExitNotFound && r.err.find("ResourceNotFound") != std::string::npos;
}

#define SKIP_UNLESS_SERVED(result)                                                \
  if (NotServed(result)) {                                                        \
    GTEST_SKIP() << "the hub does not serve this resource yet: " << (result).err; \
  }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = RandomLoopbackAddress();
    port_ = FreePort(address_);
    hub_ = std::make_unique<HubProcess>(
        std::vector<std::string>{"--data-dir", data(), "--hostname", kHost, "--bind", address_,
                                 "--mqtt-port", "0", "--amqp-port", "0", "--https-port",
                                 std::to_string(port_), "--shards", "2",
                                 "--feedback-batch-interval-ms", "50"},
        dir_.str());
    ASSERT_TRUE(hub_->WaitUntilReady()) << hub_->err();
    auto strings = Json::parse(ReadFile(data() + "/connection-strings.json"));
    owner_ = strings.at("iothubowner").get<std::string>();
  }

  void TearDown() override {
    if (!hub_) return;
    hub_->Signal(SIGTERM);
    EXPECT_EQ(hub_->WaitForExit(5s), std::optional<int>(0)) << hub_->err();
  }

  std::string data() const { return dir_.str() + "/data"; }
  std::string where() const { return address_ + ":" + std::to_string(port_); }

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
    std::string out = dir_.str() + "/curl-body", head = dir_.str() + "/curl-head";
    std::ostringstream cmd;
    cmd << "curl -sS -o " << out << " -D " << head << " -w '%{http_code}' --max-time 10 --cacert "
        << data() << "/tls/ca.pem --resolve " << kHost << ":" << port_ << ":" << address_ << " -X "
        << method << " 'https://" << kHost << ":" << port_ << path
        << (path.find('?') == std::string::npos ? '?' : '&')
        << "api-version=2021-04-12' -H 'Authorization: " << token << "'";
    if (!extra_header.empty()) cmd << " -H '" << extra_header << "'";
    if (!body.empty() || method == "POST") cmd << " --data-binary '" << body << "'";
    CurlResult result;
    FILE* pipe = popen((cmd.str() + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return result;
    char buf[256];
    std::string printed;
    while (fgets(buf, sizeof buf, pipe) != nullptr) printed += buf;
    pclose(pipe);
    result.status = std::atoi(printed.c_str());
    result.body = ReadFile(out);
    result.headers = ReadFile(head);
    return result;
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

  TempDir dir_;
  std::string address_;
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::string owner_;
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
