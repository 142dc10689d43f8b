#pragma once

// What the compat tests that run the official Node SDKs against a real iothubd share: the checks
// that node, the SDK packages and port 443 are there; iothubd on a loopback address of its own
// with HTTPS on port 443; node scripts run with the hub's CA trusted; and the one-script-per-suite
// pattern (run a script once, judge its JSON output test by test).
//
// The SDKs speak HTTPS to HostName on port 443 and nothing else, so the hub gets a loopback address
// of its own (127.0.0.x, so parallel runs and a hub on 127.0.0.1 never clash) with --hostname set
// to that address: the connection strings then say HostName=127.0.0.x and the generated
// certificate carries it as an IP SAN, which Node checks. Node trusts the hub's CA through
// NODE_EXTRA_CA_CERTS. Binding port 443 needs root or CAP_NET_BIND_SERVICE (or a low
// net.ipv4.ip_unprivileged_port_start); the tests fail saying so otherwise.
//
// Everything here runs on the test's thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {

// The tests/compat folder (IOTHUB_COMPAT_DIR): the scripts and node_modules.
std::filesystem::path CompatDir();

// Why node or one of `packages` (under tests/compat/node_modules) is missing, or port 443 cannot
// be bound; "" when the SDK tests can run.
std::string NodeSdkProblem(const std::vector<std::string>& packages);

// iothubd with --hostname = --bind = a loopback address of its own and HTTPS on port 443 (MQTT and
// AMQP off unless asked for). The destructor kills a hub that is still running.
class Port443Hub {
 public:
  // Starts the hub with `extra_args` under `dir` (data-N/ and the capture files) and waits until
  // it is up. Port 443 is fixed, so two runs in parallel (ctest -j) may draw the same address: the
  // loser fails to bind and tries another one, in a fresh data directory (the certificate names
  // the address), up to 5 times. Returns "" when up, else why not.
  // `mqtt_port`, `amqp_port`: MQTT / AMQP over TLS on that port of the same address (0: off); the
  // SDKs' Mqtt transport knows only 8883 and their Amqp transports (device and service) only
  // 5671, so a clash there also makes it try another address.
  std::string Start(const std::string& dir, const std::vector<std::string>& extra_args,
                    uint16_t mqtt_port = 0, uint16_t amqp_port = 0);

  // SIGTERM, then waits up to 10 s; "" when it exited 0, else why not.
  std::string Stop();

  HubProcess& process() { return *process_; }
  const std::string& address() const { return address_; }
  const std::string& data() const { return data_; }
  // The hub's CA certificate, for NODE_EXTRA_CA_CERTS (and the CLI's --ca).
  std::string ca() const { return data_ + "/tls/ca.pem"; }
  // connection-strings.json as written by the hub (null when unreadable).
  nlohmann::json ConnectionStrings() const;

 private:
  std::unique_ptr<HubProcess> process_;
  std::string address_;
  std::string data_;
};

struct NodeRun {
  std::optional<int> exit;  // nullopt when killed after the time limit
  std::string out;
  std::string err;
  nlohmann::json json;  // stdout parsed (discarded when it is not JSON)
};

// `node <tests/compat>/script args...` with NODE_EXTRA_CA_CERTS=`ca`, output captured to
// `capture_prefix`.out/.err; killed after `limit`.
NodeRun RunNodeScript(const std::string& script, std::vector<std::string> args,
                      const std::string& ca, const std::string& capture_prefix,
                      std::chrono::milliseconds limit);

// One compat suite's run: a hub, `script` run once against it with a config.json of connection
// strings, the hub stopped. `results` is the script's JSON object; `error` says why the suite
// cannot be judged ("" when it can).
struct SuiteRun {
  nlohmann::json results = nlohmann::json::object();
  std::string error;

  // The result of one step (a copy, so that operator[] on a missing field yields null instead of
  // undefined behaviour; {"ok": false, ...} when the step is missing).
  nlohmann::json Step(const char* step) const;
};

// Checks NodeSdkProblem(packages), starts a Port443Hub with `hub_args` (and `mqtt_port`,
// `amqp_port` as Port443Hub::Start takes them), writes config.json as
// {key: connection-strings.json[name]} for each key -> name of `config`, runs `script` on it
// (at most `limit`), stops the hub. A script that prints no JSON object, or {"fatal": ...},
// fails the run; `log` (when given) receives the hub's stderr.
SuiteRun RunSuiteScript(const std::string& script, const std::vector<std::string>& packages,
                        const std::vector<std::string>& hub_args,
                        const std::map<std::string, std::string>& config, uint16_t mqtt_port = 0,
                        uint16_t amqp_port = 0,
                        std::chrono::milliseconds limit = std::chrono::minutes(5),
                        std::string* log = nullptr);

// The iothub CLI: IOTHUB_CLI_PATH (a CMake definition; without it, the environment variable of
// that name), or "".
std::string CliPath();
// Why the CLI cannot run here, or "" when it can.
std::string CliProblem();

// The hub that a seed suite's cases share (one device each), with the CLI pointed at it the way
// its README tells a user (--data-dir). Made in SetUpTestSuite, stopped and deleted in
// TearDownTestSuite; the cases ASSERT that `error` is empty before they use it.
struct SuiteHub {
  // Starts `hub` under `dir` with `hub_args`, `mqtt_port` and `amqp_port` (as Port443Hub::Start
  // takes them) unless `problem` (why the suite cannot run) is non-empty.
  SuiteHub(std::string problem, const std::vector<std::string>& hub_args, uint16_t mqtt_port = 0,
           uint16_t amqp_port = 0);

  // Stops the hub when it started ("" then when it exited 0, else why not); "" otherwise.
  std::string Stop();
  // The hub's stderr tail, to append to a failure.
  std::string Log() { return HubLogTail(hub.process().err()); }
  // Where a child process named `name` captures its output (under dir).
  std::string Capture(const std::string& name) const { return dir.str() + "/" + name; }

  // `iothub --data-dir <data> args...`, started in the background.
  std::unique_ptr<ChildProcess> StartCli(std::vector<std::string> args, const std::string& name);
  // Runs the CLI to completion (at most 30 s); fails the test unless it exits 0. Returns stdout.
  std::string RunCli(std::vector<std::string> args, const std::string& name);
  // The device's connection string as `iothub device connection-string` prints it.
  std::string DeviceConnectionString(const std::string& device_id);

  TempDir dir;
  Port443Hub hub;
  std::string error;  // why the cases cannot run; "" when the hub is up
};

// `c2d send --wait-feedback`'s human output says it sent `message_id` to `device_id` and then
// prints a Success feedback record for them.
void ExpectCliSuccessFeedback(const std::string& out, const std::string& device_id,
                              const std::string& message_id);

}  // namespace iothub::testing
