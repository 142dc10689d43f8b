// A real restart: the registry on the embedded RocksDB store, closed and opened again.

#include <gtest/gtest.h>

#include "core/registry/registry.h"
#include "storage/rocksdb/rocksdb_store.h"
#include "tests/testing/temp_dir.h"

namespace iothub::core {
namespace {

std::unique_ptr<storage::Store> OpenStore(const iothub::testing::TempDir& dir) {
  Result<std::unique_ptr<storage::Store>> store = storage::OpenRocksDbStore({.path = dir.str()});
  EXPECT_TRUE(store) << store.error().ToString();
  return store ? std::move(*store) : nullptr;
}

TEST(RegistryRocksDbTest, DevicesAndRuntimeStateSurviveARestart) {
  iothub::testing::TempDir dir;
  FakeClock clock;
  Device edge, leaf;
  Timestamp active;
  {
    std::unique_ptr<storage::Store> store = OpenStore(dir);
    ASSERT_TRUE(store);
    Registry registry(*store, clock);
    ASSERT_TRUE(registry.Open().ok());
    Device d;
    d.id = "gw";
    d.capabilities.iot_edge = true;
    edge = *registry.Create(d);
    d = {};
    d.id = "leaf";
    d.device_scope = edge.device_scope;
    leaf = *registry.Create(d);
    Device gone = *registry.Create([] {
      Device g;
      g.id = "gone";
      return g;
    }());
    ASSERT_TRUE(registry.Delete("gone", gone.etag).ok());
    clock.Advance(std::chrono::seconds(10));
    registry.SetConnectionState("leaf", true);
    registry.TouchActivity("leaf");  // kAsync, possibly still in flight below
    active = clock.Now();
    ASSERT_TRUE(registry.FlushActivity().ok());
    store->Close();
  }
  std::unique_ptr<storage::Store> store = OpenStore(dir);
  ASSERT_TRUE(store);
  Registry registry(*store, clock);
  ASSERT_TRUE(registry.Open().ok());
  EXPECT_EQ(*registry.Get("gw"), edge);
  Device reloaded = *registry.Get("leaf");
  EXPECT_EQ(reloaded.last_activity_time, active);
  EXPECT_EQ(reloaded.connection_state, ConnectionState::kDisconnected);
  reloaded.connection_state_updated_time = leaf.connection_state_updated_time;
  reloaded.last_activity_time = leaf.last_activity_time;
  EXPECT_EQ(reloaded, leaf);
  EXPECT_FALSE(registry.Get("gone"));
  EXPECT_EQ(registry.Stats().total, 2u);
  EXPECT_TRUE(registry.Replace(leaf, leaf.etag)) << "etags stay valid across a restart";
}

}  // namespace
}  // namespace iothub::core
