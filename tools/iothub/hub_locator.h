#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "core/auth/sas_token.h"

namespace iothub::cli {

// How the user pointed at a hub (the global options).
struct HubOptions {
  std::string connection_string;       // --connection-string
  std::string data_dir;                // --data-dir: the hub's data directory
  std::string policy = "iothubowner";  // --policy: which string of connection-strings.json
  std::string ca_file;                 // --ca
  std::string host;                    // --host ADDRESS[:PORT]
};

// Where and how to reach the hub.
struct HubTarget {
  core::auth::ConnectionString connection;  // a service policy's: HostName, key name, key
  std::string source;                       // where the connection string came from, for messages
  std::string connect_host;                 // what to connect to: --host, else HostName
  uint16_t port = 443;                      // --host's port, else 443 (HostName carries no port)
  std::string ca_file;                      // the CA to trust; empty: the system's trust store
};

// "ADDRESS[:PORT]": a name, an IPv4 address, or an IPv6 address (bare, or in brackets when a port
// follows: "[::1]:8443"). The port, when given, is 1..65535.
struct HostPort {
  std::string host;
  std::optional<uint16_t> port;
};
Result<HostPort> ParseHostPort(std::string_view text);

// Reads an environment variable; nullopt when unset. Injected so tests need no real environment.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
// The process environment (getenv).
EnvLookup ProcessEnvironment();

// The connection string, from the first of: --connection-string; --data-dir's
// DIR/connection-strings.json (a JSON object policy name -> connection string; `policy` picks one);
// the IOTHUB_CONNECTION_STRING environment variable. It must be a shared access policy's (with
// SharedAccessKeyName), not a device's. The CA: --ca, else DIR/tls/ca.pem when --data-dir is given
// and the file exists (a hub run with --tls-cert has none), else the system's trust store.
// Fails with InvalidArgument (reason kConfigError) and a message naming the file or option at
// fault. Blocking file reads; any thread.
Result<HubTarget> LocateHub(const HubOptions& options, const EnvLookup& env);

}  // namespace iothub::cli
