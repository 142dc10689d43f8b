// iothub: parse the command line, find the hub, run the command.
#include <atomic>
#include <iostream>
#include <thread>

#include "tools/iothub/args.h"
#include "tools/iothub/cli_status.h"
#include "tools/iothub/commands.h"
#include "tools/iothub/https_client.h"
#include "tools/iothub/hub_locator.h"
#include "tools/iothub/signals.h"

namespace cli = iothub::cli;

int main(int argc, char** argv) {
  auto inv = cli::ParseArguments(argc, argv);
  if (!inv) {
    std::cerr << "iothub: " << inv.error().message() << " (see iothub --help)\n";
    return cli::kExitUsage;
  }
  if (inv->print_and_exit) {
    std::cout << *inv->print_and_exit;
    return cli::kExitOk;
  }
  auto hub = cli::LocateHub(inv->hub, cli::ProcessEnvironment());
  if (!hub) {
    std::cerr << "iothub: " << cli::ErrorLine(hub.error()) << "\n";
    return cli::ExitCodeFor(hub.error());
  }

  cli::InstallInterruptHandlers();
  std::atomic<bool> shielded = false;
  auto interrupted = [] { return cli::InterruptRequested(); };
  cli::HttpsClient transport({.host_name = hub->connection.host_name,
                              .connect_host = hub->connect_host,
                              .port = hub->port,
                              .ca_file = hub->ca_file,
                              .interrupted = [&] { return interrupted() && !shielded; }});
  cli::ServiceClient client(transport, hub->connection, iothub::SystemClock::Instance());
  cli::Context ctx{
      .client = client,
      .out = std::cout,
      .err = std::cerr,
      .clock = iothub::SystemClock::Instance(),
      .sleep =
          [&](iothub::Duration duration) {
            auto end = std::chrono::steady_clock::now() + duration;
            while (!interrupted()) {
              auto left = end - std::chrono::steady_clock::now();
              if (left <= std::chrono::steady_clock::duration::zero()) return true;
              std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                  left, std::chrono::milliseconds(50)));
            }
            return false;
          },
      .interrupted = interrupted,
      .shield = [&](bool on) { shielded = on; },
  };
  return cli::RunCommand(*inv, ctx);
}
