#include "tests/integration/mqtt_fixture.h"

#include <signal.h>
#include <strings.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "base/crypto.h"
#include "core/auth/sas_token.h"

namespace iothub::testing {

using nlohmann::json;
using namespace std::chrono_literals;

std::string RestResult::Header(const std::string& name) const {
  std::istringstream lines(headers);
  std::string line;
  std::string found;
  while (std::getline(lines, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon != name.size()) continue;
    if (strncasecmp(line.c_str(), name.c_str(), name.size()) != 0) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    found = value;
  }
  return found;
}

std::string MqttHub::Start(std::vector<std::string> extra_args, bool amqp) {
  std::string last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    address_ = RandomLoopbackAddress();
    mqtt_port_ = FreePort(address_);
    do {
      plain_port_ = FreePort(address_);
    } while (plain_port_ == mqtt_port_);
    do {
      https_port_ = FreePort(address_);
    } while (https_port_ == mqtt_port_ || https_port_ == plain_port_);
    amqp_port_ = plain_amqp_port_ = 0;
    while (amqp) {
      amqp_port_ = FreePort(address_);
      plain_amqp_port_ = FreePort(address_);
      std::vector<uint16_t> taken{mqtt_port_, plain_port_, https_port_, amqp_port_};
      if (amqp_port_ != plain_amqp_port_ &&
          std::count(taken.begin(), taken.end(), amqp_port_) == 1 &&
          std::count(taken.begin(), taken.end(), plain_amqp_port_) == 0) {
        break;
      }
    }
    std::vector<std::string> args{"--data-dir",
                                  data(),
                                  "--hostname",
                                  address_,
                                  "--bind",
                                  address_,
                                  "--mqtt-port",
                                  std::to_string(mqtt_port_),
                                  "--plain-mqtt-port",
                                  std::to_string(plain_port_),
                                  "--https-port",
                                  std::to_string(https_port_),
                                  "--amqp-port",
                                  std::to_string(amqp_port_),
                                  "--plain-amqp-port",
                                  std::to_string(plain_amqp_port_),
                                  "--shards",
                                  "2",
                                  "--feedback-batch-interval-ms",
                                  "200"};
    for (std::string& a : extra_args) args.push_back(a);
    // A failed attempt's data directory names another address in its certificate: start afresh.
    std::error_code ignored;
    std::filesystem::remove_all(data(), ignored);
    args_ = args;
    process_ = std::make_unique<HubProcess>(std::move(args), dir_.str());
    if (process_->WaitUntilReady()) break;
    last = "iothubd did not start: " + process_->err();
    process_.reset();
  }
  if (!process_) return last;
  json strings = json::parse(ReadFile(data() + "/connection-strings.json"), nullptr, false);
  if (!strings.is_object() || !strings.contains("iothubowner")) {
    return "no connection-strings.json in " + data();
  }
  auto owner = core::auth::ParseConnectionString(strings["iothubowner"].get<std::string>());
  if (!owner.has_value()) return "bad iothubowner connection string";
  owner_key_ = owner->shared_access_key;
  return "";
}

std::string MqttHub::KillAndRestart() {
  if (!process_) return "the hub is not running";
  process_->Signal(SIGKILL);
  if (!process_->WaitForExit(std::chrono::seconds(10))) return "iothubd did not die of SIGKILL";
  process_ = std::make_unique<HubProcess>(args_, dir_.str());
  if (!process_->WaitUntilReady()) return "iothubd did not start again: " + process_->err();
  return "";
}

std::string MqttHub::Stop() {
  if (!process_) return "iothubd is not running";
  process_->Signal(SIGTERM);
  std::optional<int> status = process_->WaitForExit(10s);
  if (status != std::optional<int>(0)) {
    return "iothubd did not exit 0 (" + (status ? std::to_string(*status) : "still running") +
           "): " + process_->err();
  }
  return "";
}

std::string MqttHub::PolicyToken(const std::string& policy, const std::string& resource) const {
  json strings = json::parse(ReadFile(data() + "/connection-strings.json"), nullptr, false);
  if (!strings.is_object() || !strings.contains(policy)) return "";
  auto parsed = core::auth::ParseConnectionString(strings[policy].get<std::string>());
  if (!parsed.has_value()) return "";
  return core::auth::CreateSasToken(resource.empty() ? address_ : resource,
                                    parsed->shared_access_key,
                                    SystemClock::Instance().Now() + std::chrono::hours(1), policy);
}

std::string MqttHub::DeviceToken(const std::string& device_id, const std::string& key,
                                 std::chrono::seconds life) const {
  return core::auth::CreateSasToken(address_ + "/devices/" + device_id, key,
                                    SystemClock::Instance().Now() + life);
}

std::string MqttHub::UserName(const std::string& device_id) const {
  return address_ + "/" + device_id + "/?" + kMqttApiVersion;
}

std::string MqttHub::CreateDevice(const std::string& device_id, bool enabled, std::string* why) {
  std::string primary = Base64Encode(RandomBytes(32));
  std::string secondary = Base64Encode(RandomBytes(32));
  json device = {{"deviceId", device_id},
                 {"status", enabled ? "enabled" : "disabled"},
                 {"authentication",
                  {{"type", "sas"},
                   {"symmetricKey", {{"primaryKey", primary}, {"secondaryKey", secondary}}}}}};
  RestResult r =
      Rest("PUT", "/devices/" + device_id, device.dump(), {"Content-Type: application/json"});
  if (r.status != 200) {
    if (why != nullptr) *why = std::to_string(r.status) + " " + r.body;
    return "";
  }
  return primary;
}

RestResult MqttHub::Rest(const std::string& method, const std::string& path,
                         const std::string& body, const std::vector<std::string>& headers) {
  std::string base = dir_.str() + "/rest-" + std::to_string(++curl_count_);
  std::string token = core::auth::CreateSasToken(
      address_, owner_key_, SystemClock::Instance().Now() + std::chrono::hours(1), "iothubowner");
  // Everything the shell would otherwise read goes through a curl config file.
  std::ofstream config(base + ".cfg");
  auto quoted = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::string url = "https://" + address_ + ":" + std::to_string(https_port_) + path +
                    (path.find('?') == std::string::npos ? "?" : "&") + kMqttApiVersion;
  config << "url = " << quoted(url) << "\n";
  config << "request = " << quoted(method) << "\n";
  config << "header = " << quoted("Authorization: " + token) << "\n";
  for (const std::string& h : headers) config << "header = " << quoted(h) << "\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    std::ofstream(base + ".body", std::ios::binary) << body;
    config << "data-binary = " << quoted("@" + base + ".body") << "\n";
  }
  config << "cacert = " << quoted(ca()) << "\n";
  config << "output = " << quoted(base + ".out") << "\n";
  config << "dump-header = " << quoted(base + ".head") << "\n";
  config.close();
  std::string cmd = "curl -sS --max-time 20 -w '%{http_code}' -K " + base + ".cfg 2>&1";
  RestResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[512];
  std::string printed;
  while (fgets(buf, sizeof buf, pipe) != nullptr) printed += buf;
  pclose(pipe);
  result.status = std::atoi(printed.c_str());
  result.body = ReadFile(base + ".out");
  result.headers = ReadFile(base + ".head");
  if (result.status == 0) result.body = printed;
  return result;
}

int MqttHub::SendC2d(const std::string& device_id, const std::string& body,
                     const std::vector<std::string>& headers) {
  std::vector<std::string> all = headers;
  bool typed = false;
  for (const std::string& h : headers) {
    if (strncasecmp(h.c_str(), "Content-Type:", 13) == 0) typed = true;
  }
  if (!typed) all.push_back("Content-Type: text/plain");
  return Rest("POST", "/devices/" + device_id + "/messages/deviceBound", body, all).status;
}

json MqttHub::Telemetry(const std::string& device_id) {
  json events = json::array();
  json partitions = Rest("GET", "/messages/events/partitions").Json();
  int count = partitions.is_object() ? partitions.value("partitionCount", 4) : 4;
  for (int p = 0; p < count; ++p) {
    json page = Rest("GET", "/messages/events/partitions/" + std::to_string(p) +
                                "?from=start&max=1000&deviceId=" + device_id)
                    .Json();
    if (!page.is_object()) continue;
    for (const json& e : page.value("events", json::array())) events.push_back(e);
  }
  return events;
}

json MqttHub::WaitTelemetry(const std::string& device_id, size_t count,
                            std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  json events;
  do {
    events = Telemetry(device_id);
    if (events.size() >= count) break;
    std::this_thread::sleep_for(200ms);  // polling the hub's REST API
  } while (std::chrono::steady_clock::now() < deadline);
  return events;
}

json MqttHub::WaitFeedback(const std::string& message_id, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto about = [&] {
    json out = json::array();
    for (const json& r : feedback_records_) {
      if (r.value("originalMessageId", "") == message_id) out.push_back(r);
    }
    return out;
  };
  while (about().empty() && std::chrono::steady_clock::now() < deadline) {
    RestResult r = Rest("GET", "/messages/serviceBound/feedback");
    if (r.status == 200) {
      json batch = r.Json();
      if (batch.is_array()) {
        for (const json& rec : batch) feedback_records_.push_back(rec);
      }
      std::string lock = r.Header("ETag");
      std::erase(lock, '"');
      Rest("DELETE", "/messages/serviceBound/feedback/" + lock);
      continue;
    }
    std::this_thread::sleep_for(200ms);  // polling the hub's REST API
  }
  return about();
}

std::unique_ptr<mqtt_wire::Connection> MqttHub::OpenRaw(bool tls, std::string* error) {
  return mqtt_wire::Connection::Open(address_, tls ? mqtt_port_ : plain_port_,
                                     tls ? ca() : std::string(), address_, error);
}

std::unique_ptr<mqtt_wire::Connection> MqttHub::Connect(const mqtt_wire::ConnectOptions& options,
                                                        int* return_code, bool tls) {
  *return_code = -1;
  std::string error;
  auto c = OpenRaw(tls, &error);
  if (!c) {
    ADD_FAILURE_AT(__FILE__, __LINE__) << error;
    return nullptr;
  }
  c->Send(mqtt_wire::ConnectPacket(options));
  std::optional<mqtt_wire::RawPacket> connack = c->ReadType(mqtt_wire::kConnack, 10s);
  if (connack && connack->body.size() == 2) *return_code = static_cast<uint8_t>(connack->body[1]);
  return c;
}

std::unique_ptr<mqtt_wire::Connection> MqttHub::ConnectDevice(const std::string& device_id,
                                                              const std::string& key,
                                                              int* return_code, bool clean_session,
                                                              bool tls) {
  return Connect({.client_id = device_id,
                  .user_name = UserName(device_id),
                  .password = DeviceToken(device_id, key),
                  .clean_session = clean_session},
                 return_code, tls);
}

}  // namespace iothub::testing
