// iothubd: parse the command line, then run the daemon until SIGINT or SIGTERM.
#include <cstdio>

#include "server/config.h"
#include "server/daemon.h"

int main(int argc, char** argv) {
  auto invocation = iothub::server::ParseCommandLine(argc, argv);
  if (!invocation) {
    std::fprintf(stderr, "iothubd: %s (see iothubd --help)\n",
                 invocation.error().message().c_str());
    return 2;
  }
  if (invocation->print_and_exit) {
    std::fputs(invocation->print_and_exit->c_str(), stdout);
    return 0;
  }
  iothub::Status status = iothub::server::RunDaemon(invocation->config);
  if (status.ok()) return 0;
  std::fprintf(stderr, "iothubd: %s\n", status.message().c_str());
  return 1;
}
