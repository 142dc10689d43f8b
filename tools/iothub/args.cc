#include "tools/iothub/args.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

#include "tools/iothub/cli_status.h"

namespace iothub::cli {
namespace {

constexpr char kFooter[] =
    "The hub: --connection-string, else --data-dir DIR (DIR/connection-strings.json, trusting\n"
    "DIR/tls/ca.pem), else $IOTHUB_CONNECTION_STRING. Exit codes: 0 ok, 2 usage, 3 hub settings,\n"
    "4 connection/TLS, 5 unauthorized, 6 not found, 7 conflict, 8 rejected, 9 hub error,\n"
    "10 timed out, 11 negative feedback, 130 interrupted.";

// A set-membership check that adds nothing to --help (the type name lists the choices).
CLI::Validator Choices(std::vector<std::string> choices) {
  CLI::Validator v = CLI::IsMember(std::move(choices));
  v.description("");
  return v;
}

Status UsageError(std::string message) { return InvalidArgument(std::move(message), kUsageError); }

// RFC 9110 token characters: what a header name (iothub-app-<KEY>) may hold.
bool IsToken(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 ? c != '\t' : u == 0x7f;
  });
}

Status ParseProperties(const std::vector<std::string>& texts, C2dMessage* message) {
  std::set<std::string> seen;
  for (const std::string& text : texts) {
    size_t eq = text.find('=');
    if (eq == std::string::npos) {
      return UsageError("--property '" + text + "' is not KEY=VALUE");
    }
    std::string key = text.substr(0, eq), value = text.substr(eq + 1);
    if (!IsToken(key)) {
      return UsageError("--property '" + text +
                        "': the key must be letters, digits or !#$%&'*+-.^_`|~ (it travels "
                        "in an HTTP header name)");
    }
    if (HasControl(value)) {
      return UsageError("--property '" + key + "': the value must not hold control characters");
    }
    if (!seen.insert(key).second) return UsageError("--property '" + key + "' given twice");
    message->properties.emplace_back(std::move(key), std::move(value));
  }
  return Status::Ok();
}

Status CheckHeaderValue(const char* option, const std::string& value) {
  if (HasControl(value)) {
    return UsageError(std::string(option) + " must not hold control characters");
  }
  return Status::Ok();
}

void AddGlobalOptions(CLI::App& app, Invocation& inv) {
  std::vector<CLI::Option*> options = {
      app.add_option("--connection-string", inv.hub.connection_string,
                     "A shared access policy's connection string (e.g. iothubowner's)")
          ->type_name("STRING"),
      app.add_option("--data-dir", inv.hub.data_dir,
                     "The hub's data directory: read connection-strings.json, trust tls/ca.pem")
          ->type_name("DIR"),
      app.add_option("--policy", inv.hub.policy,
                     "The policy to use from DIR/connection-strings.json (default iothubowner)")
          ->type_name("NAME"),
      app.add_option("--ca", inv.hub.ca_file,
                     "PEM file of the CA to trust (default: DIR/tls/ca.pem, else the system's)")
          ->type_name("FILE"),
      app.add_option("--host", inv.hub.host,
                     "Connect here instead of HostName (TLS still checks HostName); port 443 "
                     "unless given")
          ->type_name("ADDRESS[:PORT]"),
  };
  // Given twice (say a shell alias plus the command line), the last one counts.
  for (CLI::Option* option : options) {
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  app.add_flag("--json", inv.json, "Print JSON for scripts instead of text");
}

CLI::App* DeviceCommand(CLI::App& device, const char* name, const char* help, Command command,
                        Invocation& inv, Command* chosen) {
  CLI::App* sub = device.add_subcommand(name, help);
  sub->add_option("device-id", inv.device_id, "Device id")->required();
  sub->callback([chosen, command] { *chosen = command; });
  return sub;
}

void AddDeviceCommands(CLI::App& app, Invocation& inv, Command* chosen) {
  CLI::App* device = app.add_subcommand("device", "Manage device identities in the registry");
  device->require_subcommand(1);

  CLI::App* create =
      DeviceCommand(*device, "create", "Create a device (keys generated unless given)",
                    Command::kDeviceCreate, inv, chosen);
  create->add_option("--primary-key", inv.primary_key, "Base64 primary key")->type_name("KEY");
  create->add_option("--secondary-key", inv.secondary_key, "Base64 secondary key")
      ->type_name("KEY");
  create->add_flag("--disabled", inv.disabled, "Create it disabled");
  create->add_flag("--edge", inv.edge, "An IoT Edge device");

  DeviceCommand(*device, "show", "Show a device", Command::kDeviceShow, inv, chosen);

  CLI::App* list = device->add_subcommand("list", "List devices");
  list->add_option("--top", inv.top, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->type_name("N");
  list->callback([chosen] { *chosen = Command::kDeviceList; });

  CLI::App* remove =
      DeviceCommand(*device, "delete", "Delete a device", Command::kDeviceDelete, inv, chosen);
  remove->add_option("--etag", inv.etag, "Delete only if the device still has this etag")
      ->type_name("ETAG");

  for (auto [name, help, command] :
       {std::tuple{"enable", "Enable a device", Command::kDeviceEnable},
        std::tuple{"disable", "Disable a device (it can no longer connect)",
                   Command::kDeviceDisable}}) {
    CLI::App* sub = DeviceCommand(*device, name, help, command, inv, chosen);
    sub->add_option("--reason", inv.status_reason, "Status reason to record")->type_name("TEXT");
  }

  CLI::App* cs = DeviceCommand(*device, "connection-string", "Print a device's connection string",
                               Command::kDeviceConnectionString, inv, chosen);
  cs->add_option("--key", inv.key, "Which key to use")
      ->check(Choices({"primary", "secondary"}))
      ->type_name("primary|secondary");

  CLI::App* token =
      DeviceCommand(*device, "token", "Print a device SAS token (e.g. the MQTT password)",
                    Command::kDeviceToken, inv, chosen);
  token->add_option("--ttl", inv.ttl_seconds, "Lifetime in seconds (default 3600, max 365 days)")
      ->check(CLI::Range(1u, kMaxTtlSeconds))
      ->type_name("SECONDS");
  token->add_option("--key", inv.key, "Which key signs it")
      ->check(Choices({"primary", "secondary"}))
      ->type_name("primary|secondary");
}

void AddMessageCommands(CLI::App& app, Invocation& inv, Command* chosen,
                        std::vector<std::string>* properties, CLI::Option** ack_option) {
  CLI::App* c2d = app.add_subcommand("c2d", "Cloud-to-device messages");
  c2d->require_subcommand(1);

  CLI::App* send = c2d->add_subcommand("send", "Send a message to a device");
  send->add_option("device-id", inv.device_id, "Device id")->required();
  send->add_option("body", inv.message.body, "Message body (text)")->required();
  send->add_option("--message-id", inv.message.message_id,
                   "Message id (generated with --wait-feedback)")
      ->type_name("ID");
  send->add_option("--correlation-id", inv.message.correlation_id, "Correlation id")
      ->type_name("ID");
  send->add_option("--property", *properties, "Application property (repeatable)")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  *ack_option = send->add_option("--ack", inv.message.ack, "Feedback to ask for (default none)")
                    ->check(Choices({"none", "positive", "negative", "full"}))
                    ->type_name("none|positive|negative|full");
  send->add_option("--content-type", inv.message.content_type, "Content type of the body")
      ->type_name("TYPE");
  send->add_option("--content-encoding", inv.message.content_encoding,
                   "Content encoding of the body (e.g. utf-8)")
      ->type_name("ENCODING");
  send->add_option("--ttl", inv.ttl_seconds, "Time to live in seconds (default: the hub's)")
      ->check(CLI::Range(1u, kMaxTtlSeconds))
      ->type_name("SECONDS");
  CLI::Option* wait = send->add_flag(
      "--wait-feedback", inv.wait_feedback,
      "Wait for the message's feedback record, print it (ack full unless --ack says otherwise)");
  send->add_option("--timeout", inv.timeout_seconds,
                   "With --wait-feedback: give up after this many seconds (default: never)")
      ->check(CLI::PositiveNumber)
      ->needs(wait)
      ->type_name("SECONDS");
  send->callback([chosen] { *chosen = Command::kC2dSend; });

  CLI::App* purge = c2d->add_subcommand("purge", "Delete every message queued for a device");
  purge->add_option("device-id", inv.device_id, "Device id")->required();
  purge->callback([chosen] { *chosen = Command::kC2dPurge; });

  CLI::App* feedback = app.add_subcommand("feedback", "Delivery feedback of C2D messages");
  feedback->require_subcommand(1);
  CLI::App* receive = feedback->add_subcommand(
      "receive", "Print feedback records and complete them (remove them from the hub)");
  CLI::Option* follow =
      receive->add_flag("--follow", inv.follow, "Keep waiting for more (until Ctrl-C)");
  receive->add_option("--timeout", inv.timeout_seconds, "With --follow: stop after this long")
      ->check(CLI::PositiveNumber)
      ->needs(follow)
      ->type_name("SECONDS");
  receive->callback([chosen] { *chosen = Command::kFeedbackReceive; });

  CLI::App* monitor = app.add_subcommand("monitor", "Print telemetry as it arrives (until Ctrl-C)");
  monitor->add_option("--device", inv.device_id, "Only this device's events")->type_name("ID");
  monitor->add_option("--from", inv.from, "Start with the oldest kept event, or new ones only")
      ->check(Choices({"start", "end"}))
      ->type_name("start|end");
  monitor->add_option("--count", inv.count, "Stop after this many events")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  monitor->add_option("--timeout", inv.timeout_seconds, "Stop after this many seconds")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  monitor->callback([chosen] { *chosen = Command::kMonitor; });

  CLI::App* stats = app.add_subcommand("stats", "Device counts and connected devices");
  stats->callback([chosen] { *chosen = Command::kStats; });
}

}  // namespace

std::string VersionText() { return "iothub 0.1.0"; }

Result<Invocation> ParseArguments(int argc, const char* const* argv) {
  Invocation inv;
  Command chosen = Command::kStats;
  std::vector<std::string> properties;
  CLI::Option* ack_option = nullptr;

  CLI::App app("iothub: manage an iothub hub (devices, C2D messages, feedback, telemetry)",
               "iothub");
  app.fallthrough();  // global options after the command too: `iothub device list --json`
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionText());
  app.footer(kFooter);
  AddGlobalOptions(app, inv);
  AddDeviceCommands(app, inv, &chosen);
  AddMessageCommands(app, inv, &chosen, &properties, &ack_option);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    inv.print_and_exit = app.help();
    return inv;
  } catch (const CLI::CallForAllHelp&) {
    inv.print_and_exit = app.help("", CLI::AppFormatMode::All);
    return inv;
  } catch (const CLI::CallForVersion&) {
    inv.print_and_exit = VersionText() + "\n";
    return inv;
  } catch (const CLI::ExtrasError&) {
    std::vector<std::string> extras = app.remaining();
    auto option = std::find_if(extras.begin(), extras.end(),
                               [](const std::string& a) { return a.rfind('-', 0) == 0; });
    if (option != extras.end()) return UsageError("unknown option " + *option);
    return UsageError("unexpected argument '" + extras.front() + "'");
  } catch (const CLI::ParseError& e) {
    return UsageError(e.what());
  }
  inv.command = chosen;

  if (inv.command == Command::kC2dSend) {
    HUB_RETURN_IF_ERROR(ParseProperties(properties, &inv.message));
    HUB_RETURN_IF_ERROR(CheckHeaderValue("--message-id", inv.message.message_id));
    HUB_RETURN_IF_ERROR(CheckHeaderValue("--correlation-id", inv.message.correlation_id));
    HUB_RETURN_IF_ERROR(CheckHeaderValue("--content-type", inv.message.content_type));
    HUB_RETURN_IF_ERROR(CheckHeaderValue("--content-encoding", inv.message.content_encoding));
    if (inv.wait_feedback) {
      if (ack_option->count() == 0) {
        inv.message.ack = "full";
      } else if (inv.message.ack == "none") {
        return UsageError("--wait-feedback needs feedback: --ack positive, negative or full");
      }
    }
  }
  return inv;
}

}  // namespace iothub::cli
