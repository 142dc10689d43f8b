#include "tests/integration/amqp_fixture.h"

#include <cstdlib>
#include <sstream>
#include <utility>

#ifndef IOTHUB_INTEGRATION_DIR
#error "IOTHUB_INTEGRATION_DIR (the tests/integration folder) must be defined by CMake"
#endif

namespace iothub::testing {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {
// Debian's interpreter, whose dist-packages hold proton (another python3 on PATH may not).
constexpr char kPython[] = "/usr/bin/python3";
}  // namespace

std::string ProtonPrerequisite() {
  if (std::system("/usr/bin/python3 -c 'import proton.reactor' >/dev/null 2>&1") != 0) {
    return "python3-qpid-proton is not installed for /usr/bin/python3: run scripts/setup";
  }
  return "";
}

json Op(const std::string& op, json fields) {
  if (!fields.is_object()) fields = json::object();
  fields["op"] = op;
  return fields;
}

json AmqpRun::Step(const std::string& op, size_t nth) const {
  for (const json& s : steps) {
    if (s.value("op", "") == op && nth-- == 0) return s;
  }
  return json::object();
}

std::string AmqpRun::Dump() const {
  std::string tail = err.size() > 3000 ? "..." + err.substr(err.size() - 3000) : err;
  return "\n--- client steps ---\n" + steps.dump(1) + "\n--- client stderr ---\n" + tail +
         (problem.empty() ? "" : "\n--- problem: " + problem);
}

AmqpClient::AmqpClient(const MqttHub& hub, const AmqpClientOptions& options, const json& steps,
                       const std::string& name)
    : expected_steps_(steps.size()) {
  std::vector<std::string> argv{
      kPython,   std::string(IOTHUB_INTEGRATION_DIR) + "/amqp_proton_client.py",
      "--host",  hub.address(),
      "--port",  std::to_string(options.tls ? hub.amqp_port() : hub.plain_amqp_port()),
      "--sasl",  options.sasl,
      "--steps", steps.dump()};
  if (options.tls) argv.insert(argv.end(), {"--ca", hub.ca()});
  if (!options.user.empty()) argv.insert(argv.end(), {"--user", options.user});
  if (!options.password.empty()) argv.insert(argv.end(), {"--password", options.password});
  ChildEnvironment environment;
  if (options.trace_frames) environment.set.push_back("PN_TRACE_FRM=1");
  // Proton would read connection settings from a connect.json it finds: none here.
  environment.unset.push_back("MESSAGING_CONNECT_FILE");
  process_ =
      std::make_unique<ChildProcess>(std::move(argv), hub.dir() + "/amqp-" + name, environment);
}

AmqpRun AmqpClient::Finish(std::chrono::seconds limit) {
  AmqpRun run;
  std::optional<int> exit = process_->WaitForExit(limit);
  if (!exit) {
    process_->Signal(SIGKILL);
    process_->WaitForExit(5s);
    run.problem = "the client did not finish within " + std::to_string(limit.count()) + " s";
  } else if (*exit != 0) {
    run.problem = "the client exited " + std::to_string(*exit);
  }
  std::istringstream lines(process_->out());
  std::string line;
  while (std::getline(lines, line)) {
    json step = json::parse(line, nullptr, false);
    if (step.is_object()) run.steps.push_back(step);
  }
  run.err = process_->err();
  if (run.problem.empty() && run.steps.size() != expected_steps_) {
    run.problem = "the client printed " + std::to_string(run.steps.size()) + " of " +
                  std::to_string(expected_steps_) + " steps";
  }
  return run;
}

AmqpRun RunAmqpClient(const MqttHub& hub, const AmqpClientOptions& options, const json& steps,
                      const std::string& name) {
  return AmqpClient(hub, options, steps, name).Finish();
}

std::string AmqpDeviceUser(const MqttHub& hub, const std::string& device_id) {
  return device_id + "@sas." + hub.host();
}

std::string AmqpPolicyUser(const MqttHub& hub, const std::string& policy) {
  return policy + "@sas.root." + hub.host();
}

std::string AmqpDeviceAudience(const MqttHub& hub, const std::string& device_id) {
  return hub.host() + "%2Fdevices%2F" + device_id;
}

std::string EventsAddress(const std::string& device_id) {
  return "/devices/" + device_id + "/messages/events";
}

std::string DeviceboundAddress(const std::string& device_id) {
  return "/devices/" + device_id + "/messages/devicebound";
}

std::unique_ptr<amqp_wire::Connection> OpenRawAmqp(const MqttHub& hub, bool tls) {
  std::string error;
  auto c = amqp_wire::Connection::Open(hub.address(), tls ? hub.amqp_port() : hub.plain_amqp_port(),
                                       tls ? hub.ca() : std::string(), hub.address(), &error);
  if (!c) ADD_FAILURE() << error;
  return c;
}

std::string RawHandshake(amqp_wire::Connection& c, amqp_wire::ParsedFrame* open) {
  using amqp_wire::ReadStatus;
  if (!c.Send(amqp_wire::AmqpHeader() + amqp_wire::OpenFrame("raw-client", "hub") +
              amqp_wire::BeginFrame(0))) {
    return "cannot send";
  }
  std::string header;
  if (c.ReadBytes(8, &header, 5s) != ReadStatus::kOk) return "no protocol header";
  if (header != amqp_wire::AmqpHeader()) return "header " + amqp_wire::Printable(header);
  std::optional<amqp_wire::ParsedFrame> hub_open = c.ReadUntilFrame(amqp_wire::kOpen, 5s);
  if (!hub_open) return "no OPEN";
  if (open != nullptr) *open = *hub_open;
  if (!c.ReadUntilFrame(amqp_wire::kBegin, 5s)) return "no BEGIN";
  return "";
}

}  // namespace iothub::testing
