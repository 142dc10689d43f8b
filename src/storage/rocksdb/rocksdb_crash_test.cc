// kill -9 durability: a child process commits synced batches and reports each acknowledged one;
// the parent SIGKILLs it at a random moment, reopens the store and checks that every acknowledged
// batch is there, whole, and that no batch is there in part.
//
// The child is this same test binary, re-executed (fork + exec, not a bare fork: RocksDB's
// background threads do not survive fork) with kChildEnv set; it then runs RunChild instead of
// the tests.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/rocksdb/rocksdb_store.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace iothub::storage {
namespace {

constexpr char kChildEnv[] = "IOTHUB_ROCKSDB_CRASH_CHILD";  // "<db path>|<ack fd>|<first batch>"
constexpr char kRoundsEnv[] = "IOTHUB_CRASH_ROUNDS";
const Timestamp kT0 = FromUnixMillis(1'700'000'000'000);
constexpr uint64_t kQueueKeys = 4;
constexpr uint32_t kPartitions = 2;
constexpr uint64_t kBatchesPerRound = 100'000'000;  // batch numbers of round r start at r * this

std::string Value(uint64_t i) { return "v" + std::to_string(i); }

// Batch i: a table put, a queue append and a log append, all derived from i.
WriteBatch MakeBatch(uint64_t i) {
  WriteBatch batch;
  batch.Put("t", "k" + std::to_string(i), Value(i));
  batch.QueueAppend("q", "k" + std::to_string(i % kQueueKeys), Value(i));
  batch.LogAppend("log", static_cast<uint32_t>(i % kPartitions), kT0 + Duration(i % 1'000'000),
                  Value(i));
  return batch;
}

[[noreturn]] void RunChild(const std::string& spec) {
  const size_t a = spec.find('|');
  const size_t b = spec.find('|', a + 1);
  if (a == std::string::npos || b == std::string::npos) _exit(10);
  const std::string path = spec.substr(0, a);
  const int fd = std::atoi(spec.substr(a + 1, b - a - 1).c_str());
  const uint64_t first = std::strtoull(spec.substr(b + 1).c_str(), nullptr, 10);
  auto store = OpenRocksDbStore({.path = path});
  if (!store) {
    std::fprintf(stderr, "crash child: %s\n", store.error().ToString().c_str());
    _exit(11);
  }
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  for (uint64_t i = first;; ++i) {
    {
      // A few commits in flight at once, so that they group.
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < 8; });
      ++in_flight;
    }
    (*store)->Commit(MakeBatch(i), Durability::kSync, [&, i](Result<CommitResult> r) {
      if (!r) _exit(12);
      const uint64_t n = i;
      ssize_t written;
      do {
        written = write(fd, &n, sizeof n);  // < PIPE_BUF: atomic
      } while (written < 0 && errno == EINTR);
      if (written != sizeof n) _exit(13);
      std::lock_guard lock(mu);
      --in_flight;
      cv.notify_all();
    });
  }
}

// Becomes the child before any test runs. Not from a static initializer: RocksDB's own statics
// (linked statically) may not be initialized yet at that point.
class CrashChildEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* spec = std::getenv(kChildEnv)) RunChild(spec);
  }
};
[[maybe_unused]] ::testing::Environment* const kCrashChildEnvironment =
    ::testing::AddGlobalTestEnvironment(new CrashChildEnvironment);

struct Child {
  pid_t pid = -1;
  int ack_fd = -1;
};

Child SpawnChild(const std::string& path, uint64_t first) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  // Everything exec needs is built before fork: the child may only call async-signal-safe code.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildEnv) + "=" + path + "|" + std::to_string(fds[1]) + "|" +
                        std::to_string(first));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  char arg0[] = "rocksdb_crash_child";
  // GoogleTest sets environments up only when some test is selected: select this one (the
  // environment's SetUp turns into the child before it could run).
  char arg1[] = "--gtest_filter=RocksDbCrashTest.*";
  char* argv[] = {arg0, arg1, nullptr};
  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_WRONLY);  // keep the child's GoogleTest banner quiet
    if (null_fd >= 0) dup2(null_fd, STDOUT_FILENO);
    execve("/proc/self/exe", argv, envp.data());
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

// Reads acknowledgements until `deadline` (or EOF); returns false on EOF.
bool ReadAcks(int fd, std::chrono::steady_clock::time_point deadline, std::set<uint64_t>* acked,
              size_t stop_after = SIZE_MAX) {
  std::string pending;
  const size_t start = acked->size();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || acked->size() - start >= stop_after) return true;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    uint64_t buf[512];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    // Writes of 8 bytes are atomic on a pipe, so reads return whole acknowledgements.
    for (ssize_t k = 0; k < n / 8; ++k) acked->insert(buf[k]);
  }
}

// Checks the store at `path` against the batches acknowledged so far; `round_firsts` are the
// first batch numbers of the rounds run.
void VerifyStore(const std::string& path, const std::set<uint64_t>& acked,
                 const std::vector<uint64_t>& round_firsts) {
  auto opened = OpenRocksDbStore({.path = path});
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  Store& store = **opened;
  constexpr size_t kAll = SIZE_MAX;

  std::set<uint64_t> tables;
  auto rows = store.Scan("t", "", "", kAll);
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  for (const auto& row : *rows) {
    const uint64_t i = std::stoull(row.key.substr(1));
    EXPECT_EQ(row.value, Value(i));
    tables.insert(i);
  }

  std::set<uint64_t> queues;
  for (uint64_t q = 0; q < kQueueKeys; ++q) {
    auto entries = store.ReadQueue("q", "k" + std::to_string(q), 0, kAll);
    ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
    uint64_t last_i = 0;
    for (const auto& e : *entries) {
      const uint64_t i = std::stoull(e.value.substr(1));
      EXPECT_EQ(i % kQueueKeys, q);
      EXPECT_TRUE(queues.empty() || i > last_i) << "queue order broken at batch " << i;
      last_i = i;
      queues.insert(i);
    }
  }

  std::set<uint64_t> logs;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto entries = store.ReadLog("log", p, 0, kAll, kAll);
    ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
    uint64_t bytes = 0;
    for (size_t k = 0; k < entries->size(); ++k) {
      const LogEntry& e = (*entries)[k];
      EXPECT_EQ(e.offset, k) << "log offsets must stay dense";
      const uint64_t i = std::stoull(e.value.substr(1));
      EXPECT_EQ(i % kPartitions, p);
      EXPECT_EQ(e.append_time, kT0 + Duration(i % 1'000'000));
      bytes += e.value.size();
      logs.insert(i);
    }
    auto info = store.GetLogInfo("log", p);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->first_offset, 0u);
    EXPECT_EQ(info->next_offset, entries->size());
    EXPECT_EQ(info->bytes, bytes);
  }

  // No batch is partly present.
  EXPECT_EQ(tables, queues);
  EXPECT_EQ(tables, logs);
  // Every acknowledged batch is present.
  for (uint64_t i : acked) ASSERT_TRUE(tables.contains(i)) << "acknowledged batch " << i << " lost";
  // Commits apply in order, so each round's batches form an unbroken run from its first.
  for (uint64_t first : round_firsts) {
    auto it = tables.lower_bound(first);
    for (uint64_t expect = first; it != tables.end() && *it < first + kBatchesPerRound;
         ++it, ++expect) {
      ASSERT_EQ(*it, expect) << "batch " << expect << " missing while later ones are present";
    }
  }
}

TEST(RocksDbCrashTest, KillNineLosesNoAcknowledgedBatch) {
  const char* rounds_env = std::getenv(kRoundsEnv);
  const int rounds = rounds_env ? std::max(1, std::atoi(rounds_env)) : 5;
  const unsigned seed = std::random_device()();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  iothub::testing::TempDir dir;
  const std::string path = dir.str() + "/db";
  std::set<uint64_t> acked;
  std::vector<uint64_t> firsts;

  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const uint64_t first = (round + 1) * kBatchesPerRound;
    firsts.push_back(first);
    Child child = SpawnChild(path, first);
    ASSERT_GT(child.pid, 0) << "spawn failed";
    const size_t acked_before = acked.size();
    const auto now = std::chrono::steady_clock::now();
    bool open = true;
    if (round % 4 == 3) {
      // Sometimes kill early: during open and WAL recovery, or the first writes.
      open = ReadAcks(child.ack_fd, now + std::chrono::milliseconds(rng() % 150), &acked);
    } else {
      // Otherwise once writing is under way, at a random point of the next ~250 ms.
      open = ReadAcks(child.ack_fd, now + std::chrono::seconds(20), &acked, 1);
      if (open) {
        const auto delay = std::chrono::milliseconds(rng() % 250);
        open = ReadAcks(child.ack_fd, std::chrono::steady_clock::now() + delay, &acked);
      }
    }
    kill(child.pid, SIGKILL);
    int status = 0;
    waitpid(child.pid, &status, 0);
    // What the child acknowledged before dying is still in the pipe.
    ReadAcks(child.ack_fd, std::chrono::steady_clock::now() + std::chrono::seconds(20), &acked);
    close(child.ack_fd);
    ASSERT_TRUE(open) << "the child exited early, status " << status;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child died on its own, status " << status;
    if (round % 4 != 3) {
      EXPECT_GT(acked.size(), acked_before);
    }
    VerifyStore(path, acked, firsts);
    if (::testing::Test::HasFatalFailure()) return;
  }
  RecordProperty("acknowledged_batches", static_cast<int>(acked.size()));
  std::printf("%zu acknowledged batches over %d rounds, all found whole\n", acked.size(), rounds);
}

}  // namespace
}  // namespace iothub::storage
