#pragma once

#include <signal.h>

namespace iothub::server {

// SIGINT and SIGTERM as a value to wait for instead of asynchronous handlers. The constructor
// blocks both for the calling thread, and so for every thread started afterwards (threads inherit
// the mask): construct it in main before any thread exists, and the signals are then delivered only
// through Wait(). It also ignores SIGPIPE, so a peer closing a socket never kills the process.
// Owner: the main thread.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();  // restores the previous mask
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks until SIGINT or SIGTERM arrives (or is already pending); returns its number.
  int Wait();

 private:
  sigset_t previous_mask_;
};

}  // namespace iothub::server
