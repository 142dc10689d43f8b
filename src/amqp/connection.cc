#include "amqp/connection.h"

#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "amqp/endpoint.h"
#include "amqp/message_codec.h"
#include "amqp/traffic.h"
#include "base/executor.h"
#include "base/log.h"
#include "core/hub/hub.h"

namespace iothub::amqp {
namespace {

// The hub's feedback queue lives on shard 0 (core::Hub::feedback_executor).
constexpr size_t kFeedbackShard = 0;
// CBS and twin answers waiting for the client's receiver (and its credit), at most.
constexpr size_t kMaxWaitingAnswers = 16;

int64_t Millis(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string_view View(const char* s) { return s == nullptr ? std::string_view() : s; }

// The AMQP error condition IoT Hub rejects a transfer with (PROTOCOL.md, "AMQP 1.0"): the SDKs
// turn each into their own error class.
const char* ConditionOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return "amqp:not-found";
    case StatusCode::kResourceExhausted:
      return "amqp:resource-limit-exceeded";
    case StatusCode::kTooLarge:
      return "amqp:link:message-size-exceeded";
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return "amqp:unauthorized-access";
    case StatusCode::kInvalidArgument:
      return "amqp:invalid-field";
    default:
      return "amqp:internal-error";
  }
}

// Settles an incoming delivery: accepted, or rejected with the condition of `status`.
void Settle(pn_delivery_t* delivery, const Status& status) {
  if (!pn_delivery_settled(delivery)) {
    if (status.ok()) {
      pn_delivery_update(delivery, PN_ACCEPTED);
    } else {
      pn_condition_t* condition = pn_disposition_condition(pn_delivery_local(delivery));
      pn_condition_set_name(condition, ConditionOf(status));
      pn_condition_set_description(condition, status.message().c_str());
      pn_delivery_update(delivery, PN_REJECTED);
    }
  }
  pn_delivery_settle(delivery);
}

// Encodes a Proton message into bytes.
std::string Encode(pn_message_t* message) {
  std::string out(1024, '\0');
  for (;;) {
    size_t size = out.size();
    int rc = pn_message_encode(message, out.data(), &size);
    if (rc == PN_OVERFLOW) {
      out.resize(out.size() * 2);
      continue;
    }
    out.resize(rc == 0 ? size : 0);
    return out;
  }
}

// What a receiver's disposition asks for a locked message; kRelease: the message never reached
// the client (its link went while it was on its way), so it goes back without counting.
enum class Action { kComplete, kReject, kAbandon, kRelease };

// Where the hub answers dispositions: inline on the queue's shard (the answer is only logged).
// Never destroyed, so a shard finishing late never sees a dead object.
Executor& LogInline() {
  static auto* const executor = new InlineExecutor();
  return *executor;
}

// Applies `action` to a locked message of a device's C2D queue or of the feedback queue (on the
// feedback shard, kFeedbackShard). A lock that is gone (expired and handed out again, or already
// settled) changes nothing: the disposition is simply late.
void ApplyAction(Endpoint& endpoint, LinkKind kind, std::string device, std::string lock_token,
                 Action action) {
  core::Hub& hub = endpoint.hub();
  auto log = [device, action](Status s) {
    if (!s.ok()) {
      HUB_LOG_DEBUG("amqp", "'{}': disposition {} not applied: {}", device,
                    static_cast<int>(action), s.ToString());
    }
  };
  if (kind == LinkKind::kServiceFeedback) {
    endpoint.PostToShard(kFeedbackShard, [&hub, lock = std::move(lock_token), action, log] {
      // Feedback cannot be dead-lettered: a rejected feedback message is taken as read.
      if (action == Action::kAbandon || action == Action::kRelease) {
        hub.feedback().Abandon(lock, log);
      } else {
        hub.feedback().Complete(lock, log);
      }
    });
    return;
  }
  switch (action) {
    case Action::kComplete:
      return hub.CompleteC2d(std::move(device), std::move(lock_token), LogInline(), log);
    case Action::kReject:
      return hub.RejectC2d(std::move(device), std::move(lock_token), LogInline(), log);
    case Action::kAbandon:
      return hub.AbandonC2d(std::move(device), std::move(lock_token), LogInline(), log);
    case Action::kRelease:
      return hub.ReleaseC2d(std::move(device), std::move(lock_token), LogInline(), log);
  }
}

// A connection's hold on one device, as core::Presence knows it. End and Deliver run on the
// device's shard and hand over to the connection's own shard.
class PresenceLink final : public core::DeviceLink {
 public:
  PresenceLink(Endpoint& endpoint, std::weak_ptr<Connection> connection, size_t home,
               std::string device_id, uint64_t serial)
      : endpoint_(endpoint),
        connection_(std::move(connection)),
        home_(home),
        device_id_(std::move(device_id)),
        serial_(serial) {}

  void End(core::LinkEnd why, const std::string& reason) override {
    endpoint_.PostToShard(
        home_, [connection = connection_, device = device_id_, serial = serial_, why, reason] {
          if (auto c = connection.lock()) c->EndDevice(device, serial, why, reason);
        });
  }

  void Deliver(std::vector<core::Message> messages) override {
    Endpoint* endpoint = &endpoint_;
    endpoint_.PostToShard(home_, [endpoint, connection = connection_, device = device_id_,
                                  serial = serial_, messages = std::move(messages)]() mutable {
      if (auto c = connection.lock(); c && c->OnC2d(device, serial, messages)) return;
      // The connection or its C2D link went while the messages were on their way: back to
      // their queue, uncounted (the device never saw them).
      for (core::Message& m : messages) {
        ApplyAction(*endpoint, LinkKind::kDeviceC2d, device, std::move(m.lock_token),
                    Action::kRelease);
      }
    });
  }

 private:
  Endpoint& endpoint_;
  const std::weak_ptr<Connection> connection_;
  const size_t home_;
  const std::string device_id_;
  const uint64_t serial_;  // tells this hold of the connection on the device from later ones
};

}  // namespace

struct Connection::Link {
  uint64_t id = 0;
  pn_link_t* link = nullptr;
  LinkAddress address;
  std::string grant;           // the scope of the grant that let it attach ("" for $cbs)
  core::AppendContext append;  // kDeviceTelemetry
  Timestamp last_touch;        // kDeviceTelemetry: registry activity
  std::unordered_map<uint64_t, pn_delivery_t*> held;  // receiving: waiting for the core
  uint64_t next_hold = 1;
  uint64_t granted = 0;   // sending: credit handed to the core (or the dispatcher), not yet used
  uint64_t next_tag = 1;  // sending: delivery tags
  std::unordered_map<pn_delivery_t*, std::string> unsettled;  // sending: lock tokens

  bool sends_queue() const {
    return address.kind == LinkKind::kDeviceC2d || address.kind == LinkKind::kServiceFeedback;
  }
  bool is_device() const { return IsDeviceLink(address.kind); }
};

Connection::Connection(Endpoint& endpoint, size_t shard, std::shared_ptr<net::StreamOutput> output,
                       std::string remote, uint64_t id, Timestamp opened)
    : endpoint_(endpoint),
      shard_(shard),
      output_(std::move(output)),
      remote_(std::move(remote)),
      id_(id),
      opened_(opened),
      auth_since_(opened),
      checker_(endpoint.options().max_frame_size) {
  pn_connection_driver_init(&driver_, nullptr, nullptr);
  pn_transport_t* transport = driver_.transport;
  pn_transport_set_server(transport);
  const AmqpOptions& options = endpoint_.options();
  pn_transport_set_max_frame(transport, options.max_frame_size);
  pn_transport_set_channel_max(transport, static_cast<uint16_t>(options.max_sessions - 1));
  pn_transport_set_idle_timeout(
      transport,
      static_cast<pn_millis_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(options.idle_timeout).count()));
  plain_check_ = [this](std::string_view user, std::string_view password) {
    Result<core::auth::Principal> principal = AddGrant(password);
    if (!principal) {
      HUB_LOG_INFO("amqp", "{}: SASL PLAIN of '{}' refused: {}", remote_, user,
                   principal.error().ToString());
    }
    return principal.has_value();
  };
  InstallSaslServer(transport, &plain_check_);
  pn_connection_set_container(driver_.connection, endpoint_.hub().host_name().c_str());
}

Connection::~Connection() { pn_connection_driver_destroy(&driver_); }

void Connection::OnData(std::string_view bytes) {
  // The checker sees the bytes first: Proton must never read a frame it would skip or abort on.
  std::string malformed;
  if (!checker_.stopped()) {
    size_t good = bytes.size();
    malformed = checker_.Feed(bytes, &good);
    bytes = bytes.substr(0, good);
  }
  while (!bytes.empty() && !closed_) {
    pn_rwbytes_t buffer = pn_connection_driver_read_buffer(&driver_);
    if (buffer.size == 0) break;  // Proton reads no more (its input side is closed)
    size_t n = std::min(buffer.size, bytes.size());
    std::memcpy(buffer.start, bytes.data(), n);
    pn_connection_driver_read_done(&driver_, n);
    bytes.remove_prefix(n);
    Pump();
  }
  if (!malformed.empty() && !closed_) {
    HUB_LOG_INFO("amqp", "{}: closing: malformed frame: {}", remote_, malformed);
    pn_connection_driver_errorf(&driver_, "amqp:decode-error", "%s", malformed.c_str());
    pn_connection_driver_read_close(&driver_);
    Pump();
  }
}

void Connection::OnClosed() {
  if (closed_) return;
  closed_ = true;
  ForgetAll();
  endpoint_.Forget(shard_, this);
  output_.reset();
}

void Connection::Teardown() {
  if (closed_) return;
  closed_ = true;
  links_.clear();  // at shutdown: nothing is posted any more, the locks simply expire
  links_by_id_.clear();
  if (output_) output_->Release();
  output_.reset();
  endpoint_.Forget(shard_, this);
}

void Connection::OnTimer(Timestamp now) {
  if (closed_) return;
  const AmqpOptions& options = endpoint_.options();
  if (!remote_opened_ && now - opened_ >= options.open_timeout) {
    HUB_LOG_INFO("amqp", "{}: no OPEN within {} s: closing", remote_,
                 std::chrono::duration_cast<std::chrono::seconds>(options.open_timeout).count());
    pn_connection_driver_errorf(&driver_, "amqp:connection:forced", "no OPEN in time");
    Pump();
    if (output_ && !output_closed_) {
      output_closed_ = true;
      output_->Close();
    }
    return;
  }
  if (remote_opened_ && !authenticated_ && now - auth_since_ >= options.auth_timeout) {
    return CloseWith("amqp:unauthorized-access", "no valid token presented in time");
  }
  std::erase_if(grants_, [now](const auto& entry) { return entry.second.principal.expiry <= now; });
  // A link whose token expired stays if another live token covers it; otherwise it is detached.
  std::vector<pn_link_t*> uncovered;
  for (auto& [pn, link] : links_) {
    if (link->grant.empty() || grants_.contains(link->grant)) continue;
    link->grant = FindGrant(link->address);
    if (link->grant.empty()) uncovered.push_back(pn);
  }
  if (!uncovered.empty()) {
    HUB_LOG_INFO("amqp", "{}: token expired: detaching {} link(s)", remote_, uncovered.size());
  }
  CloseLinks(uncovered, "amqp:unauthorized-access", "token expired");
  if (grants_.empty() && authenticated_) {
    // Every token ran out: the client has auth_timeout to present a new one, as at the start.
    authenticated_ = false;
    auth_since_ = now;
  }
  pn_transport_tick(driver_.transport, Millis(now));
  Pump();
}

void Connection::Pump() {
  if (in_pump_ || closed_) return;
  in_pump_ = true;
  while (pn_event_t* event = pn_connection_driver_next_event(&driver_)) Handle(event);
  in_pump_ = false;
  Flush();
  if (!held_answers_.empty() && !closed_) {
    // The settlements of their requests are written now: the answers may follow (see
    // held_answers_).
    for (PendingAnswer& answer : held_answers_) answers_.push_back(std::move(answer));
    held_answers_.clear();
    SendAnswers();
    Pump();
  }
}

void Connection::Flush() {
  if (!output_) return;
  for (;;) {
    pn_bytes_t out = pn_connection_driver_write_buffer(&driver_);
    if (out.size == 0) break;
    output_->Write(std::string_view(out.start, out.size));
    pn_connection_driver_write_done(&driver_, out.size);
  }
  if (pn_connection_driver_write_closed(&driver_)) Finish();
}

void Connection::Finish() {
  if (output_closed_ || !output_) return;
  output_closed_ = true;
  output_->Close();  // writes what is queued, then OnClosed
}

void Connection::Handle(pn_event_t* event) {
  switch (pn_event_type(event)) {
    case PN_CONNECTION_REMOTE_OPEN:
      return OnRemoteOpen();
    case PN_CONNECTION_REMOTE_CLOSE:
      pn_connection_close(pn_event_connection(event));
      return;
    case PN_SESSION_REMOTE_OPEN:
      return OnSessionOpen(pn_event_session(event));
    case PN_SESSION_REMOTE_CLOSE: {
      pn_session_t* session = pn_event_session(event);
      std::vector<pn_link_t*> gone;
      for (auto& [pn, link] : links_) {
        if (pn_link_session(pn) == session) gone.push_back(pn);
      }
      for (pn_link_t* pn : gone) Forget(pn);
      pn_session_close(session);
      return;
    }
    case PN_LINK_REMOTE_OPEN:
      return OnLinkOpen(pn_event_link(event));
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH: {
      pn_link_t* link = pn_event_link(event);
      Forget(link);
      if (pn_event_type(event) == PN_LINK_REMOTE_CLOSE) {
        pn_link_close(link);
      } else {
        pn_link_detach(link);
      }
      return;
    }
    case PN_LINK_FLOW: {
      auto it = links_.find(pn_event_link(event));
      if (it != links_.end()) OnFlow(*it->second);
      return;
    }
    case PN_DELIVERY:
      return OnDelivery(pn_event_delivery(event));
    case PN_TRANSPORT_ERROR: {
      pn_condition_t* c = pn_transport_condition(pn_event_transport(event));
      HUB_LOG_INFO("amqp", "{}: closing: {}: {}", remote_, View(pn_condition_get_name(c)),
                   View(pn_condition_get_description(c)));
      return;
    }
    default:
      return;
  }
}

void Connection::OnRemoteOpen() {
  remote_opened_ = true;
  pn_connection_open(driver_.connection);
}

void Connection::OnSessionOpen(pn_session_t* session) {
  ++sessions_;
  // Proton buffers a message's frames until it is whole: room for two of the largest.
  pn_session_set_incoming_capacity(session, endpoint_.options().max_message_bytes * 2);
  pn_session_open(session);
}

void Connection::OnLinkOpen(pn_link_t* pn) {
  const bool client_sends = pn_link_is_receiver(pn);
  pn_terminus_t* remote = client_sends ? pn_link_remote_target(pn) : pn_link_remote_source(pn);
  std::string_view address_text = View(pn_terminus_get_address(remote));
  LinkAddress address = ParseLinkAddress(address_text, client_sends);
  core::Registry& registry = endpoint_.hub().registry();
  if (!address.device_id.empty()) {
    address.device_id = ResolveDeviceId(address.device_id, [&registry](const std::string& id) {
      return registry.GenerationId(id).has_value();
    });
  }

  auto refuse = [&](const char* condition, const std::string& why) {
    HUB_LOG_INFO("amqp", "{}: link '{}' to '{}' refused: {}", remote_, View(pn_link_name(pn)),
                 address_text, why);
    // Attach without a terminus, then detach with the error: AMQP's way to refuse a link.
    pn_link_open(pn);
    pn_condition_t* c = pn_link_condition(pn);
    pn_condition_set_name(c, condition);
    pn_condition_set_description(c, why.c_str());
    pn_link_close(pn);
  };
  if (links_.size() >= size_t{endpoint_.options().max_links}) {
    return refuse("amqp:resource-limit-exceeded", "too many links on one connection");
  }
  if (address.kind == LinkKind::kUnknown) {
    return refuse("amqp:not-found", "no such address");
  }
  std::string grant;
  if (address.kind != LinkKind::kCbs) {
    grant = FindGrant(address);
    if (grant.empty()) {
      return refuse("amqp:unauthorized-access", "no valid token covers this address");
    }
  }

  auto link = std::make_unique<Link>();
  link->id = endpoint_.NextLinkId();
  link->link = pn;
  link->address = address;
  link->grant = grant;
  core::Hub& hub = endpoint_.hub();
  if (address.kind == LinkKind::kDeviceTelemetry) {
    link->append.auth_method = core::auth::AuthMethodJson(grants_.at(grant).principal);
    link->append.generation_id = hub.registry().GenerationId(address.device_id).value_or("");
  }

  pn_terminus_copy(pn_link_source(pn), pn_link_remote_source(pn));
  pn_terminus_copy(pn_link_target(pn), pn_link_remote_target(pn));
  if (client_sends) {
    pn_link_set_rcv_settle_mode(pn, PN_RCV_FIRST);
  } else {
    // Answers (CBS, twin) are sent settled; queued messages wait for the client's outcome.
    bool answers = address.kind == LinkKind::kCbs || address.kind == LinkKind::kDeviceTwinResponses;
    pn_link_set_snd_settle_mode(pn, answers ? PN_SND_SETTLED : PN_SND_UNSETTLED);
  }
  pn_link_open(pn);
  if (client_sends) pn_link_flow(pn, static_cast<int>(endpoint_.options().link_credit));
  HUB_LOG_DEBUG("amqp", "{}: {} link '{}' attached ({})", remote_, LinkKindName(address.kind),
                View(pn_link_name(pn)), address_text);

  Link& l = *link;
  links_by_id_[l.id] = &l;
  links_[pn] = std::move(link);
  if (l.is_device() && device_links_[address.device_id].links++ == 0) {
    ConnectDevice(address.device_id, grants_.at(grant).principal);
  }
  if (address.kind == LinkKind::kDeviceC2d) {
    // A device has one C2D receiver, as in IoT Hub: a newer one on this connection takes over
    // and the older is detached with amqp:link:stolen (a newer connection took over already).
    std::vector<pn_link_t*> older;
    for (auto& [other, ol] : links_) {
      if (other != pn && ol->address.kind == LinkKind::kDeviceC2d &&
          ol->address.device_id == address.device_id) {
        older.push_back(other);
      }
    }
    CloseLinks(older, "amqp:link:stolen", "a newer link of this device receives its messages");
  }
  if (address.kind == LinkKind::kServiceFeedback) {
    std::weak_ptr<Connection> self = weak_from_this();
    Endpoint* endpoint = &endpoint_;
    size_t home = shard_;
    uint64_t link_id = l.id;
    Dispatcher::Deliver deliver = [endpoint, self, home,
                                   link_id](std::vector<core::Message> messages) {
      endpoint->PostToShard(home,
                            [endpoint, self, link_id, messages = std::move(messages)]() mutable {
                              if (auto c = self.lock(); c && c->OnPulled(link_id, messages)) return;
                              // The link ended while the messages were on their way: back to their
                              // queue.
                              for (core::Message& m : messages) {
                                ApplyAction(*endpoint, LinkKind::kServiceFeedback, "",
                                            std::move(m.lock_token), Action::kAbandon);
                              }
                            });
    };
    endpoint_.PostToShard(kFeedbackShard,
                          [endpoint, link_id, deliver = std::move(deliver)]() mutable {
                            endpoint->feedback_dispatcher().Attach("", link_id, std::move(deliver));
                          });
  }
  if (l.sends_queue()) OnFlow(l);  // the client may have granted credit in its ATTACH already
}

void Connection::OnFlow(Link& link) {
  if (link.address.kind == LinkKind::kCbs || link.address.kind == LinkKind::kDeviceTwinResponses) {
    return SendAnswers();
  }
  if (!link.sends_queue()) return;
  int credit = pn_link_credit(link.link);
  if (credit <= 0 || static_cast<uint64_t>(credit) <= link.granted) return;
  uint64_t more = static_cast<uint64_t>(credit) - link.granted;
  link.granted += more;
  auto grant = static_cast<uint32_t>(std::min<uint64_t>(more, UINT32_MAX));
  if (link.address.kind == LinkKind::kDeviceC2d) {
    const DevicePresence& presence = device_links_.at(link.address.device_id);
    return endpoint_.hub().GrantC2d(link.address.device_id, presence.link, grant);
  }
  Endpoint* endpoint = &endpoint_;
  endpoint_.PostToShard(kFeedbackShard, [endpoint, id = link.id, grant] {
    endpoint->feedback_dispatcher().AddCredit("", id, grant);
  });
}

void Connection::ConnectDevice(const std::string& device_id,
                               const core::auth::Principal& principal) {
  core::Hub& hub = endpoint_.hub();
  uint64_t serial = next_presence_serial_++;
  auto link =
      std::make_shared<PresenceLink>(endpoint_, weak_from_this(), shard_, device_id, serial);
  device_links_[device_id].link = link;
  device_links_[device_id].serial = serial;
  std::weak_ptr<Connection> self = weak_from_this();
  hub.ConnectDevice(
      device_id, principal, std::move(link), core::SessionMode::kNone, hub.shard_executor(shard_),
      [self, device_id, serial](Result<core::SessionView> attached) {
        auto c = self.lock();
        if (!c || attached) return;
        // Deleted, disabled or re-keyed since the grant was checked here.
        c->EndDevice(device_id, serial, core::LinkEnd::kRevoked, attached.error().ToString());
      });
}

void Connection::EndDevice(const std::string& device_id, uint64_t serial, core::LinkEnd why,
                           const std::string& reason) {
  auto presence = device_links_.find(device_id);
  if (closed_ || presence == device_links_.end() || presence->second.serial != serial) return;
  const char* condition =
      why == core::LinkEnd::kRevoked ? "amqp:unauthorized-access" : "amqp:link:stolen";
  std::vector<pn_link_t*> gone;
  for (auto& [pn, l] : links_) {
    if (l->is_device() && l->address.device_id == device_id) gone.push_back(pn);
  }
  CloseLinks(gone, condition, reason);
}

void Connection::CloseLinks(const std::vector<pn_link_t*>& links, std::string_view condition,
                            std::string_view description) {
  // Looked up one by one: closing one pumps Proton, whose events may forget another.
  for (pn_link_t* pn : links) {
    auto it = links_.find(pn);
    if (it != links_.end()) CloseLink(*it->second, condition, description);
  }
}

void Connection::OnC2dStopped(const std::string& device_id, uint64_t serial) {
  auto presence = device_links_.find(device_id);
  if (presence == device_links_.end() || presence->second.serial != serial) return;
  if (presence->second.c2d_stops > 0) --presence->second.c2d_stops;
}

bool Connection::OnPulled(uint64_t link_id, std::vector<core::Message>& messages) {
  auto it = links_by_id_.find(link_id);
  if (closed_ || it == links_by_id_.end()) return false;
  Send(*it->second, messages);
  return true;
}

bool Connection::OnC2d(const std::string& device_id, uint64_t serial,
                       std::vector<core::Message>& messages) {
  auto presence = device_links_.find(device_id);
  if (closed_ || presence == device_links_.end() || presence->second.serial != serial ||
      presence->second.c2d_stops > 0) {
    return false;  // granted by a hold, or a C2D link, that is gone
  }
  for (auto& [pn, link] : links_) {
    if (link->address.kind == LinkKind::kDeviceC2d && link->address.device_id == device_id) {
      Send(*link, messages);
      return true;
    }
  }
  return false;
}

void Connection::Send(Link& link, std::vector<core::Message>& messages) {
  link.granted -= std::min<uint64_t>(link.granted, messages.size());
  CountMessages(
      link.address.kind == LinkKind::kServiceFeedback ? Traffic::kFeedbackOut : Traffic::kC2dOut,
      messages.size());
  for (core::Message& m : messages) {
    std::string bytes = amqp::EncodeMessage(m);
    uint64_t tag = link.next_tag++;
    pn_delivery_t* d =
        pn_delivery(link.link, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof(tag)));
    pn_link_send(link.link, bytes.data(), bytes.size());
    pn_link_advance(link.link);
    link.unsettled[d] = std::move(m.lock_token);
  }
  Pump();
}

void Connection::OnDelivery(pn_delivery_t* delivery) {
  pn_link_t* pn = pn_delivery_link(delivery);
  auto it = links_.find(pn);
  if (it == links_.end()) {
    // A link this connection let go of (refused, expired, too large a message) that the client
    // still sends on until it sees the detach: what comes in is dropped.
    if (pn_link_is_receiver(pn)) Discard(pn, delivery);
    return;
  }
  if (pn_link_is_receiver(pn)) return OnIncoming(*it->second, delivery);
  OnOutcome(*it->second, delivery);
}

void Connection::OnIncoming(Link& link, pn_delivery_t* delivery) {
  if (delivery != pn_link_current(link.link)) return;  // already read: a later state change
  if (pn_delivery_aborted(delivery)) {
    pn_link_advance(link.link);
    pn_delivery_settle(delivery);
    return;
  }
  size_t pending = pn_delivery_pending(delivery);
  if (pending > endpoint_.options().max_message_bytes) {
    pn_link_t* pn = link.link;
    CloseLink(
        link, "amqp:link:message-size-exceeded",
        "message larger than " + std::to_string(endpoint_.options().max_message_bytes) + " bytes");
    return Discard(pn, delivery);
  }
  if (pn_delivery_partial(delivery)) return;  // more frames to come
  std::string bytes(pending, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = pn_link_recv(link.link, bytes.data() + got, bytes.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  pn_link_advance(link.link);
  switch (link.address.kind) {
    case LinkKind::kCbs:
      return PutToken(link, delivery, bytes);
    case LinkKind::kDeviceTelemetry:
      return Telemetry(link, delivery, bytes);
    case LinkKind::kServiceC2dSend:
      return SendC2d(link, delivery, bytes);
    case LinkKind::kDeviceTwinRequests:
      return TwinRequest(link, delivery, bytes);
    default:
      // Method responses: no method request is sent yet, so none is awaited.
      Settle(delivery, Status::Ok());
      pn_link_flow(link.link, 1);
  }
}

void Connection::OnOutcome(Link& link, pn_delivery_t* delivery) {
  auto it = link.unsettled.find(delivery);
  if (it == link.unsettled.end()) {
    if (pn_delivery_settled(delivery)) pn_delivery_settle(delivery);
    return;
  }
  uint64_t state = pn_delivery_remote_state(delivery);
  bool settled = pn_delivery_settled(delivery);
  if (state == 0 && !settled) return;  // no outcome yet
  Action action = Action::kAbandon;    // released, modified, or settled without an outcome
  if (state == PN_ACCEPTED) action = Action::kComplete;
  if (state == PN_REJECTED) action = Action::kReject;
  std::string lock = std::move(it->second);
  link.unsettled.erase(it);
  pn_delivery_settle(delivery);
  if (link.address.kind == LinkKind::kDeviceC2d && action == Action::kComplete) {
    endpoint_.hub().registry().TouchActivity(link.address.device_id);
  }
  ApplyAction(endpoint_, link.address.kind, link.address.device_id, std::move(lock), action);
}

void Connection::Discard(pn_link_t* link, pn_delivery_t* delivery) {
  if (delivery != pn_link_current(link)) return;
  // Reading frees the bytes Proton buffered for it: they count against the session's incoming
  // window, which would otherwise stay used up for every other link of the session.
  char scratch[4096];
  while (pn_link_recv(link, scratch, sizeof(scratch)) > 0) {
  }
  if (pn_delivery_partial(delivery) && !pn_delivery_aborted(delivery)) return;  // more to come
  pn_link_advance(link);
  pn_delivery_settle(delivery);
  Pump();
}

uint64_t Connection::Hold(Link& link, pn_delivery_t* delivery) {
  uint64_t hold = link.next_hold++;
  link.held[hold] = delivery;
  return hold;
}

void Connection::OnSettled(uint64_t link_id, uint64_t hold, const Status& status) {
  if (closed_) return;
  auto it = links_by_id_.find(link_id);
  if (it == links_by_id_.end()) return;  // the link ended meanwhile
  Link& link = *it->second;
  auto held = link.held.find(hold);
  if (held == link.held.end()) return;
  pn_delivery_t* delivery = held->second;
  link.held.erase(held);
  Settle(delivery, status);
  if (status.ok()) {
    CountMessages(link.address.kind == LinkKind::kServiceC2dSend ? Traffic::kC2dIn
                                                                 : Traffic::kTelemetryIn);
  }
  pn_link_flow(link.link, 1);  // the credit this message used is free again
  Pump();
}

void Connection::PutToken(Link& link, pn_delivery_t* delivery, const std::string& bytes) {
  pn_message_t* request = pn_message();
  int32_t status_code = 200;
  std::string description = "OK";
  Result<core::Message> decoded = amqp::DecodeMessage(bytes);
  // Our bounded decoder first: Proton's decoder recurses without bound into nested values.
  if (!decoded || pn_message_decode(request, bytes.data(), bytes.size()) != 0) {
    status_code = 400;
    description = "malformed put-token request";
  } else if (const std::string* op = decoded->FindProperty("operation");
             op == nullptr || *op != "put-token") {
    status_code = 400;
    description = "unsupported CBS operation";
  } else {
    Result<core::auth::Principal> principal = AddGrant(decoded->body);
    if (!principal) {
      status_code = 401;
      description = principal.error().message();
      const std::string* name = decoded->FindProperty("name");
      HUB_LOG_INFO("amqp", "{}: put-token for '{}' refused: {}", remote_,
                   name == nullptr ? "" : *name, principal.error().ToString());
    }
  }
  pn_message_t* response = pn_message();
  pn_message_set_correlation_id(response, pn_message_get_id(request));
  pn_data_t* properties = pn_message_properties(response);
  pn_data_put_map(properties);
  pn_data_enter(properties);
  pn_data_put_string(properties, pn_bytes(11, "status-code"));
  pn_data_put_int(properties, status_code);
  pn_data_put_string(properties, pn_bytes(18, "status-description"));
  pn_data_put_string(properties, pn_bytes(description.size(), description.data()));
  pn_data_exit(properties);
  std::string encoded = Encode(response);
  pn_message_free(response);
  pn_message_free(request);
  Settle(delivery, Status::Ok());
  pn_link_flow(link.link, 1);
  QueueAnswer(LinkKind::kCbs, "", std::move(encoded));
}

void Connection::QueueAnswer(LinkKind to, std::string device_id, std::string bytes) {
  if (held_answers_.size() + answers_.size() >= kMaxWaitingAnswers) {
    return CloseWith("amqp:resource-limit-exceeded",
                     "requests keep coming and no receiver takes their answers");
  }
  held_answers_.push_back({.to = to, .device_id = std::move(device_id), .bytes = std::move(bytes)});
  // Sent by Pump once the request's settlement is written (held_answers_).
}

Connection::Link* Connection::AnswerReceiver(const PendingAnswer& answer) {
  for (auto& [pn, link] : links_) {
    if (link->address.kind != answer.to || !pn_link_is_sender(pn)) continue;
    if (answer.to == LinkKind::kCbs || link->address.device_id == answer.device_id) {
      return link.get();
    }
  }
  return nullptr;
}

void Connection::SendAnswers() {
  for (auto it = answers_.begin(); it != answers_.end();) {
    Link* receiver = AnswerReceiver(*it);
    if (receiver == nullptr) {
      // A CBS answer waits for a $cbs receiver; a twin answer whose receiver is gone is dropped.
      it = it->to == LinkKind::kCbs ? std::next(it) : answers_.erase(it);
      continue;
    }
    if (pn_link_credit(receiver->link) <= 0) {
      ++it;
      continue;
    }
    uint64_t tag = receiver->next_tag++;
    pn_delivery_t* d =
        pn_delivery(receiver->link, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof(tag)));
    pn_link_send(receiver->link, it->bytes.data(), it->bytes.size());
    pn_link_advance(receiver->link);
    pn_delivery_settle(d);  // sent settled: an answer needs no acknowledgement
    it = answers_.erase(it);
  }
}

void Connection::TwinRequest(Link& link, pn_delivery_t* delivery, const std::string& bytes) {
  // Twins are not served yet. An unanswered request makes the SDKs wait forever (PROTOCOL.md), so
  // each is answered on the device's twin receiver with status 501, which the SDKs raise.
  constexpr int32_t kNotImplemented = 501;
  constexpr std::string_view kError =
      R"({"errorCode":501000,"message":"device twins are not served by this hub yet"})";
  Settle(delivery, Status::Ok());
  pn_link_flow(link.link, 1);
  Result<core::Message> decoded = amqp::DecodeMessage(bytes);
  pn_message_t* request = pn_message();
  // Our bounded decoder first: Proton's decoder recurses without bound into nested values.
  if (!decoded || pn_message_decode(request, bytes.data(), bytes.size()) != 0) {
    HUB_LOG_INFO("amqp", "{}: malformed twin request of '{}' dropped", remote_,
                 link.address.device_id);
    pn_message_free(request);
    return;
  }
  bool has_receiver = false;
  for (auto& [pn, l] : links_) {
    has_receiver = has_receiver || (l->address.kind == LinkKind::kDeviceTwinResponses &&
                                    l->address.device_id == link.address.device_id);
  }
  HUB_LOG_INFO("amqp", "{}: twin request of '{}' answered {}: twins are not served yet{}", remote_,
               link.address.device_id, kNotImplemented,
               has_receiver ? "" : " (no twin receiver: dropped)");
  if (!has_receiver) {
    pn_message_free(request);
    return;
  }
  pn_message_t* response = pn_message();
  pn_message_set_correlation_id(response, pn_message_get_correlation_id(request));
  pn_data_t* annotations = pn_message_annotations(response);
  pn_data_put_map(annotations);
  pn_data_enter(annotations);
  pn_data_put_symbol(annotations, pn_bytes(6, "status"));
  pn_data_put_int(annotations, kNotImplemented);
  pn_data_exit(annotations);
  pn_message_set_inferred(response, true);
  pn_data_put_binary(pn_message_body(response), pn_bytes(kError.size(), kError.data()));
  std::string encoded = Encode(response);
  pn_message_free(response);
  pn_message_free(request);
  QueueAnswer(LinkKind::kDeviceTwinResponses, link.address.device_id, std::move(encoded));
}

void Connection::Telemetry(Link& link, pn_delivery_t* delivery, const std::string& bytes) {
  Result<core::Message> message = amqp::DecodeMessage(bytes);
  if (!message) {
    HUB_LOG_INFO("amqp", "{}: telemetry of '{}' refused: {}", remote_, link.address.device_id,
                 message.error().ToString());
    Settle(delivery, message.error());
    pn_link_flow(link.link, 1);
    return;
  }
  core::Hub& hub = endpoint_.hub();
  Timestamp now = endpoint_.clock().Now();
  // The registry's lock is shared by every shard: at most one activity update a second a link.
  if (now - link.last_touch >= std::chrono::seconds(1)) {
    link.last_touch = now;
    hub.registry().TouchActivity(link.address.device_id);
  }
  uint64_t hold = Hold(link, delivery);
  std::weak_ptr<Connection> self = weak_from_this();
  Endpoint* endpoint = &endpoint_;
  hub.telemetry().Append(
      link.address.device_id, std::move(*message), link.append,
      [endpoint, self, home = shard_, link_id = link.id, hold](Result<core::Position> appended) {
        Status status = appended ? Status::Ok() : appended.error();
        endpoint->PostToShard(home, [self, link_id, hold, status] {
          if (auto c = self.lock()) c->OnSettled(link_id, hold, status);
        });
      });
}

void Connection::SendC2d(Link& link, pn_delivery_t* delivery, const std::string& bytes) {
  Result<core::Message> message = amqp::DecodeMessage(bytes);
  std::optional<std::string> device;
  if (message) device = DeviceOfC2dTo(message->to);
  if (!message || !device) {
    Status error = message
                       ? InvalidArgument("'to' must be /devices/<id>/messages/devicebound, got '" +
                                             message->to + "'",
                                         "ArgumentInvalid")
                       : message.error();
    HUB_LOG_INFO("amqp", "{}: C2D send refused: {}", remote_, error.ToString());
    Settle(delivery, error);
    pn_link_flow(link.link, 1);
    return;
  }
  uint64_t hold = Hold(link, delivery);
  std::weak_ptr<Connection> self = weak_from_this();
  endpoint_.hub().SendC2d(std::move(*device), std::move(*message),
                          endpoint_.hub().shard_executor(shard_),
                          [self, link_id = link.id, hold](Result<uint64_t> sent) {
                            if (auto c = self.lock()) {
                              c->OnSettled(link_id, hold, sent ? Status::Ok() : sent.error());
                            }
                          });
}

Result<core::auth::Principal> Connection::AddGrant(std::string_view token) {
  Result<core::auth::Principal> principal = endpoint_.hub().authenticator().Authenticate(token);
  if (!principal) return principal;
  authenticated_ = true;
  grants_[principal->scope] = Grant{.principal = *principal};
  return principal;
}

std::string Connection::FindGrant(const LinkAddress& address) const {
  const core::auth::Authenticator& auth = endpoint_.hub().authenticator();
  const std::string& host = endpoint_.hub().host_name();
  Timestamp now = endpoint_.clock().Now();
  for (const auto& [scope, grant] : grants_) {
    if (grant.principal.expiry <= now) continue;
    Status ok;
    switch (address.kind) {
      case LinkKind::kServiceC2dSend:
        ok = auth.Authorize(grant.principal, core::auth::kServiceConnect,
                            host + "/messages/devicebound");
        break;
      case LinkKind::kServiceFeedback:
        ok = auth.Authorize(grant.principal, core::auth::kServiceConnect,
                            host + "/messages/servicebound/feedback");
        break;
      default:
        ok = IsDeviceLink(address.kind)
                 ? auth.AuthorizeDeviceConnect(grant.principal, address.device_id)
                 : PermissionDenied("not a hub address");
    }
    if (ok.ok()) return scope;
  }
  return "";
}

void Connection::CloseLink(Link& link, std::string_view condition, std::string_view description) {
  pn_link_t* pn = link.link;
  HUB_LOG_INFO("amqp", "{}: detaching {} link '{}': {}: {}", remote_,
               LinkKindName(link.address.kind), View(pn_link_name(pn)), condition, description);
  pn_condition_t* c = pn_link_condition(pn);
  pn_condition_set_name(c, std::string(condition).c_str());
  pn_condition_set_description(c, std::string(description).c_str());
  Forget(pn);
  pn_link_close(pn);
  Pump();
}

void Connection::Forget(pn_link_t* pn) {
  auto it = links_.find(pn);
  if (it == links_.end()) return;
  Link& link = *it->second;
  if (link.address.kind == LinkKind::kDeviceC2d) {
    // The core stops delivering to this connection's hold on the device; what it delivered
    // before that (on its way here) is given back, not sent on a later C2D link of the device
    // (OnC2d), until the stop is known to have run.
    auto presence = device_links_.find(link.address.device_id);
    if (presence != device_links_.end()) {
      ++presence->second.c2d_stops;
      std::weak_ptr<Connection> self = weak_from_this();
      endpoint_.hub().StopC2d(
          link.address.device_id, presence->second.link, endpoint_.hub().shard_executor(shard_),
          [self, device = link.address.device_id, serial = presence->second.serial] {
            if (auto c = self.lock()) c->OnC2dStopped(device, serial);
          });
    }
  }
  if (link.address.kind == LinkKind::kServiceFeedback) {
    Endpoint* endpoint = &endpoint_;
    endpoint_.PostToShard(kFeedbackShard, [endpoint, id = link.id] {
      endpoint->feedback_dispatcher().Detach("", id);
    });
  }
  if (link.sends_queue()) {
    // What the client neither accepted nor refused goes back to the queue at once rather than
    // when its lock runs out.
    for (auto& [delivery, lock] : link.unsettled) {
      ApplyAction(endpoint_, link.address.kind, link.address.device_id, std::move(lock),
                  Action::kAbandon);
    }
  }
  if (link.is_device()) {
    auto presence = device_links_.find(link.address.device_id);
    if (presence != device_links_.end() && --presence->second.links == 0) {
      endpoint_.hub().DisconnectDevice(link.address.device_id, std::move(presence->second.link));
      device_links_.erase(presence);
    }
  }
  links_by_id_.erase(link.id);
  links_.erase(it);
}

void Connection::ForgetAll() {
  std::vector<pn_link_t*> all;
  all.reserve(links_.size());
  for (auto& [pn, link] : links_) all.push_back(pn);
  for (pn_link_t* pn : all) Forget(pn);
}

void Connection::CloseWith(std::string_view condition, std::string_view description) {
  HUB_LOG_INFO("amqp", "{}: closing the connection: {}: {}", remote_, condition, description);
  pn_condition_t* c = pn_connection_condition(driver_.connection);
  pn_condition_set_name(c, std::string(condition).c_str());
  pn_condition_set_description(c, std::string(description).c_str());
  ForgetAll();
  pn_connection_close(driver_.connection);
  Pump();
}

}  // namespace iothub::amqp
