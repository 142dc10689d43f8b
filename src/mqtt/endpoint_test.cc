#include "mqtt/endpoint.h"

#include <gtest/gtest.h>

#include "mqtt/session_test_fixture.h"

namespace iothub::mqtt {
namespace {

// A ByteStream that keeps what is written until the test drains it.
class FakeStream final : public net::ByteStream {
 public:
  void Start(std::shared_ptr<net::StreamHandler> handler) override {
    handler_ = std::move(handler);
    handler_->OnOpen();
  }
  void Write(std::string_view bytes) override { pending_.append(bytes); }
  size_t pending_write_bytes() const override { return pending_.size(); }
  void PauseReading() override { paused_ = true; }
  void ResumeReading() override { paused_ = false; }
  void Close(Duration) override { closed_ = true; }
  void Abort() override { closed_ = true; }
  size_t shard() const override { return 0; }
  const std::string& remote_endpoint() const override { return remote_; }

  // The OS took every byte.
  void Drain() {
    pending_.clear();
    handler_->OnDrained();
  }
  void Receive(std::string_view bytes) { handler_->OnData(bytes); }
  void End() { std::exchange(handler_, nullptr)->OnClosed("test"); }

  bool paused_ = false;
  bool closed_ = false;

 private:
  std::shared_ptr<net::StreamHandler> handler_;
  std::string pending_;
  std::string remote_ = "fake";
};

class EndpointTest : public SessionTest {};

TEST_F(EndpointTest, AClientThatDoesNotReadStopsBeingRead) {
  core::Device d = CreateDevice("dev1");
  auto stream = std::make_shared<FakeStream>();
  endpoint_->Acceptor("test")(stream);
  stream->Receive(EncodePacket(SdkConnect("dev1", DeviceToken("dev1", d.primary_key))));
  RunAll();
  EXPECT_FALSE(stream->paused_);
  std::string pings;
  for (int i = 0; i < 40000; ++i) pings += EncodePacket(Empty{.type = PacketType::kPingreq});
  stream->Receive(pings);  // 80000 bytes of PINGRESP owed
  EXPECT_TRUE(stream->paused_);
  stream->Drain();
  EXPECT_FALSE(stream->paused_);
  EXPECT_EQ(endpoint_->connection_count(0), 1u);
  stream->End();
  RunAll();
  EXPECT_EQ(endpoint_->connection_count(0), 0u);
}

TEST_F(EndpointTest, CloseAllLetsGoOfStreamsThatNeverClosed) {
  auto stream = std::make_shared<FakeStream>();
  endpoint_->Acceptor("test")(stream);
  std::weak_ptr<FakeStream> watch = stream;
  stream.reset();
  // Held only by its link, which its handler reference keeps alive: the cycle of an open stream.
  ASSERT_FALSE(watch.expired());
  endpoint_->CloseAll();
  EXPECT_EQ(endpoint_->connection_count(0), 0u);
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace iothub::mqtt
