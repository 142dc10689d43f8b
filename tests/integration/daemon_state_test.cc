// The hub's state across real iothubd runs: what one run left in the store, the next run recovers
// and works on (its shards' timers run), and a SIGKILL loses nothing acknowledged. The store is
// seeded and inspected in-process through the same core::Hub the daemon runs, because no network
// front-end exists yet to do it from outside.

#include <gtest/gtest.h>
#include <signal.h>

#include "core/hub/hub.h"
#include "storage/rocksdb/rocksdb_store.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/manual_executor.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

// An in-process hub over the daemon's data directory, while no iothubd runs on it.
class OfflineHub {
 public:
  explicit OfflineHub(const std::string& data_dir) {
    auto store = storage::OpenRocksDbStore({.path = data_dir + "/store"});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
    core::HubOptions options;
    options.host_name = "hub.example.test";
    hub_ = std::make_unique<core::Hub>(options, *store_, SystemClock::Instance(),
                                       std::vector<Executor*>{&shard_});
    Status opened = hub_->Open();
    EXPECT_TRUE(opened.ok()) << opened.ToString();
  }
  ~OfflineHub() {
    shard_.RunAll();
    hub_->Close();
    store_->Close();
    shard_.RunAll();
  }

  core::Hub& hub() { return *hub_; }
  void Run() { shard_.RunAll(); }

  Result<uint64_t> Send(const std::string& device, core::Message m) {
    std::optional<Result<uint64_t>> result;
    hub_->SendC2d(device, std::move(m), shard_, [&](Result<uint64_t> r) { result = std::move(r); });
    // The RocksDB writer answers on its own thread; wait for the posted reply.
    for (int i = 0; i < 500 && !result; ++i) {
      shard_.RunAll();
      if (!result) std::this_thread::sleep_for(2ms);
    }
    return result.value_or(Result<uint64_t>(Internal("no reply")));
  }

  Status Complete(const std::string& device) {
    auto locked = hub_->c2d(0).ReceiveAndLock(device);
    if (!locked) return NotFound("nothing to lock");
    std::optional<Status> done;
    hub_->c2d(0).Complete(device, locked->lock_token, [&](Status s) { done = s; });
    for (int i = 0; i < 500 && !done; ++i) {
      shard_.RunAll();
      if (!done) std::this_thread::sleep_for(2ms);
    }
    return done.value_or(Internal("no reply"));
  }

 private:
  ManualExecutor shard_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<core::Hub> hub_;
};

class DaemonStateTest : public ::testing::Test {
 protected:
  DaemonStateTest() : address_(RandomLoopbackAddress()) {}
  std::string data() const { return dir_.str() + "/data"; }
  std::vector<std::string> Args() {
    return {"--data-dir",
            data(),
            "--hostname",
            "hub.example.test",
            "--bind",
            address_,
            "--mqtt-port",
            std::to_string(FreePort(address_)),
            "--amqp-port",
            std::to_string(FreePort(address_)),
            "--https-port",
            std::to_string(FreePort(address_)),
            "--shards",
            "2",
            "--feedback-batch-interval-ms",
            "1500"};
  }
  TempDir dir_;
  std::string address_;
};

TEST_F(DaemonStateTest, DaemonRecoversQueuesAndBatchesPendingFeedback) {
  // A first (daemon) start creates the data directory and policies.
  {
    HubProcess hub(Args(), dir_.str());
    ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
    hub.Signal(SIGTERM);
    ASSERT_EQ(hub.WaitForExit(5s), std::optional<int>(0)) << hub.err();
  }
  // Seed: a device with two C2D messages asking for full feedback; the first one completed, so a
  // Success record waits for its batch.
  {
    OfflineHub offline(data());
    core::Device device;
    device.id = "d1";
    ASSERT_TRUE(offline.hub().registry().Create(device).has_value());
    for (const char* id : {"m1", "m2"}) {
      core::Message m;
      m.message_id = id;
      m.ack = core::AckMode::kFull;
      ASSERT_TRUE(offline.Send("d1", m).has_value());
    }
    ASSERT_TRUE(offline.Complete("d1").ok());
  }
  // The daemon recovers both. The record is younger than the 1.5 s batch interval when the daemon
  // recovers it, so only the daemon's running timers can batch it; SIGTERM then shuts it down.
  {
    HubProcess hub(Args(), dir_.str());
    ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
    std::this_thread::sleep_for(2500ms);
    hub.Signal(SIGTERM);
    ASSERT_EQ(hub.WaitForExit(5s), std::optional<int>(0)) << hub.err();
    EXPECT_NE(hub.err().find("recovered 1 C2D message"), std::string::npos) << hub.err();
  }
  OfflineHub after(data());
  auto next = after.hub().c2d(0).ReceiveAndLock("d1");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->message_id, "m2");
  ASSERT_EQ(after.hub().feedback().Depth(), 1u) << "the daemon did not batch the pending record";
  auto feedback = after.hub().feedback().ReceiveAndLock();
  ASSERT_TRUE(feedback.has_value());
  EXPECT_NE(feedback->body.find("\"originalMessageId\":\"m1\""), std::string::npos)
      << feedback->body;
  EXPECT_NE(feedback->body.find("\"statusCode\":\"Success\""), std::string::npos);
}

TEST_F(DaemonStateTest, SigkillLosesNothingAndTheNextStartIsClean) {
  std::string strings;
  {
    HubProcess hub(Args(), dir_.str());
    ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
    strings = hub.out();
  }
  {
    OfflineHub offline(data());
    core::Device device;
    device.id = "d1";
    ASSERT_TRUE(offline.hub().registry().Create(device).has_value());
    core::Message m;
    m.message_id = "kept";
    ASSERT_TRUE(offline.Send("d1", m).has_value());
  }
  {
    HubProcess hub(Args(), dir_.str());
    ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
    hub.Signal(SIGKILL);
    ASSERT_EQ(hub.WaitForExit(5s), std::optional<int>(128 + SIGKILL));
  }
  HubProcess hub(Args(), dir_.str());
  ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
  EXPECT_NE(hub.err().find("recovered 1 C2D message"), std::string::npos) << hub.err();
  hub.Signal(SIGTERM);
  ASSERT_EQ(hub.WaitForExit(5s), std::optional<int>(0)) << hub.err();
  OfflineHub after(data());
  EXPECT_TRUE(after.hub().registry().Get("d1").has_value());
  auto kept = after.hub().c2d(0).ReceiveAndLock("d1");
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->message_id, "kept");
}

}  // namespace
}  // namespace iothub::testing
