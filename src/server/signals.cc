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

}  // namespace

StopSignals::StopSignals() {
  sigset_t set = StopSet();
  HUB_CHECK(pthread_sigmask(SIG_BLOCK, &set, &previous_mask_) == 0);
  ::signal(SIGPIPE, SIG_IGN);
}

StopSignals::~StopSignals() { pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr); }

int StopSignals::Wait() {
  sigset_t set = StopSet();
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

}  // namespace iothub::server
