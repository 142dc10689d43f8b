#include "tests/integration/hub_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "base/check.h"
#include "base/crypto.h"

extern char** environ;

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

int StatusOf(int wstatus) {
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
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

HubProcess::HubProcess(std::vector<std::string> args, const std::string& capture_dir)
    : out_path_(capture_dir + "/stdout.txt"), err_path_(capture_dir + "/stderr.txt") {
  args.insert(args.begin(), IOTHUBD_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
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
  int rc = posix_spawn(&pid_, IOTHUBD_PATH, &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  HUB_CHECK(rc == 0);
}

HubProcess::~HubProcess() {
  if (!exit_status_) {
    ::kill(pid_, SIGKILL);
    int wstatus;
    ::waitpid(pid_, &wstatus, 0);
  }
}

bool HubProcess::WaitForStdout(const std::string& text, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (out().find(text) != std::string::npos) return true;
    if (WaitForExit(0ms)) return out().find(text) != std::string::npos;
    std::this_thread::sleep_for(20ms);  // polling a child process, not waiting on a timer
  }
  return false;
}

void HubProcess::Signal(int signal) { ::kill(pid_, signal); }

std::optional<int> HubProcess::WaitForExit(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!exit_status_) {
    int wstatus;
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      exit_status_ = StatusOf(wstatus);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  return exit_status_;
}

std::string HubProcess::out() const { return ReadFile(out_path_); }
std::string HubProcess::err() const { return ReadFile(err_path_); }

int RunHub(std::vector<std::string> args, const std::string& capture_dir, std::string* out,
           std::string* err) {
  HubProcess hub(std::move(args), capture_dir);
  std::optional<int> status = hub.WaitForExit(std::chrono::seconds(20));
  *out = hub.out();
  *err = hub.err();
  return status.value_or(-1);
}

}  // namespace iothub::testing
