#pragma once

// Test-only: an in-memory AMQP client for amqp::Connection — Qpid Proton's own connection driver
// in client mode, whose bytes are pumped to and from the hub's Connection with no socket — and a
// store that can hold commits back. Include it from *_test.cc (through amqp_test_fixture.h) only.

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/sasl.h>
#include <proton/sasl_plugin.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amqp/endpoint.h"
#include "amqp/message_codec.h"
#include "amqp/message_codec_test_util.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/forwarding_store.h"

namespace iothub::amqp {

// What a connection wrote, and whether it asked to pause or close.
class RecordingOutput final : public net::StreamOutput {
 public:
  void Write(std::string_view bytes) override { written.append(bytes); }
  void PauseReading() override { paused = true; }
  void ResumeReading() override { paused = false; }
  void Close() override { closed = true; }

  std::string written;
  bool paused = false;
  bool closed = false;
};

// A store whose commits can be held back (durability not reached yet) and released later.
class HoldingStore final : public testing::ForwardingStore {
 public:
  HoldingStore() : ForwardingStore(memory_) {}
  void Commit(storage::WriteBatch batch, storage::Durability durability,
              storage::CommitCallback done) override {
    if (!hold) return inner_.Commit(std::move(batch), durability, std::move(done));
    held_.push_back([this, batch = std::move(batch), durability, done = std::move(done)]() mutable {
      inner_.Commit(std::move(batch), durability, std::move(done));
    });
  }
  // Lets every held commit through, in order.
  void Release() {
    hold = false;
    auto held = std::exchange(held_, {});
    for (auto& commit : held) commit();
  }
  size_t held() const { return held_.size(); }

  bool hold = false;

 private:
  storage::MemoryStore memory_;
  std::vector<std::function<void()>> held_;
};

// The outcome a client's transfer got from the hub.
struct Outcome {
  uint64_t state = 0;     // PN_ACCEPTED, PN_REJECTED, ... (0: none yet)
  bool settled = false;   // the hub settled it
  std::string condition;  // the rejection's condition name
};

// A message the hub sent on a receiving link: its delivery (to settle) and its content.
struct Received {
  pn_delivery_t* delivery = nullptr;
  std::string bytes;
  core::Message message;        // DecodeMessage of the bytes
  uint32_t delivery_count = 0;  // message annotation iothub-deliverycount
  std::string correlation_id;   // correlation-id as a string (any type: its printable form)
  pn_type_t correlation_id_type = PN_NULL;
  // Application properties of a numeric or boolean type, typed (strings: see `message`).
  std::map<std::string, pn_atom_t> app_scalars;
};

struct CbsResponse {
  int32_t status_code = 0;
  std::string description;
  std::string correlation_id;
  pn_type_t correlation_id_type = PN_NULL;
};

enum class Sasl { kNone, kAnonymous, kPlain, kMechanism };

struct ClientOptions {
  Sasl sasl = Sasl::kNone;
  std::string user;       // kPlain
  std::string password;   // kPlain
  std::string mechanism;  // kMechanism: a client that insists on this mechanism
  // The Proton client stays out of the way (writes and reads nothing): the test sends raw bytes
  // with SendBytes and reads output().written.
  bool raw = false;
};

// The mechanisms the server offered to the last ForcedMechanismClient (its sasl-mechanisms).
inline std::string& LastOfferedMechanisms() {
  static std::string offered;
  return offered;
}

// A SASL client implementation that picks `ClientOptions::mechanism` whatever the server offers.
inline const pnx_sasl_implementation* ForcedMechanismClient() {
  static const pnx_sasl_implementation impl = {
      [](pn_transport_t*) {},
      [](pn_transport_t*) -> const char* { return ""; },
      [](pn_transport_t*) { return false; },
      [](pn_transport_t*) { return true; },
      [](pn_transport_t*) {},
      [](pn_transport_t*, const char*, const pn_bytes_t*) {},
      [](pn_transport_t*, const pn_bytes_t*) {},
      [](pn_transport_t* transport, const char* offered) {
        LastOfferedMechanisms() = offered == nullptr ? "" : offered;
        pnx_sasl_set_selected_mechanism(transport,
                                        static_cast<const char*>(pnx_sasl_get_context(transport)));
        pnx_sasl_set_bytes_out(transport, pn_bytes(0, ""));
        pnx_sasl_set_desired_state(transport, SASL_POSTED_INIT);
        return true;
      },
      [](pn_transport_t*, const pn_bytes_t*) {},
      [](pn_transport_t*, const pn_bytes_t*) {},
      [](pn_transport_t*) { return false; },
      [](pn_transport_t*) -> ssize_t { return 0; },
      [](pn_transport_t*, pn_bytes_t, pn_bytes_t*) -> ssize_t { return 0; },
      [](pn_transport_t*, pn_bytes_t, pn_bytes_t*) -> ssize_t { return 0; },
  };
  return &impl;
}

// One AMQP client, Proton in client mode, joined in memory to one hub Connection. Pump() moves
// bytes both ways and runs the hub's executors until nothing moves. Like the SDKs, it answers a
// remote detach, end or close with its own.
class TestClient {
 public:
  TestClient(Endpoint& endpoint, size_t shard, std::function<size_t()> run_all,
             ClientOptions options = {})
      : options_(std::move(options)),
        run_all_(std::move(run_all)),
        output_(std::make_shared<RecordingOutput>()),
        connection_(endpoint.Open(shard, output_, "test-client")) {
    pn_connection_driver_init(&driver_, nullptr, nullptr);
    pn_connection_set_container(driver_.connection, "test-container");
    pn_connection_set_hostname(driver_.connection, endpoint.hub().host_name().c_str());
    if (options_.sasl != Sasl::kNone) {
      pn_sasl_t* sasl = pn_sasl(driver_.transport);
      pn_sasl_set_allow_insecure_mechs(sasl, true);
      switch (options_.sasl) {
        case Sasl::kAnonymous:
          pn_sasl_allowed_mechs(sasl, "ANONYMOUS");
          break;
        case Sasl::kPlain:
          pn_sasl_allowed_mechs(sasl, "PLAIN");
          pn_connection_set_user(driver_.connection, options_.user.c_str());
          pn_connection_set_password(driver_.connection, options_.password.c_str());
          break;
        case Sasl::kMechanism:
          pnx_sasl_set_implementation(driver_.transport, ForcedMechanismClient(),
                                      options_.mechanism.data());
          break;
        case Sasl::kNone:
          break;
      }
    }
  }
  ~TestClient() {
    if (!server_ended_) connection_->OnClosed();  // the transport drops
    pn_connection_driver_destroy(&driver_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Opens the connection and one session, and pumps.
  void Open() {
    pn_connection_open(driver_.connection);
    session_ = pn_session(driver_.connection);
    pn_session_open(session_);
    Pump();
  }

  // Raw bytes to the hub (as if the client wrote them), then pumps.
  void SendBytes(std::string_view bytes) {
    client_sent_.append(bytes);
    client_writes_.emplace_back(bytes);
    connection_->OnData(bytes);
    Pump();
  }

  // Moves bytes both ways and runs the executors (unless `run_executors` is false) until quiet.
  void Pump(bool run_executors = true) {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      if (options_.raw) read_ = output_->written.size();
      while (!options_.raw) {
        pn_event_t* event = pn_connection_driver_next_event(&driver_);
        if (event == nullptr) break;
        Handle(event);
      }
      pn_bytes_t out =
          options_.raw ? pn_bytes_t{0, nullptr} : pn_connection_driver_write_buffer(&driver_);
      if (out.size > 0) {
        std::string bytes(out.start, out.size);
        pn_connection_driver_write_done(&driver_, out.size);
        client_sent_.append(bytes);
        client_writes_.push_back(bytes);
        if (!server_ended_) connection_->OnData(bytes);
        moved = true;
      }
      if (read_ < output_->written.size()) {
        pn_rwbytes_t in = pn_connection_driver_read_buffer(&driver_);
        if (in.size == 0) {
          read_ = output_->written.size();  // the client reads no more
        } else {
          size_t n = std::min(in.size, output_->written.size() - read_);
          std::memcpy(in.start, output_->written.data() + read_, n);
          pn_connection_driver_read_done(&driver_, n);
          read_ += n;
        }
        moved = true;
      }
      if (output_->closed && read_ == output_->written.size() && !server_ended_) {
        // What a ByteStream does after Close: the peer reads the end, the hub hears OnClosed.
        server_ended_ = true;
        if (!options_.raw) pn_connection_driver_read_close(&driver_);
        connection_->OnClosed();
        moved = true;
      }
      if (run_executors && run_all_() > 0) moved = true;
      if (!moved) return;
    }
    ADD_FAILURE() << "the pump never went quiet";
  }

  // A link from the client (the hub receives) to `address`.
  pn_link_t* AttachSender(const std::string& address) {
    pn_link_t* link = pn_sender(session_, ("sender-" + std::to_string(next_name_++)).c_str());
    pn_terminus_set_address(pn_link_target(link), address.c_str());
    pn_link_open(link);
    Pump();
    return link;
  }
  // A link to the client from `address`, with `credit` granted in the attach.
  pn_link_t* AttachReceiver(const std::string& address, int credit = 0) {
    pn_link_t* link = pn_receiver(session_, ("receiver-" + std::to_string(next_name_++)).c_str());
    pn_terminus_set_address(pn_link_source(link), address.c_str());
    pn_link_set_rcv_settle_mode(link, PN_RCV_FIRST);
    pn_link_open(link);
    if (credit > 0) pn_link_flow(link, credit);
    Pump();
    return link;
  }

  // The hub attached the link and has not detached it.
  static bool Attached(pn_link_t* link) { return (pn_link_state(link) & PN_REMOTE_ACTIVE) != 0; }
  // The hub detached or closed the link.
  static bool Detached(pn_link_t* link) { return (pn_link_state(link) & PN_REMOTE_CLOSED) != 0; }
  // The condition the hub detached `link` with ("" when none).
  static std::string LinkCondition(pn_link_t* link) {
    const char* name = pn_condition_get_name(pn_link_remote_condition(link));
    return name == nullptr ? "" : name;
  }
  std::string ConnectionCondition() {
    const char* name = pn_condition_get_name(pn_connection_remote_condition(driver_.connection));
    return name == nullptr ? "" : name;
  }
  bool RemoteOpened() {
    return (pn_connection_state(driver_.connection) & (PN_REMOTE_ACTIVE | PN_REMOTE_CLOSED)) != 0;
  }
  bool RemoteClosed() { return (pn_connection_state(driver_.connection) & PN_REMOTE_CLOSED) != 0; }
  pn_sasl_outcome_t SaslOutcome() { return pn_sasl_outcome(pn_sasl(driver_.transport)); }

  void Flow(pn_link_t* link, int credit) {
    pn_link_flow(link, credit);
    Pump();
  }
  void CloseLink(pn_link_t* link) {
    pn_link_close(link);
    Pump();
  }

  // Sends `bytes` (one encoded message) unsettled on `link`; pumps unless told not to.
  pn_delivery_t* Send(pn_link_t* link, std::string_view bytes, bool pump = true) {
    uint64_t tag = next_tag_++;
    pn_delivery_t* d = pn_delivery(link, pn_dtag(reinterpret_cast<const char*>(&tag), 8));
    pn_link_send(link, bytes.data(), bytes.size());
    pn_link_advance(link);
    if (pump) Pump();
    return d;
  }
  static Outcome OutcomeOf(pn_delivery_t* d) {
    Outcome o;
    o.state = pn_delivery_remote_state(d);
    o.settled = pn_delivery_settled(d);
    const char* name = pn_condition_get_name(pn_disposition_condition(pn_delivery_remote(d)));
    o.condition = name == nullptr ? "" : name;
    return o;
  }

  // What arrived on `link` since the last call.
  std::vector<Received> TakeReceived(pn_link_t* link) { return std::exchange(received_[link], {}); }

  // Settles a received delivery with `state` (PN_ACCEPTED, PN_REJECTED, PN_RELEASED,
  // PN_MODIFIED), as a receiver in rcv-settle-mode first does; pumps unless told not to.
  void Settle(pn_delivery_t* d, uint64_t state, bool pump = true) {
    if (state == PN_MODIFIED) pn_disposition_set_failed(pn_delivery_local(d), true);
    pn_delivery_update(d, state);
    pn_delivery_settle(d);
    if (pump) Pump();
  }

  // CBS: attaches the $cbs sender and receiver (once) and sends a put-token; returns the response
  // with the request's message-id, or nullopt.
  std::optional<CbsResponse> PutToken(const std::string& token, const std::string& audience,
                                      const std::string& operation = "put-token") {
    if (cbs_sender_ == nullptr) {
      cbs_sender_ = AttachSender("$cbs");
      cbs_receiver_ = AttachReceiver("$cbs", 100);
    }
    std::string id = "cbs-" + std::to_string(next_cbs_++);
    testing_util::MessagePtr m = testing_util::MakeMessage();
    pn_atom_t atom;
    atom.type = PN_STRING;
    atom.u.as_bytes = pn_bytes(id.size(), id.data());
    pn_message_set_id(m.get(), atom);
    pn_message_set_address(m.get(), "$cbs");
    pn_message_set_reply_to(m.get(), "cbs");
    pn_data_t* props = pn_message_properties(m.get());
    pn_data_put_map(props);
    pn_data_enter(props);
    auto put = [&](std::string_view k, std::string_view v) {
      pn_data_put_string(props, pn_bytes(k.size(), k.data()));
      pn_data_put_string(props, pn_bytes(v.size(), v.data()));
    };
    put("operation", operation);
    put("type", "servicebus.windows.net:sastoken");
    put("name", audience);
    pn_data_exit(props);
    pn_data_put_string(pn_message_body(m.get()), pn_bytes(token.size(), token.data()));
    Send(cbs_sender_, testing_util::Encode(m.get()));
    for (Received& r : TakeReceived(cbs_receiver_)) {
      if (r.correlation_id != id) continue;
      CbsResponse response;
      response.correlation_id = r.correlation_id;
      response.correlation_id_type = r.correlation_id_type;
      auto status = r.app_scalars.find("status-code");
      if (status != r.app_scalars.end() && status->second.type == PN_INT) {
        response.status_code = status->second.u.as_int;
      }
      if (const std::string* d = r.message.FindProperty("status-description")) {
        response.description = *d;
      }
      return response;
    }
    return std::nullopt;
  }
  pn_link_t* cbs_sender() { return cbs_sender_; }

  bool closed() const { return output_->closed; }
  RecordingOutput& output() { return *output_; }
  Connection& connection() { return *connection_; }
  const std::string& client_sent() const { return client_sent_; }
  // Each write of the client's, in order (as the hub received them).
  const std::vector<std::string>& client_writes() const { return client_writes_; }
  pn_session_t* session() { return session_; }

 private:
  void Handle(pn_event_t* event) {
    switch (pn_event_type(event)) {
      case PN_LINK_REMOTE_CLOSE: {
        pn_link_t* link = pn_event_link(event);
        if (!(pn_link_state(link) & PN_LOCAL_CLOSED)) pn_link_close(link);
        return;
      }
      case PN_LINK_REMOTE_DETACH: {
        pn_link_t* link = pn_event_link(event);
        if (!(pn_link_state(link) & PN_LOCAL_CLOSED)) pn_link_detach(link);
        return;
      }
      case PN_SESSION_REMOTE_CLOSE: {
        pn_session_t* session = pn_event_session(event);
        if (!(pn_session_state(session) & PN_LOCAL_CLOSED)) pn_session_close(session);
        return;
      }
      case PN_CONNECTION_REMOTE_CLOSE:
        if (!(pn_connection_state(driver_.connection) & PN_LOCAL_CLOSED)) {
          pn_connection_close(driver_.connection);
        }
        return;
      case PN_DELIVERY: {
        pn_delivery_t* d = pn_event_delivery(event);
        pn_link_t* link = pn_delivery_link(d);
        if (!pn_link_is_receiver(link) || d != pn_link_current(link)) return;
        if (!pn_delivery_readable(d) || pn_delivery_partial(d)) return;
        Received r;
        r.delivery = d;
        r.bytes.resize(pn_delivery_pending(d));
        ssize_t n = pn_link_recv(link, r.bytes.data(), r.bytes.size());
        r.bytes.resize(n < 0 ? 0 : static_cast<size_t>(n));
        pn_link_advance(link);
        Decode(r);
        received_[link].push_back(std::move(r));
        return;
      }
      default:
        return;
    }
  }

  static void Decode(Received& r) {
    Result<core::Message> decoded = DecodeMessage(r.bytes);
    EXPECT_TRUE(decoded.has_value()) << "the hub sent a message that does not decode";
    if (decoded) r.message = std::move(*decoded);
    testing_util::MessagePtr m = testing_util::MakeMessage();
    if (pn_message_decode(m.get(), r.bytes.data(), r.bytes.size()) != 0) return;
    pn_atom_t corr = pn_message_get_correlation_id(m.get());
    r.correlation_id_type = corr.type;
    if (corr.type == PN_STRING) {
      r.correlation_id.assign(corr.u.as_bytes.start, corr.u.as_bytes.size);
    }
    pn_data_t* annotations = pn_message_annotations(m.get());
    pn_data_rewind(annotations);
    if (pn_data_next(annotations) && pn_data_type(annotations) == PN_MAP) {
      pn_data_enter(annotations);
      while (pn_data_next(annotations)) {
        pn_bytes_t key = pn_data_get_symbol(annotations);
        if (!pn_data_next(annotations)) break;
        if (std::string_view(key.start, key.size) == "iothub-deliverycount" &&
            pn_data_type(annotations) == PN_UINT) {
          r.delivery_count = pn_data_get_uint(annotations);
        }
      }
    }
    pn_data_t* props = pn_message_properties(m.get());
    pn_data_rewind(props);
    if (pn_data_next(props) && pn_data_type(props) == PN_MAP) {
      pn_data_enter(props);
      while (pn_data_next(props)) {
        pn_bytes_t key = pn_data_get_string(props);
        if (!pn_data_next(props)) break;
        pn_atom_t value = pn_data_get_atom(props);
        if (value.type != PN_STRING && value.type != PN_SYMBOL && value.type != PN_BINARY) {
          r.app_scalars[std::string(key.start, key.size)] = value;
        }
      }
    }
  }

  ClientOptions options_;
  std::function<size_t()> run_all_;
  std::shared_ptr<RecordingOutput> output_;
  std::shared_ptr<Connection> connection_;
  pn_connection_driver_t driver_;
  pn_session_t* session_ = nullptr;
  size_t read_ = 0;
  bool server_ended_ = false;
  std::string client_sent_;
  std::vector<std::string> client_writes_;
  uint64_t next_name_ = 1;
  uint64_t next_tag_ = 1;
  uint64_t next_cbs_ = 1;
  pn_link_t* cbs_sender_ = nullptr;
  pn_link_t* cbs_receiver_ = nullptr;
  std::map<pn_link_t*, std::vector<Received>> received_;
};

}  // namespace iothub::amqp
