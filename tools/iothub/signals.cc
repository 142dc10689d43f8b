#include "tools/iothub/signals.h"

#include <csignal>

namespace iothub::cli {
namespace {

volatile std::sig_atomic_t interrupt_requested = 0;

extern "C" void OnInterrupt(int signal) {
  interrupt_requested = 1;
  std::signal(signal, SIG_DFL);
}

}  // namespace

void InstallInterruptHandlers() {
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
}

bool InterruptRequested() { return interrupt_requested != 0; }

}  // namespace iothub::cli
