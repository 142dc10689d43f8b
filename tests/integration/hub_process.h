#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iothub::testing {

// The whole content of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// A loopback address of the test's own, 127.0.0.2 - 127.0.0.250, so that parallel tests (and a
// hub someone runs on 127.0.0.1) never share ports.
std::string RandomLoopbackAddress();

// A TCP port on `address` that was free a moment ago (bound to port 0, read back, closed).
uint16_t FreePort(const std::string& address);

// Changes to the environment a child inherits from the test.
struct ChildEnvironment {
  // NAME=VALUE entries, each replacing an inherited variable of the same name.
  std::vector<std::string> set;
  // Names of inherited variables the child does not get.
  std::vector<std::string> unset;
};

// A program run as a child process, its stdout and stderr captured to files, started with no
// signal blocked (whatever gtest's threads did). argv[0] is looked up on PATH unless it holds a
// '/'. Owner: the test's thread. The destructor kills a child that is still running.
class ChildProcess {
 public:
  // Starts argv; stdout goes to `capture_prefix`.out, stderr to `capture_prefix`.err (both
  // truncated). When the program cannot be started, the child counts as exited with 127 (as a
  // shell reports it).
  ChildProcess(std::vector<std::string> argv, const std::string& capture_prefix,
               const ChildEnvironment& environment = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // False when the program could not be started at all.
  bool started() const { return pid_ > 0; }

  // Waits until stdout holds `text` (true) or the process exited / `limit` passed (false).
  bool WaitForStdout(const std::string& text, std::chrono::milliseconds limit);

  void Signal(int signal);
  // The exit status (WEXITSTATUS, or 128 + signal when killed), or nullopt when still running
  // after `limit` (0: just look).
  std::optional<int> WaitForExit(std::chrono::milliseconds limit);

  // What the child printed so far.
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string out_path_;
  std::string err_path_;
};

// The iothubd the tests run: the environment's IOTHUB_TEST_IOTHUBD when set (scripts/test runs the
// reference scenario against the release build's daemon so), else the build's own (IOTHUBD_PATH).
std::string IothubdPath();

// The real iothubd (IothubdPath()) as a child process, its stdout and stderr captured to
// `capture_dir`/iothubd.out and iothubd.err. Aborts the test binary when iothubd cannot be
// started at all.
class HubProcess : public ChildProcess {
 public:
  HubProcess(std::vector<std::string> args, const std::string& capture_dir);

  // Waits until the banner's last line is printed: the hub is up.
  bool WaitUntilReady(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    return WaitForStdout("Stop with Ctrl-C or SIGTERM.", limit);
  }
};

// Runs iothubd to completion (for the cases that must fail at once). Returns the exit status.
int RunHub(std::vector<std::string> args, const std::string& capture_dir, std::string* out,
           std::string* err);

// "--- iothubd stderr (tail) ---" and the last `max` bytes of `log` (the hub's stderr), to
// append to a failure message.
std::string HubLogTail(const std::string& log, size_t max = 4000);

}  // namespace iothub::testing
