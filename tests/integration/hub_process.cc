#include "tests/integration/hub_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

#include "base/check.h"
#include "base/crypto.h"

extern char** environ;

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

int StatusOf(int wstatus) {
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

std::vector<std::string> WithProgram(std::string program, std::vector<std::string> args) {
  args.insert(args.begin(), std::move(program));
  return args;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string RandomLoopbackAddress() { return "127.0.0." + std::to_string(2 + RandomU64() % 249); }

uint16_t FreePort(const std::string& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  HUB_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  HUB_CHECK(inet_pton(AF_INET, address.c_str(), &addr.sin_addr) == 1);
  HUB_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  HUB_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::string& capture_prefix,
                           const ChildEnvironment& environment)
    : out_path_(capture_prefix + ".out"), err_path_(capture_prefix + ".err") {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> vars = environment.set;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view var(*e);
    std::string_view name = var.substr(0, var.find('='));
    auto named = [name](const std::string& entry) {
      return std::string_view(entry).substr(0, entry.find('=')) == name;
    };
    if (std::none_of(environment.set.begin(), environment.set.end(), named) &&
        std::none_of(environment.unset.begin(), environment.unset.end(), named)) {
      vars.emplace_back(var);
    }
  }
  std::vector<char*> envp;
  envp.reserve(vars.size() + 1);
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  // The child starts with no signal blocked, whatever gtest's threads did.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    pid_ = pid;
  } else {
    exit_status_ = 127;
  }
}

ChildProcess::~ChildProcess() {
  if (started() && !exit_status_) {
    ::kill(pid_, SIGKILL);
    int wstatus;
    ::waitpid(pid_, &wstatus, 0);
  }
}

bool ChildProcess::WaitForStdout(const std::string& text, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (out().find(text) != std::string::npos) return true;
    if (WaitForExit(0ms)) return out().find(text) != std::string::npos;
    std::this_thread::sleep_for(20ms);  // polling a child process, not waiting on a timer
  }
  return false;
}

void ChildProcess::Signal(int signal) {
  if (started() && !exit_status_) ::kill(pid_, signal);
}

std::optional<int> ChildProcess::WaitForExit(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!exit_status_) {
    int wstatus;
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      exit_status_ = StatusOf(wstatus);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);  // polling a child process, not waiting on a timer
  }
  return exit_status_;
}

std::string ChildProcess::out() const { return ReadFile(out_path_); }
std::string ChildProcess::err() const { return ReadFile(err_path_); }

std::string IothubdPath() {
  const char* path = std::getenv("IOTHUB_TEST_IOTHUBD");
  return path != nullptr && *path != '\0' ? path : IOTHUBD_PATH;
}

HubProcess::HubProcess(std::vector<std::string> args, const std::string& capture_dir)
    : ChildProcess(WithProgram(IothubdPath(), std::move(args)), capture_dir + "/iothubd") {
  HUB_CHECK(started());
}

int RunHub(std::vector<std::string> args, const std::string& capture_dir, std::string* out,
           std::string* err) {
  HubProcess hub(std::move(args), capture_dir);
  std::optional<int> status = hub.WaitForExit(std::chrono::seconds(20));
  *out = hub.out();
  *err = hub.err();
  return status.value_or(-1);
}

std::string HubLogTail(const std::string& log, size_t max) {
  return "\n--- iothubd stderr (tail) ---\n" +
         (log.size() > max ? log.substr(log.size() - max) : log);
}

}  // namespace iothub::testing
