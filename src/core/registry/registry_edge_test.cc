// IoT Edge scopes: edge devices own a generated scope; leaf devices (and nested edge devices) may
// name an existing edge device's scope, and nothing else.

#include <gtest/gtest.h>

#include "core/registry/registry.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

class RegistryEdgeTest : public ::testing::Test {
 protected:
  RegistryEdgeTest() : registry_(store_, clock_) { EXPECT_TRUE(registry_.Open().ok()); }

  Device Edge(std::string id) {
    Device d;
    d.id = std::move(id);
    d.capabilities.iot_edge = true;
    Result<Device> r = registry_.Create(d);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : Device{};
  }
  Result<Device> Leaf(std::string id, std::string scope, std::vector<std::string> parents = {}) {
    Device d;
    d.id = std::move(id);
    d.device_scope = std::move(scope);
    d.parent_scopes = std::move(parents);
    return registry_.Create(d);
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  Registry registry_;
};

TEST_F(RegistryEdgeTest, EdgeDeviceGetsAGeneratedScope) {
  Device e = Edge("gateway");
  const std::string prefix = "ms-azure-iot-edge://gateway-";
  ASSERT_EQ(e.device_scope.substr(0, prefix.size()), prefix);
  std::string n = e.device_scope.substr(prefix.size());
  EXPECT_FALSE(n.empty());
  EXPECT_EQ(n.find_first_not_of("0123456789"), std::string::npos);
  EXPECT_TRUE(e.parent_scopes.empty());
  EXPECT_NE(Edge("gateway2").device_scope, e.device_scope);
}

TEST_F(RegistryEdgeTest, AScopeGivenToAnEdgeDeviceOnCreateIsReplaced) {
  Device d;
  d.id = "gw";
  d.capabilities.iot_edge = true;
  d.device_scope = "ms-azure-iot-edge://made-up-1";
  Result<Device> r = registry_.Create(d);
  ASSERT_TRUE(r);
  EXPECT_NE(r->device_scope, "ms-azure-iot-edge://made-up-1");
}

TEST_F(RegistryEdgeTest, LeafMayNameAnEdgeDevicesScope) {
  Device e = Edge("gw");
  Result<Device> leaf = Leaf("sensor", e.device_scope);
  ASSERT_TRUE(leaf) << leaf.error().ToString();
  EXPECT_EQ(leaf->device_scope, e.device_scope);
  EXPECT_EQ(leaf->parent_scopes, std::vector<std::string>{e.device_scope});
  // Naming the parent only in parent_scopes fills device_scope in.
  Result<Device> other = Leaf("sensor2", "", {e.device_scope});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->device_scope, e.device_scope);
}

TEST_F(RegistryEdgeTest, ScopesOfNoEdgeDeviceAreInvalid) {
  Device e = Edge("gw");
  for (auto [scope, parents] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"ms-azure-iot-edge://gw-1", {}},
           {"anything", {}},
           {e.device_scope + "x", {}},
           {e.device_scope, {"ms-azure-iot-edge://ghost-1"}},
       }) {
    Result<Device> r = Leaf("leaf", scope, parents);
    ASSERT_FALSE(r) << scope;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  }
  Result<Device> plain = registry_.Create([] {
    Device d;
    d.id = "leaf";
    return d;
  }());
  EXPECT_TRUE(plain) << "no scope at all is fine";
}

TEST_F(RegistryEdgeTest, NestedEdgeDeviceNamesItsParent) {
  Device top = Edge("top");
  Device d;
  d.id = "lower";
  d.capabilities.iot_edge = true;
  d.parent_scopes = {top.device_scope};
  Result<Device> lower = registry_.Create(d);
  ASSERT_TRUE(lower) << lower.error().ToString();
  EXPECT_NE(lower->device_scope, top.device_scope);
  EXPECT_EQ(lower->parent_scopes, std::vector<std::string>{top.device_scope});
  // Not its own parent.
  Device self = *lower;
  self.parent_scopes = {lower->device_scope};
  EXPECT_EQ(registry_.Replace(self, "").error().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryEdgeTest, EdgeDeviceKeepsItsScopeOnReplace) {
  Device e = Edge("gw");
  Device in = e;
  in.device_scope.clear();
  EXPECT_EQ(registry_.Replace(in, "")->device_scope, e.device_scope);
  in.device_scope = e.device_scope;
  EXPECT_EQ(registry_.Replace(in, "")->device_scope, e.device_scope);
  in.device_scope = "ms-azure-iot-edge://gw-2";
  EXPECT_EQ(registry_.Replace(in, "").error().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryEdgeTest, BecomingAnEdgeDeviceGeneratesAScope) {
  Result<Device> plain = Leaf("d", "");
  ASSERT_TRUE(plain);
  Device in = *plain;
  in.capabilities.iot_edge = true;
  Result<Device> edge = registry_.Replace(in, "");
  ASSERT_TRUE(edge);
  EXPECT_EQ(edge->device_scope.rfind("ms-azure-iot-edge://d-", 0), 0u);
  EXPECT_TRUE(Leaf("child", edge->device_scope)) << "usable at once";
}

TEST_F(RegistryEdgeTest, ScopeOfAFormerEdgeDeviceIsGone) {
  Device e = Edge("gw");
  Device in = e;  // as read back from a GET, with iotEdge turned off
  in.capabilities.iot_edge = false;
  Result<Device> r = registry_.Replace(in, "");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->device_scope, "");
  EXPECT_TRUE(r->parent_scopes.empty());
  EXPECT_EQ(Leaf("child", e.device_scope).error().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryEdgeTest, DeletedEdgeDeviceNoLongerParentsNewDevices) {
  Device e = Edge("gw");
  ASSERT_TRUE(Leaf("before", e.device_scope));
  ASSERT_TRUE(registry_.Delete("gw", "").ok());
  EXPECT_EQ(Leaf("after", e.device_scope).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Get("before")->device_scope, e.device_scope) << "no cascade";
}

TEST_F(RegistryEdgeTest, ScopesSurviveAReload) {
  Device e = Edge("gw");
  Registry reopened(store_, clock_);
  ASSERT_TRUE(reopened.Open().ok());
  EXPECT_EQ(reopened.Get("gw")->device_scope, e.device_scope);
  Device leaf;
  leaf.id = "leaf";
  leaf.device_scope = e.device_scope;
  EXPECT_TRUE(reopened.Create(leaf));
}

}  // namespace
}  // namespace iothub::core
