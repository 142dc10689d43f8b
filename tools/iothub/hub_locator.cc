#include "tools/iothub/hub_locator.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tools/iothub/cli_status.h"

namespace iothub::cli {
namespace {

constexpr char kEnvVariable[] = "IOTHUB_CONNECTION_STRING";

Status ConfigError(std::string message) {
  return InvalidArgument(std::move(message), kConfigError);
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The policy's connection string from the hub's DIR/connection-strings.json.
Result<std::string> FromDataDir(const std::string& dir, const std::string& policy) {
  std::string path = dir + "/connection-strings.json";
  auto text = ReadWholeFile(path);
  if (!text) {
    return ConfigError(text.error().message() +
                       " (is it the hub's --data-dir, and has the hub run there once?)");
  }
  auto json = nlohmann::ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return ConfigError(path + " is not a JSON object");
  auto it = json.find(policy);
  if (it == json.end() || !it->is_string()) {
    std::string known;
    for (const auto& [name, value] : json.items()) known += (known.empty() ? "" : ", ") + name;
    return ConfigError(path + " has no connection string for policy '" + policy +
                       "' (it has: " + known + ")");
  }
  return it->get<std::string>();
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return ConfigError("--host '" + std::string(text) + "': " + why);
  };
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    out.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected ':PORT' after ']'");
      port = rest.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      out.host = std::string(text);  // a bare IPv6 address: no port
    } else {
      out.host = std::string(text.substr(0, colon));
      port = text.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    out.host = std::string(text);
  }
  if (out.host.empty()) return bad("no address");
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return bad("the port must be a number from 1 to 65535");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<HubTarget> LocateHub(const HubOptions& options, const EnvLookup& env) {
  HubTarget target;
  std::string text;
  if (!options.connection_string.empty()) {
    text = options.connection_string;
    target.source = "--connection-string";
  } else if (!options.data_dir.empty()) {
    HUB_ASSIGN_OR_RETURN(text, FromDataDir(options.data_dir, options.policy));
    target.source = options.data_dir + "/connection-strings.json";
  } else if (auto value = env(kEnvVariable); value.has_value() && !value->empty()) {
    text = *value;
    target.source = kEnvVariable;
  } else {
    return ConfigError(
        "no hub given: pass --connection-string, set IOTHUB_CONNECTION_STRING, or pass --data-dir "
        "DIR (the hub's data directory)");
  }

  auto parsed = core::auth::ParseConnectionString(text);
  if (!parsed) {
    return ConfigError("the connection string from " + target.source +
                       " is invalid: " + parsed.error().message());
  }
  if (!parsed->device_id.empty() || parsed->shared_access_key_name.empty() ||
      parsed->shared_access_key.empty()) {
    return ConfigError("the connection string from " + target.source +
                       " is not a shared access policy's (HostName, SharedAccessKeyName, "
                       "SharedAccessKey; e.g. iothubowner's)");
  }
  target.connection = std::move(*parsed);

  target.connect_host = target.connection.host_name;
  if (!options.host.empty()) {
    HUB_ASSIGN_OR_RETURN(HostPort where, ParseHostPort(options.host));
    target.connect_host = where.host;
    if (where.port) target.port = *where.port;
  }

  if (!options.ca_file.empty()) {
    std::ifstream probe(options.ca_file);
    if (!probe) {
      return ConfigError("--ca: cannot read " + options.ca_file + ": " + std::strerror(errno));
    }
    target.ca_file = options.ca_file;
  } else if (!options.data_dir.empty()) {
    std::string ca = options.data_dir + "/tls/ca.pem";
    std::error_code ec;
    if (std::filesystem::exists(ca, ec)) target.ca_file = ca;
  }
  return target;
}

}  // namespace iothub::cli
