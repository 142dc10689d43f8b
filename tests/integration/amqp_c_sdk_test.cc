// What the official C SDK's AMQP device transport (azure-iot-sdk-c, uAMQP) does on the wire, as
// PROTOCOL.md records it, reproduced byte by byte with the raw client of amqp_wire.h (the C SDK
// cannot be installed here): SASL mechanism MSSBCBS (it insists on finding it offered), CBS
// put-tokens whose settlement it expects before their answers (on every put-token: the second one
// of a connection failed before), the twin links it attaches at start (and, for methods, the
// method links) whatever the app uses, a twin request answered rather than left unanswered, and
// then the C2D messages it waits for. Also over WebSockets with the subprotocol spelled as the C
// SDK's MQTT transport spells its own ("MQTT"). One hub for the suite.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/amqp_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
namespace wire = amqp_wire;
namespace enc = amqp_wire::enc;

constexpr uint64_t kSaslInit = 0x41, kSaslOutcome = 0x44;

// FLOW granting `credit` on `handle` (spec 2.7.4).
std::string FlowFrame(uint32_t handle, uint32_t credit) {
  return wire::Frame(
      0, enc::Described(wire::kFlow,
                        enc::List({enc::Uint(0), enc::Uint(1000), enc::Uint(0), enc::Uint(1000),
                                   enc::Uint(handle), enc::Uint(0), enc::Uint(credit)})));
}

// A map of string keys (symbols when `symbols`) to encoded values.
std::string Map(const std::vector<std::pair<std::string, std::string>>& entries,
                bool symbols = false) {
  std::string body;
  for (const auto& [k, v] : entries) body += (symbols ? enc::Symbol(k) : enc::String(k)) + v;
  uint32_t n = static_cast<uint32_t>(entries.size() * 2);
  std::string out = "\xd1";
  uint32_t size = static_cast<uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  return out + body;
}

// The C SDK's put-token request: properties (message-id, to, reply-to), application properties,
// the token as an amqp-value string.
std::string PutTokenMessage(const std::string& message_id, const std::string& audience,
                            const std::string& token) {
  return enc::Described(0x73, enc::List({enc::String(message_id), enc::Null(), enc::String("$cbs"),
                                         enc::Null(), enc::String("cbs")})) +
         enc::Described(0x74, Map({{"operation", enc::String("put-token")},
                                   {"type", enc::String("servicebus.windows.net:sastoken")},
                                   {"name", enc::String(audience)}})) +
         enc::Described(0x77, enc::String(token));
}

// A twin GET as the C SDK's twin messenger sends it: correlation-id, annotation operation=GET.
std::string TwinGetMessage(const std::string& correlation_id) {
  return enc::Described(0x72, Map({{"operation", enc::String("GET")}}, /*symbols=*/true)) +
         enc::Described(0x73, enc::List({enc::Null(), enc::Null(), enc::Null(), enc::Null(),
                                         enc::Null(), enc::String(correlation_id)})) +
         enc::Described(0x75, enc::Binary(" "));
}

// The sections of a transferred message, by descriptor.
std::vector<wire::Value> Sections(std::string_view payload) {
  std::vector<wire::Value> out;
  while (!payload.empty()) {
    std::optional<wire::Value> v = wire::Decode(&payload);
    if (!v) break;
    out.push_back(std::move(*v));
  }
  return out;
}

// The value of `key` in the map section `descriptor` of a message, or nullptr.
const wire::Value* MapEntry(const std::vector<wire::Value>& sections, uint64_t descriptor,
                            const std::string& key) {
  for (const wire::Value& s : sections) {
    if (s.descriptor != descriptor || s.items.empty()) continue;
    const wire::Value& map = s.items[0];
    for (size_t i = 0; i + 1 < map.items.size(); i += 2) {
      if (map.items[i].text == key) return &map.items[i + 1];
    }
  }
  return nullptr;
}

class AmqpCSdkTest : public AmqpHubTest<AmqpCSdkTest> {
 protected:
  // The next frame; the hub's ATTACHes are remembered (its handle for each link name: transfers
  // and flows name links by the sender's handle). Fails the test on a detach with an error.
  bool Read(wire::Connection& c, wire::ParsedFrame* f) {
    if (c.ReadFrame(f, 5s) != wire::ReadStatus::kOk) return false;
    if (f->code() == wire::kAttach && f->Field(0) != nullptr && f->Field(1) != nullptr) {
      handles_[f->Field(0)->text] = f->Field(1)->number;
    }
    if (f->code() == wire::kDetach) {
      ADD_FAILURE() << "a link was detached: " << f->ErrorCondition(2) << " "
                    << f->ErrorDescription(2);
    }
    return true;
  }
  // Whether `f` is a transfer of the hub on the link named `name`.
  bool TransferOn(const wire::ParsedFrame& f, const std::string& name) const {
    auto it = handles_.find(name);
    return f.code() == wire::kTransfer && it != handles_.end() && f.Field(0) != nullptr &&
           f.Field(0)->number == it->second;
  }
  // Reads until the hub attached `name` (and so gave its credit, when the client sends).
  bool WaitAttached(wire::Connection& c, const std::string& name) {
    for (int i = 0; i < 30 && !handles_.contains(name); ++i) {
      wire::ParsedFrame f;
      if (!Read(c, &f)) return false;
    }
    return handles_.contains(name);
  }

  std::map<std::string, uint64_t> handles_;

  // Connects over TLS the C SDK's way up to an open session: SASL MSSBCBS (checked to be
  // offered), the AMQP header, OPEN and BEGIN.
  std::unique_ptr<wire::Connection> Handshake() {
    auto c = OpenRawAmqp(*hub_, /*tls=*/true);
    if (!c) return nullptr;
    std::string header;
    EXPECT_TRUE(c->Send(wire::SaslHeader()));
    EXPECT_EQ(c->ReadBytes(8, &header, 5s), wire::ReadStatus::kOk);
    EXPECT_EQ(header, wire::SaslHeader());
    std::optional<wire::ParsedFrame> mechanisms = c->ReadUntilFrame(wire::kSaslMechanisms, 5s);
    EXPECT_TRUE(mechanisms.has_value());
    bool offered = false;
    if (mechanisms && mechanisms->Field(0) != nullptr) {
      const wire::Value& list = *mechanisms->Field(0);
      offered = list.text == "MSSBCBS";
      for (const wire::Value& m : list.items) offered = offered || m.text == "MSSBCBS";
    }
    EXPECT_TRUE(offered) << "the C SDK looks for MSSBCBS among the server's mechanisms";
    c->Send(wire::Frame(0, enc::Described(kSaslInit, enc::List({enc::Symbol("MSSBCBS")})), 1));
    std::optional<wire::ParsedFrame> outcome = c->ReadUntilFrame(kSaslOutcome, 5s);
    EXPECT_TRUE(outcome.has_value() && outcome->Field(0) != nullptr &&
                outcome->Field(0)->number == 0)
        << "SASL outcome ok";
    EXPECT_TRUE(c->Send(wire::AmqpHeader()));
    EXPECT_EQ(c->ReadBytes(8, &header, 5s), wire::ReadStatus::kOk);
    EXPECT_EQ(header, wire::AmqpHeader());
    c->Send(wire::OpenFrame("c-sdk-device", hub_->address()) + wire::BeginFrame(0));
    EXPECT_TRUE(c->ReadUntilFrame(wire::kBegin, 5s).has_value());
    return c;
  }

  // Sends a put-token as delivery `delivery_id` on handle 0 and reads until its answer on handle
  // 1: the answer's status-code, and whether the request's settlement came first.
  std::pair<int64_t, bool> PutToken(wire::Connection& c, uint32_t delivery_id) {
    std::string token = hub_->DeviceToken(id_, key_);
    c.Send(wire::TransferFrame(0, 0, delivery_id, "tag" + std::to_string(delivery_id),
                               PutTokenMessage("cbs-" + std::to_string(delivery_id),
                                               AmqpDeviceAudience(*hub_, id_), token)));
    bool settled = false;
    for (int i = 0; i < 20; ++i) {
      wire::ParsedFrame f;
      if (!Read(c, &f)) break;
      if (f.code() == wire::kDisposition && f.Field(1) != nullptr) {
        uint64_t first = f.Field(1)->number;
        uint64_t last = f.Field(2) != nullptr ? f.Field(2)->number : first;
        if (first <= delivery_id && delivery_id <= last) settled = true;
      }
      if (TransferOn(f, "cbs-receiver")) {
        std::vector<wire::Value> sections = Sections(f.payload);
        const wire::Value* status = MapEntry(sections, 0x74, "status-code");
        return {status == nullptr ? -1 : static_cast<int64_t>(status->number), settled};
      }
    }
    return {-1, settled};
  }
};

TEST_F(AmqpCSdkTest, TheCSdksDeviceSessionFromSaslToC2d) {
  NewDevice();
  auto c = Handshake();
  ASSERT_NE(c, nullptr);
  // $cbs: a sender (handle 0) and a receiver (handle 1) with credit.
  c->Send(wire::AttachFrame(0, "cbs-sender", 0, false, "$cbs") +
          wire::AttachFrame(0, "cbs-receiver", 1, true, "$cbs") + FlowFrame(1, 100));
  ASSERT_TRUE(WaitAttached(*c, "cbs-sender"));
  ASSERT_TRUE(WaitAttached(*c, "cbs-receiver"));
  for (uint32_t delivery = 0; delivery < 3; ++delivery) {
    auto [status, settled_first] = PutToken(*c, delivery);
    EXPECT_EQ(status, 200) << "put-token " << delivery << HubLogTail(hub_->log());
    EXPECT_TRUE(settled_first) << "put-token " << delivery
                               << ": its answer came before its settlement";
  }
  // The twin links (sender and receiver), attached at start even when the app uses no twin, and
  // the method links: attached, not refused.
  std::string twin = "/devices/" + id_ + "/twin";
  std::string methods = "/devices/" + id_ + "/methods/devicebound";
  c->Send(wire::AttachFrame(0, "twin-sender", 2, false, twin) +
          wire::AttachFrame(0, "twin-receiver", 3, true, twin) + FlowFrame(3, 10) +
          wire::AttachFrame(0, "methods-receiver", 4, true, methods) + FlowFrame(4, 10) +
          wire::AttachFrame(0, "methods-sender", 5, false, methods));
  ASSERT_TRUE(WaitAttached(*c, "twin-sender"));
  // A twin request is answered (with an error status: twins are not served yet), not ignored.
  c->Send(wire::TransferFrame(0, 2, 3, "twin-get", TwinGetMessage("twin-correlation-1")));
  std::optional<int64_t> twin_status;
  std::string twin_correlation;
  for (int i = 0; i < 30 && !twin_status; ++i) {
    wire::ParsedFrame f;
    ASSERT_TRUE(Read(*c, &f)) << HubLogTail(hub_->log());
    if (TransferOn(f, "twin-receiver")) {
      std::vector<wire::Value> sections = Sections(f.payload);
      const wire::Value* status = MapEntry(sections, 0x72, "status");
      twin_status = status == nullptr ? -1 : static_cast<int64_t>(status->number);
      for (const wire::Value& s : sections) {
        if (s.descriptor == 0x73 && !s.items.empty() && s.items[0].Field(5) != nullptr) {
          twin_correlation = s.items[0].Field(5)->text;
        }
      }
    }
  }
  ASSERT_TRUE(twin_status.has_value()) << "the twin request was not answered";
  EXPECT_GE(*twin_status, 400);
  EXPECT_EQ(twin_correlation, "twin-correlation-1");
  // And the C2D messages it is there for.
  c->Send(wire::AttachFrame(0, "c2d-receiver", 6, true, DeviceboundAddress(id_)) +
          FlowFrame(6, 10));
  ASSERT_EQ(hub_->SendC2d(id_, "to the C SDK", {"IoTHub-MessageId: c-sdk-1"}), 201);
  bool received = false;
  for (int i = 0; i < 30 && !received; ++i) {
    wire::ParsedFrame f;
    ASSERT_TRUE(Read(*c, &f)) << HubLogTail(hub_->log());
    received = TransferOn(f, "c2d-receiver") && f.payload.find("to the C SDK") != std::string::npos;
  }
  EXPECT_TRUE(received) << HubLogTail(hub_->log());
}

// The C SDK's MQTT-over-WebSockets transport asks for subprotocol "MQTT" (the Node SDK: "mqtt").
TEST_F(AmqpCSdkTest, WebSocketSubprotocolsMatchInAnyCase) {
  for (const char* protocol : {"MQTT", "amqpwsb10"}) {
    SCOPED_TRACE(protocol);
    std::string error;
    auto c = wire::Connection::Open(hub_->address(), hub_->https_port(), hub_->ca(),
                                    hub_->address(), &error);
    ASSERT_NE(c, nullptr) << error;
    c->Send(wire::WebSocketUpgrade(hub_->address(), "/$iothub/websocket", protocol));
    std::string head;
    ASSERT_EQ(c->ReadUntil("\r\n\r\n", &head, 5s), wire::ReadStatus::kOk);
    EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
    EXPECT_NE(head.find(std::string("Sec-WebSocket-Protocol: ") + protocol), std::string::npos)
        << head;
  }
}

}  // namespace
}  // namespace iothub::testing
