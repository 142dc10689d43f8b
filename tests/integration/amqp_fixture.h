#pragma once

// What the AMQP integration suites (amqp_*_test.cc) share: a hub per suite with its AMQP
// listeners on (MqttHub started with `amqp`: TLS and plain AMQP on free ports of its own loopback
// address, WebSockets on its HTTPS port), Debian's python3-qpid-proton driven through
// amqp_proton_client.py (a JSON array of steps in, one JSON line per step out), and the raw
// client of amqp_wire.h.
//
// Everything runs on the test's thread.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/amqp_wire.h"
#include "tests/integration/hub_process.h"
#include "tests/integration/mqtt_fixture.h"

namespace iothub::testing {

// "" when /usr/bin/python3 can import proton, else what to do about it.
std::string ProtonPrerequisite();

// One step of amqp_proton_client.py's script: {"op": op, ...fields}.
nlohmann::json Op(const std::string& op, nlohmann::json fields = nlohmann::json::object());

// How amqp_proton_client.py connects.
struct AmqpClientOptions {
  std::string sasl = "none";  // none | anonymous | plain
  std::string user;
  std::string password;
  bool tls = true;            // the TLS listener (else the plain one)
  bool trace_frames = false;  // PN_TRACE_FRM=1: Proton prints every frame on stderr
};

// SASL ANONYMOUS over TLS (a client that then authenticates with CBS put-tokens).
inline AmqpClientOptions AmqpAnonymous() {
  AmqpClientOptions options;
  options.sasl = "anonymous";
  return options;
}

// What one run of the script printed.
struct AmqpRun {
  nlohmann::json steps = nlohmann::json::array();  // one object per step, in order
  std::string err;                                 // its stderr (frames when traced)
  std::string problem;  // not "": it did not run to the end (timed out, no output)

  // The `nth` output of operation `op` (an empty object when there is none).
  nlohmann::json Step(const std::string& op, size_t nth = 0) const;
  // Everything, for failure messages.
  std::string Dump() const;
};

// The script running as a child process; several may run at once.
class AmqpClient {
 public:
  AmqpClient(const MqttHub& hub, const AmqpClientOptions& options, const nlohmann::json& steps,
             const std::string& name);
  // Waits for the script to end (at most `limit`) and reads what it printed.
  AmqpRun Finish(std::chrono::seconds limit = std::chrono::seconds(60));

 private:
  std::unique_ptr<ChildProcess> process_;
  size_t expected_steps_ = 0;
};

// Runs the script to its end.
AmqpRun RunAmqpClient(const MqttHub& hub, const AmqpClientOptions& options,
                      const nlohmann::json& steps, const std::string& name);

// SASL PLAIN user names (PROTOCOL.md): "<id>@sas.<host>" and "<policy>@sas.root.<host>".
std::string AmqpDeviceUser(const MqttHub& hub, const std::string& device_id);
std::string AmqpPolicyUser(const MqttHub& hub, const std::string& policy);
// The CBS audience a device names (the Node SDK's, still URL-encoded): "<host>%2Fdevices%2F<id>".
std::string AmqpDeviceAudience(const MqttHub& hub, const std::string& device_id);
// Link addresses.
std::string EventsAddress(const std::string& device_id);       // /devices/<id>/messages/events
std::string DeviceboundAddress(const std::string& device_id);  // .../messages/devicebound

// A raw connection to the hub's AMQP listener (TLS or plain); a test failure and nullptr when it
// cannot connect.
std::unique_ptr<amqp_wire::Connection> OpenRawAmqp(const MqttHub& hub, bool tls);
// Raw connection that has exchanged headers, OPEN and BEGIN (no SASL, no token): "" or what went
// wrong. `*open` receives the hub's OPEN.
std::string RawHandshake(amqp_wire::Connection& c, amqp_wire::ParsedFrame* open = nullptr);

// The base of the AMQP suites: SharedHubTest with the AMQP listeners on and proton required.
template <typename Suite>
class AmqpHubTest : public SharedHubTest<Suite> {
 public:  // read by SharedHubTest
  static bool WithAmqp() { return true; }
  static std::string Prerequisite() { return ProtonPrerequisite(); }

 protected:
  using SharedHubTest<Suite>::hub_;
  using SharedHubTest<Suite>::error_;

  void SetUp() override { ASSERT_EQ(*error_, ""); }

  // Creates a device named after the test plus `suffix` with a fresh key and returns the key
  // ("" and a test failure if it could not). Without a suffix the device is the test's own:
  // its id and key also go to id_ and key_.
  std::string NewDevice(const std::string& suffix = "") {
    std::string id = ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix;
    std::string why;
    std::string key = hub_->CreateDevice(id, true, &why);
    EXPECT_NE(key, "") << why;
    if (suffix.empty()) {
      id_ = id;
      key_ = key;
    }
    return key;
  }
  // Options for SASL PLAIN as `id` with a device token from `key`.
  AmqpClientOptions PlainDevice(const std::string& id, const std::string& key) const {
    return {
        .sasl = "plain", .user = AmqpDeviceUser(*hub_, id), .password = hub_->DeviceToken(id, key)};
  }
  // Options for SASL PLAIN as shared access policy `policy` (of connection-strings.json).
  AmqpClientOptions PlainPolicy(const std::string& policy) const {
    return {.sasl = "plain",
            .user = AmqpPolicyUser(*hub_, policy),
            .password = hub_->PolicyToken(policy)};
  }
  // Runs amqp_proton_client.py with `steps` to its end; `name` tells its output files apart.
  AmqpRun Run(const AmqpClientOptions& options, const nlohmann::json& steps,
              const std::string& name = "client") {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return RunAmqpClient(*hub_, options, steps, test + "-" + name);
  }

  std::string id_, key_;
};

}  // namespace iothub::testing
