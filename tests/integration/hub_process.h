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

// The real iothubd (IOTHUBD_PATH) as a child process, its stdout and stderr captured to files.
// Owner: the test's thread. The destructor kills a child that is still running.
class HubProcess {
 public:
  // Starts `iothubd args...`; `capture_dir` receives stdout.txt and stderr.txt.
  HubProcess(std::vector<std::string> args, const std::string& capture_dir);
  ~HubProcess();
  HubProcess(const HubProcess&) = delete;
  HubProcess& operator=(const HubProcess&) = delete;

  // Waits until stdout holds `text` (true) or the process exited / `limit` passed (false).
  bool WaitForStdout(const std::string& text, std::chrono::milliseconds limit);
  // Waits until the banner's last line is printed: the hub is up.
  bool WaitUntilReady(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    return WaitForStdout("Stop with Ctrl-C or SIGTERM.", limit);
  }

  void Signal(int signal);
  // The exit status (WEXITSTATUS, or 128 + signal when killed), or nullopt when still running
  // after `limit`.
  std::optional<int> WaitForExit(std::chrono::milliseconds limit);

  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string out_path_;
  std::string err_path_;
};

// Runs iothubd to completion (for the cases that must fail at once). Returns the exit status.
int RunHub(std::vector<std::string> args, const std::string& capture_dir, std::string* out,
           std::string* err);

}  // namespace iothub::testing
