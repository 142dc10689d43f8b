#include "server/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>

#include "base/check.h"

namespace iothub::server {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

sigset_t previous_mask;

}  // namespace

StopSignals::StopSignals() {
  sigset_t set = StopSet();
  HUB_CHECK(pthread_sigmask(SIG_BLOCK, &set, &previous_mask) == 0);
  ::signal(SIGPIPE, SIG_IGN);
}

StopSignals::~StopSignals() { pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr); }

int StopSignals::Wait() {
  sigset_t set = StopSet();
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

}  // namespace iothub::server
