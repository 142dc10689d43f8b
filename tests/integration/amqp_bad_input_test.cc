// Bad input on the AMQP endpoint of a real iothubd, mostly with the raw client of amqp_wire.h
// (Proton's Python client will not send such bytes): garbage before and after the protocol
// header, a frame one byte over the advertised max-frame-size (one of exactly that size is
// served), a transfer on a handle never attached, a connection that never sends OPEN; with
// python3-qpid-proton, unknown link addresses (amqp:not-found) and a message over the size limit
// (amqp:link:message-size-exceeded). Through each, a witness connection on the same hub keeps
// being served. Also AMQP over WebSockets (AMQPWSB10 at /$iothub/websocket), by hand. One hub for
// the suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>
#include <strings.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/amqp_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace wire = amqp_wire;

// Connections that never send OPEN, opened when the suite starts so that the hub's open
// time-out (10 s) runs while the other cases do: one sends nothing, one only the protocol header.
struct SlowConnections {
  std::thread thread;
  std::optional<std::chrono::milliseconds> silent_closed_after, header_only_closed_after;
  std::string header_only_got;  // what the hub sent the one that sent its header
  std::string error;
};

class AmqpBadInputTest : public AmqpHubTest<AmqpBadInputTest> {
 public:
  static void SetUpTestSuite() {
    AmqpHubTest<AmqpBadInputTest>::SetUpTestSuite();
    slow_ = new SlowConnections();
    if (!started_) return;
    slow_->thread = std::thread([hub = hub_, slow = slow_] {
      auto start = std::chrono::steady_clock::now();
      std::string error;
      auto silent = wire::Connection::Open(hub->address(), hub->plain_amqp_port(), "", "", &error);
      auto header_only = wire::Connection::Open(hub->address(), hub->amqp_port(), hub->ca(),
                                                hub->address(), &error);
      if (!silent || !header_only || !header_only->Send(wire::AmqpHeader())) {
        slow->error = "cannot connect: " + error;
        return;
      }
      auto since = [start] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
      };
      if (silent->WaitClosed(20s)) slow->silent_closed_after = since();
      std::string header;
      header_only->ReadBytes(8, &header, 20s);
      slow->header_only_got = header;
      if (header_only->WaitClosed(20s)) slow->header_only_closed_after = since();
    });
  }
  static void TearDownTestSuite() {
    if (slow_->thread.joinable()) slow_->thread.join();
    delete slow_;
    AmqpHubTest<AmqpBadInputTest>::TearDownTestSuite();
  }

 protected:
  // Each case runs next to a witness: a connection opened before the bad input and still served
  // after it.
  void SetUp() override {
    AmqpHubTest<AmqpBadInputTest>::SetUp();
    witness_ = OpenRawAmqp(*hub_, false);
    ASSERT_NE(witness_, nullptr);
    ASSERT_EQ(RawHandshake(*witness_), "") << Log();
  }
  void TearDown() override {
    if (!witness_) return;
    ASSERT_TRUE(witness_->Send(wire::AttachFrame(0, "witness", 0, false, "$cbs")));
    std::optional<wire::ParsedFrame> attach = witness_->ReadUntilFrame(wire::kAttach, 5s);
    EXPECT_TRUE(attach.has_value()) << "the witness connection is no longer served" << Log();
    EXPECT_TRUE(witness_->ReadUntilFrame(wire::kFlow, 5s).has_value())
        << "no credit for the witness' $cbs link" << Log();
  }

  // Reads until the hub closes; the condition of the CLOSE it sent before ("" if none), and a
  // test failure if it does not close within 5 s.
  static std::string CloseCondition(wire::Connection& c) {
    bool closed = c.WaitClosed(3s);
    EXPECT_TRUE(closed) << "the hub kept the connection open" << Log();
    for (const wire::ParsedFrame& f : c.seen()) {
      if (f.code() == wire::kClose) return f.ErrorCondition(0);
    }
    return "";
  }

  // Sends the protocol header and `garbage` on a new plain connection; expects the hub's header,
  // a CLOSE with an amqp: error, and the end of the connection.
  static void ExpectClosedWithAnError(const std::string& garbage) {
    SCOPED_TRACE("garbage: " + wire::Printable(garbage));
    auto c = OpenRawAmqp(*hub_, false);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Send(wire::AmqpHeader() + garbage));
    std::string header;
    ASSERT_EQ(c->ReadBytes(8, &header, 5s), wire::ReadStatus::kOk) << Log();
    EXPECT_EQ(header, wire::AmqpHeader()) << wire::Printable(header);
    std::string condition = CloseCondition(*c);
    EXPECT_EQ(condition.rfind("amqp:", 0), 0u)
        << "no CLOSE with an AMQP error: '" << condition << "'";
  }

  static inline SlowConnections* slow_ = nullptr;
  std::unique_ptr<wire::Connection> witness_;
};

TEST_F(AmqpBadInputTest, GarbageBeforeTheHeaderGetsTheHubsHeaderAndAClose) {
  const std::string cases[] = {
      "GET / HTTP/1.1\r\nHost: hub\r\n\r\n",
      // AMQP, but a version that does not exist
      std::string("AMQP\x00\x02\x00\x00", 8),
      // a frame where the header belongs
      wire::OpenFrame("c", "hub"),
  };
  for (bool tls : {false, true}) {
    for (const std::string& garbage : cases) {
      SCOPED_TRACE((tls ? "TLS, " : "plain, ") + wire::Printable(garbage));
      auto c = OpenRawAmqp(*hub_, tls);
      ASSERT_NE(c, nullptr);
      ASSERT_TRUE(c->Send(garbage));
      std::string header;
      ASSERT_EQ(c->ReadBytes(8, &header, 5s), wire::ReadStatus::kOk) << Log();
      EXPECT_EQ(header.substr(0, 4), "AMQP") << wire::Printable(header);
      EXPECT_TRUE(c->WaitClosed(5s)) << Log();
    }
  }
}

TEST_F(AmqpBadInputTest, GarbageFramingAfterTheHeaderClosesWithAnError) {
  const std::string cases[] = {
      // a frame size far beyond any limit
      std::string("\xff\xff\xff\xf0\x02\x00\x00\x00garbage garbage garbage", 31),
      // a data offset pointing past the frame
      std::string("\x00\x00\x00\x0c\x09\x00\x00\x00\x00\x53\x10\x45", 12),
      // a frame smaller than its own header
      std::string("\x00\x00\x00\x04\x02\x00\x00\x00", 8),
  };
  for (const std::string& garbage : cases) ExpectClosedWithAnError(garbage);
}

// Well-framed bytes that are no AMQP: Proton 0.37 drops such a frame and reads on, so the hub
// must catch it itself (issue 5: "garbage after the protocol header ... refused with the proper
// AMQP error and close").
TEST_F(AmqpBadInputTest, UndecodableFrameBodyClosesWithAnError) {
  ExpectClosedWithAnError(wire::Frame(0, "\xff\xfe\xfd\xfc"));
  ExpectClosedWithAnError(wire::OpenFrame("c", "hub") + wire::Frame(0, "\xff\xfe\xfd\xfc"));
}

TEST_F(AmqpBadInputTest, UnknownPerformativeClosesWithAnError) {
  ExpectClosedWithAnError(wire::OpenFrame("c", "hub") +
                          wire::Frame(0, wire::enc::Described(0x99, wire::enc::List({}))));
}

TEST_F(AmqpBadInputTest, FrameOverTheAdvertisedMaxFrameSizeClosesTheConnection) {
  auto c = OpenRawAmqp(*hub_, true);
  ASSERT_NE(c, nullptr);
  wire::ParsedFrame open;
  ASSERT_EQ(RawHandshake(*c, &open), "") << Log();
  const wire::Value* max = open.Field(2);
  ASSERT_NE(max, nullptr) << "the hub's OPEN has no max-frame-size";
  const uint64_t max_frame = max->number;
  EXPECT_GE(max_frame, 512u);
  EXPECT_LT(max_frame, 0xffffffffu) << "the hub must advertise a finite max-frame-size";
  ASSERT_LT(max_frame, 16u << 20);
  // PROTOCOL.md: the hub also advertises an idle time-out (the SDKs send empty frames at half).
  const wire::Value* idle = open.Field(4);
  ASSERT_NE(idle, nullptr) << "the hub's OPEN has no idle-time-out";
  EXPECT_GT(idle->number, 0u);
  // An ATTACH padded by its link name to exactly the size: served.
  auto attach_of_size = [](size_t size, uint32_t handle) {
    size_t base = wire::AttachFrame(0, std::string(300, 'n'), handle, false, "$cbs").size() - 300;
    return wire::AttachFrame(0, std::string(size - base, 'n'), handle, false, "$cbs");
  };
  std::string exact = attach_of_size(max_frame, 0);
  ASSERT_EQ(exact.size(), max_frame);
  ASSERT_TRUE(c->Send(exact));
  EXPECT_TRUE(c->ReadUntilFrame(wire::kAttach, 5s).has_value())
      << "a frame of exactly max-frame-size was not served" << Log();
  // One byte more: the connection ends.
  std::string over = attach_of_size(max_frame + 1, 1);
  ASSERT_EQ(over.size(), max_frame + 1);
  c->Send(over);
  std::string condition = CloseCondition(*c);
  EXPECT_EQ(condition, "amqp:connection:framing-error") << Log();
}

TEST_F(AmqpBadInputTest, TransferOnAnUnattachedHandleClosesTheConnection) {
  auto c = OpenRawAmqp(*hub_, false);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(RawHandshake(*c), "") << Log();
  // One Data section holding "x".
  const std::string message = wire::enc::Described(0x75, wire::enc::Binary("x"));
  ASSERT_TRUE(c->Send(wire::TransferFrame(0, 7, 0, "tag", message)));
  std::string condition = CloseCondition(*c);
  EXPECT_NE(condition, "") << "closed without an AMQP error" << Log();
  EXPECT_EQ(condition.rfind("amqp:", 0), 0u) << condition;
}

TEST_F(AmqpBadInputTest, UnknownAddressesAreNotFound) {
  NewDevice();
  AmqpRun run =
      Run(PlainDevice(id_, key_),
          {Op("connect"),
           Op("attach", {{"link", "a"},
                         {"address", "/devices/" + id_ + "/messages/nowhere"},
                         {"role", "sender"}}),
           Op("attach", {{"link", "b"}, {"address", "/nowhere"}, {"role", "receiver"}}),
           Op("attach", {{"link", "c"}, {"address", ""}, {"role", "sender"}}),
           Op("attach", {{"link", "ok"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
           Op("send", {{"link", "ok"}, {"body", "fine"}}), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  for (int i = 0; i < 3; ++i) {
    json attach = run.Step("attach", i);
    EXPECT_EQ(attach["attached"], false) << i << run.Dump();
    EXPECT_EQ(attach["error"]["condition"], "amqp:not-found") << i << run.Dump() << Log();
  }
  EXPECT_EQ(run.Step("attach", 3)["attached"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send")["state"], "accepted") << run.Dump() << Log();
}

TEST_F(AmqpBadInputTest, MessageOverTheLimitDetachesItsLink) {
  NewDevice();
  AmqpRun run =
      Run(PlainDevice(id_, key_),
          {Op("connect"),
           Op("attach", {{"link", "events"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
           // Telemetry's limit itself (256 KiB), split by Proton into frames of the hub's size.
           Op("send", {{"link", "events"}, {"size", 256 * 1024}}),
           Op("send", {{"link", "events"}, {"size", 400 * 1024}}),
           Op("attach", {{"link", "again"}, {"address", EventsAddress(id_)}, {"role", "sender"}}),
           Op("send", {{"link", "again"}, {"body", "small"}}), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  ASSERT_EQ(run.Step("attach")["attached"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send", 0)["state"], "accepted") << run.Dump() << Log();
  json big = run.Step("send", 1);
  EXPECT_EQ(big["detached"]["condition"], "amqp:link:message-size-exceeded") << run.Dump() << Log();
  EXPECT_FALSE(big.contains("closed")) << "only the link ends" << run.Dump();
  EXPECT_EQ(run.Step("attach", 1)["attached"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send", 2)["state"], "accepted") << run.Dump() << Log();
  json events = hub_->WaitTelemetry(id_, 2);
  ASSERT_EQ(events.size(), 2u) << Log();
}

TEST_F(AmqpBadInputTest, WebSocketsCarryAmqp) {
  std::string error;
  auto c = wire::Connection::Open(hub_->address(), hub_->https_port(), hub_->ca(), hub_->address(),
                                  &error);
  ASSERT_NE(c, nullptr) << error;
  ASSERT_TRUE(c->Send(wire::WebSocketUpgrade(hub_->address(), "/$iothub/websocket", "AMQPWSB10")));
  std::string head;
  ASSERT_EQ(c->ReadUntil("\r\n\r\n", &head, 5s), wire::ReadStatus::kOk) << Log();
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  bool protocol = false;
  for (size_t at = 0; (at = head.find("\r\n", at)) != std::string::npos;) {
    at += 2;
    static constexpr char kName[] = "Sec-WebSocket-Protocol:";
    if (strncasecmp(head.c_str() + at, kName, sizeof(kName) - 1) == 0) {
      protocol = head.compare(at + sizeof(kName) - 1, 10, " AMQPWSB10") == 0;
    }
  }
  EXPECT_TRUE(protocol) << head;
  // The AMQP header in one binary message, OPEN in the next; the hub's bytes may come in any
  // number of messages.
  ASSERT_TRUE(c->Send(wire::WebSocketBinary(wire::AmqpHeader())));
  ASSERT_TRUE(c->Send(wire::WebSocketBinary(wire::OpenFrame("ws-client", hub_->address()))));
  std::string amqp;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto whole_frame = [&amqp] {
    if (amqp.size() < 16) return false;
    size_t size = (static_cast<uint8_t>(amqp[8]) << 24) | (static_cast<uint8_t>(amqp[9]) << 16) |
                  (static_cast<uint8_t>(amqp[10]) << 8) | static_cast<uint8_t>(amqp[11]);
    return amqp.size() >= 8 + size;
  };
  while (!whole_frame() && std::chrono::steady_clock::now() < deadline) {
    wire::WebSocketFrame frame;
    ASSERT_EQ(wire::ReadWebSocketFrame(*c, &frame, 5s), wire::ReadStatus::kOk)
        << wire::Printable(amqp) << Log();
    EXPECT_EQ(frame.opcode, 2) << "not a binary message";
    amqp += frame.payload;
  }
  ASSERT_GE(amqp.size(), 8u);
  EXPECT_EQ(amqp.substr(0, 8), wire::AmqpHeader()) << wire::Printable(amqp);
  ASSERT_TRUE(whole_frame()) << wire::Printable(amqp);
  std::string_view body = std::string_view(amqp).substr(8 + 8);
  std::optional<wire::Value> open = wire::Decode(&body);
  ASSERT_TRUE(open.has_value()) << wire::Printable(amqp);
  EXPECT_EQ(open->descriptor, std::optional<uint64_t>(wire::kOpen)) << wire::Printable(amqp);
}

// Last, so that its 10 s mostly passed during the cases above (it started with the suite).
TEST_F(AmqpBadInputTest, ConnectionsWithoutOpenAreClosedAfterTheOpenTimeout) {
  ASSERT_TRUE(slow_->thread.joinable());
  slow_->thread.join();
  ASSERT_EQ(slow_->error, "");
  ASSERT_TRUE(slow_->silent_closed_after.has_value()) << "a silent connection stayed open" << Log();
  ASSERT_TRUE(slow_->header_only_closed_after.has_value())
      << "a connection without OPEN stayed open" << Log();
  // The open time-out is 10 s, checked each second.
  EXPECT_GE(*slow_->silent_closed_after, 9s);
  EXPECT_LE(*slow_->silent_closed_after, 14s);
  EXPECT_GE(*slow_->header_only_closed_after, 9s);
  EXPECT_LE(*slow_->header_only_closed_after, 14s);
  EXPECT_EQ(slow_->header_only_got, wire::AmqpHeader()) << wire::Printable(slow_->header_only_got);
  EXPECT_NE(hub_->log().find("no OPEN within 10 s: closing"), std::string::npos) << Log();
}

}  // namespace
}  // namespace iothub::testing
