#include "tests/compat/node_sdk.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#ifndef IOTHUB_COMPAT_DIR
#error "IOTHUB_COMPAT_DIR (the tests/compat folder) must be defined by CMake"
#endif

namespace iothub::testing {

using nlohmann::json;
using namespace std::chrono_literals;

std::filesystem::path CompatDir() { return IOTHUB_COMPAT_DIR; }

std::string NodeSdkProblem(const std::vector<std::string>& packages) {
  if (std::system("command -v node >/dev/null 2>&1") != 0) {
    return "`node` is not on PATH: run scripts/setup-node";
  }
  for (const std::string& package : packages) {
    if (!std::filesystem::exists(CompatDir() / "node_modules" / package / "package.json")) {
      return "tests/compat/node_modules/" + package + " is missing: run scripts/setup-node";
    }
  }
  if (geteuid() != 0 &&
      std::atoi(ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start").c_str()) > 443) {
    return "the Node SDK only speaks HTTPS on port 443, which needs root, CAP_NET_BIND_SERVICE "
           "or sysctl net.ipv4.ip_unprivileged_port_start<=443";
  }
  return "";
}

std::string Port443Hub::Start(const std::string& dir, const std::vector<std::string>& extra_args,
                              uint16_t mqtt_port, uint16_t amqp_port) {
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    data_ = dir + "/data-" + std::to_string(attempt);
    address_ = RandomLoopbackAddress();
    std::vector<std::string> args{"--data-dir",   data_,
                                  "--hostname",   address_,
                                  "--bind",       address_,
                                  "--https-port", "443",
                                  "--mqtt-port",  std::to_string(mqtt_port),
                                  "--amqp-port",  std::to_string(amqp_port)};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<HubProcess>(std::move(args), dir);
    if (process_->WaitUntilReady()) return "";
    last_error = "iothubd did not start on " + address_ + ":443" +
                 (mqtt_port != 0 ? ", :" + std::to_string(mqtt_port) : std::string()) +
                 (amqp_port != 0 ? ", :" + std::to_string(amqp_port) : std::string()) + ": " +
                 process_->err();
    process_.reset();
  }
  return last_error;
}

std::string Port443Hub::Stop() {
  if (!process_) return "iothubd is not running";
  process_->Signal(SIGTERM);
  if (process_->WaitForExit(10s) != std::optional<int>(0)) {
    return "iothubd did not stop cleanly: " + process_->err();
  }
  return "";
}

json Port443Hub::ConnectionStrings() const {
  return json::parse(ReadFile(data_ + "/connection-strings.json"), nullptr, false);
}

NodeRun RunNodeScript(const std::string& script, std::vector<std::string> args,
                      const std::string& ca, const std::string& capture_prefix,
                      std::chrono::milliseconds limit) {
  args.insert(args.begin(), {"node", (CompatDir() / script).string()});
  ChildProcess node(std::move(args), capture_prefix, {.set = {"NODE_EXTRA_CA_CERTS=" + ca}});
  NodeRun run;
  run.exit = node.WaitForExit(limit);
  run.out = node.out();
  run.err = node.err();
  run.json = json::parse(run.out, nullptr, false);
  return run;
}

json SuiteRun::Step(const char* step) const {
  auto it = results.find(step);
  return it == results.end() ? json{{"ok", false}, {"error", "step missing from the output"}} : *it;
}

SuiteRun RunSuiteScript(const std::string& script, const std::vector<std::string>& packages,
                        const std::vector<std::string>& hub_args,
                        const std::map<std::string, std::string>& config, uint16_t mqtt_port,
                        uint16_t amqp_port, std::chrono::milliseconds limit, std::string* log) {
  SuiteRun run;
  run.error = NodeSdkProblem(packages);
  if (!run.error.empty()) return run;
  TempDir dir;
  Port443Hub hub;
  run.error = hub.Start(dir.str(), hub_args, mqtt_port, amqp_port);
  if (!run.error.empty()) return run;
  json strings = hub.ConnectionStrings();
  json config_json = json::object();
  for (const auto& [key, name] : config) {
    if (!strings.is_object() || !strings.contains(name)) {
      run.error = "no " + name + " connection string in " + hub.data();
      return run;
    }
    config_json[key] = strings[name];
  }
  std::string config_path = dir.str() + "/config.json";
  std::ofstream(config_path) << config_json.dump();
  NodeRun node = RunNodeScript(script, {config_path}, hub.ca(), dir.str() + "/node", limit);
  if (log != nullptr) *log = hub.process().err();
  if (!node.json.is_object() || node.json.contains("fatal")) {
    run.error = script + " failed (exit " + (node.exit ? std::to_string(*node.exit) : "none") +
                "): " + node.out + node.err + "\nhub stderr: " + hub.process().err();
  } else {
    run.results = std::move(node.json);
  }
  std::string stopped = hub.Stop();
  if (!stopped.empty()) run.error += stopped;
  return run;
}

std::string CliPath() {
  // scripts/test runs the reference scenario against the release build's CLI so.
  if (const char* cli = std::getenv("IOTHUB_TEST_CLI"); cli != nullptr && *cli != '\0') return cli;
#ifdef IOTHUB_CLI_PATH
  return IOTHUB_CLI_PATH;
#else
  const char* path = std::getenv("IOTHUB_CLI_PATH");
  return path == nullptr ? "" : path;
#endif
}

std::string CliProblem() {
  if (CliPath().empty() || !std::filesystem::exists(CliPath())) {
    return "the iothub CLI was not found: IOTHUB_CLI_PATH (CMake definition or environment) is '" +
           CliPath() + "'";
  }
  return "";
}

SuiteHub::SuiteHub(std::string problem, const std::vector<std::string>& hub_args,
                   uint16_t mqtt_port, uint16_t amqp_port)
    : error(std::move(problem)) {
  if (error.empty()) error = hub.Start(dir.str(), hub_args, mqtt_port, amqp_port);
}

std::string SuiteHub::Stop() { return error.empty() ? hub.Stop() : ""; }

std::unique_ptr<ChildProcess> SuiteHub::StartCli(std::vector<std::string> args,
                                                 const std::string& name) {
  args.insert(args.begin(), {CliPath(), "--data-dir", hub.data()});
  return std::make_unique<ChildProcess>(std::move(args), Capture(name));
}

std::string SuiteHub::RunCli(std::vector<std::string> args, const std::string& name) {
  auto cli = StartCli(std::move(args), name);
  std::optional<int> status = cli->WaitForExit(30s);
  EXPECT_EQ(status, std::optional<int>(0)) << name << ": " << cli->out() << cli->err();
  return cli->out();
}

std::string SuiteHub::DeviceConnectionString(const std::string& device_id) {
  std::string out = RunCli({"device", "connection-string", device_id}, device_id + "-cs");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

void ExpectCliSuccessFeedback(const std::string& out, const std::string& device_id,
                              const std::string& message_id) {
  // "Sent message m1 to d1 (...)" then "Feedback: <time>  Success  device d1  message m1".
  EXPECT_NE(out.find("Sent message " + message_id + " to " + device_id), std::string::npos) << out;
  size_t feedback = out.find("Feedback:");
  ASSERT_NE(feedback, std::string::npos) << out;
  std::string record = out.substr(feedback);
  EXPECT_NE(record.find("Success"), std::string::npos) << out;
  EXPECT_NE(record.find("device " + device_id), std::string::npos) << out;
  EXPECT_NE(record.find("message " + message_id), std::string::npos) << out;
}

}  // namespace iothub::testing
