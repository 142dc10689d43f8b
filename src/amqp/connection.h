#pragma once

#include <proton/connection_driver.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "amqp/addresses.h"
#include "amqp/frame_checker.h"
#include "amqp/sasl.h"
#include "base/clock.h"
#include "base/status.h"
#include "core/auth/authenticator.h"
#include "core/hub/presence.h"
#include "core/message.h"
#include "net/stream_link.h"

namespace iothub::amqp {

class Endpoint;

// One AMQP 1.0 connection, of a device or a service, sans-I/O: bytes in (OnData), bytes out
// (net::StreamOutput), time in (OnTimer). Qpid Proton's connection driver parses and writes the
// protocol; this class answers its events with IoT Hub's semantics (PROTOCOL.md, "AMQP 1.0"):
// - Authentication: SASL PLAIN with a SAS token as password, or SASL ANONYMOUS / no SASL and then
//   CBS put-tokens on `$cbs` (answered with status-code 200, or 401 with the reason). Each valid
//   token is a grant for its scope until it expires; a later put-token for the same scope renews
//   it. A link other than `$cbs` attaches only if a grant covers it, and is detached with
//   amqp:unauthorized-access when its grant expires unrenewed.
// - Device links: telemetry (each message appended durably, then accepted) and C2D (messages
//   locked as the link's credit allows and sent unsettled; accepted / rejected / released or
//   modified complete / reject / abandon them; what is unsettled when the link ends is abandoned).
// - Service links: C2D sends (enqueued durably, then accepted, or rejected with IoT Hub's
//   condition) and feedback (accepted completes, released or modified abandons).
// - Unknown addresses are refused with amqp:not-found, links without a grant with
//   amqp:unauthorized-access; a message over the size limit detaches its link with
//   amqp:link:message-size-exceeded; malformed frames close the connection (Proton's framing
//   errors); no OPEN within open_timeout, no grant within auth_timeout, and idle_timeout close it.
//   Every refusal is logged with its reason.
//
// Thread: the connection's shard, for every method. Device operations go through the hub's
// asynchronous calls (core::Hub), which hide the device's shard; C2D messages arrive through the
// connection's core::DeviceLink per device. The feedback queue's work is posted to its shard.
// What comes back keeps only a weak_ptr.
class Connection : public net::StreamInput, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Endpoint& endpoint, size_t shard, std::shared_ptr<net::StreamOutput> output,
             std::string remote, uint64_t id, Timestamp opened);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // net::StreamInput: bytes from the client, in order, any split; the end of the transport.
  void OnData(std::string_view bytes) override;
  void OnClosed() override;
  // Enforces the open and auth time-outs, token expiry and Proton's idle time-out at `now`.
  void OnTimer(Timestamp now);
  // Lets go of the output and forgets every link without a word to the peer (shutdown).
  void Teardown();

  // Sends feedback messages the dispatcher locked for link `link_id` (posted here by the
  // Endpoint). False, leaving `messages` alone, when the link is gone: the caller returns them to
  // their queue.
  bool OnPulled(uint64_t link_id, std::vector<core::Message>& messages);

  // Sends C2D messages the core delivered to this connection's hold number `serial` on
  // `device_id` (posted here by its PresenceLink) on the device's C2D link. False, leaving
  // `messages` alone, when that hold or the C2D link they were granted for is gone: the caller
  // returns them to their queue.
  bool OnC2d(const std::string& device_id, uint64_t serial, std::vector<core::Message>& messages);

  // The core ended this connection's hold number `serial` on `device_id` (posted here): a newer
  // connection of the device took over (kReplaced: its links are detached with amqp:link:stolen)
  // or the device was deleted, disabled or re-keyed (kRevoked: amqp:unauthorized-access, which
  // the SDKs raise as UnauthorizedError instead of reconnecting). Ignored when the device's links
  // here are under a later hold by now.
  void EndDevice(const std::string& device_id, uint64_t serial, core::LinkEnd why,
                 const std::string& reason);

  uint64_t id() const { return id_; }
  size_t shard() const { return shard_; }
  bool closed() const { return closed_; }

 private:
  struct Link;
  struct Grant {
    core::auth::Principal principal;
  };

  // Runs Proton's events and writes its output.
  void Pump();
  void Flush();
  void Handle(pn_event_t* event);
  void OnRemoteOpen();
  void OnSessionOpen(pn_session_t* session);
  void OnLinkOpen(pn_link_t* link);
  void OnFlow(Link& link);
  // Sends locked messages on a link that sends queued messages, unsettled.
  void Send(Link& link, std::vector<core::Message>& messages);
  // A StopC2d of the device's hold number `serial` took effect.
  void OnC2dStopped(const std::string& device_id, uint64_t serial);
  void OnDelivery(pn_delivery_t* delivery);
  void OnIncoming(Link& link, pn_delivery_t* delivery);
  void OnOutcome(Link& link, pn_delivery_t* delivery);

  // What each receiving link does with a complete message.
  void PutToken(Link& link, pn_delivery_t* delivery, const std::string& bytes);
  void Telemetry(Link& link, pn_delivery_t* delivery, const std::string& bytes);
  void SendC2d(Link& link, pn_delivery_t* delivery, const std::string& bytes);
  // Answers a twin request with an error status (twins are not served yet).
  void TwinRequest(Link& link, pn_delivery_t* delivery, const std::string& bytes);

  // Answers to the client's requests (CBS put-tokens, twin requests), for its receiver of kind
  // `to` (twin: of device `device_id`). QueueAnswer holds one until its request's settlement is
  // written (held_answers_); too many waiting close the connection. SendAnswers sends the waiting
  // ones, settled, as their receivers' credit allows.
  struct PendingAnswer {
    LinkKind to = LinkKind::kCbs;
    std::string device_id;
    std::string bytes;
  };
  void QueueAnswer(LinkKind to, std::string device_id, std::string bytes);
  Link* AnswerReceiver(const PendingAnswer& answer);
  void SendAnswers();
  // Drops what arrived of an incoming delivery on a link this connection let go of, and the
  // delivery once whole.
  void Discard(pn_link_t* link, pn_delivery_t* delivery);
  // Holds an incoming delivery until the core answers for it (OnSettled).
  uint64_t Hold(Link& link, pn_delivery_t* delivery);
  void OnSettled(uint64_t link_id, uint64_t hold, const Status& status);

  // Grants: a SAS token authenticated through SASL PLAIN or CBS.
  Result<core::auth::Principal> AddGrant(std::string_view token);
  // The scope of a live grant that lets this connection use a link at `address`, or "".
  std::string FindGrant(const LinkAddress& address) const;

  // Ends a link: our side detaches (with `condition` unless empty); the dispatcher forgets it and
  // its unsettled C2D deliveries are abandoned.
  void CloseLink(Link& link, std::string_view condition, std::string_view description);
  void CloseLinks(const std::vector<pn_link_t*>& links, std::string_view condition,
                  std::string_view description);
  void Forget(pn_link_t* link);
  // The first link of a device attached here: the connection becomes the device's presence.
  void ConnectDevice(const std::string& device_id, const core::auth::Principal& principal);
  void ForgetAll();
  // Closes the connection with an AMQP error condition.
  void CloseWith(std::string_view condition, std::string_view description);
  void Finish();

  Endpoint& endpoint_;
  const size_t shard_;
  std::shared_ptr<net::StreamOutput> output_;
  const std::string remote_;
  const uint64_t id_;
  const Timestamp opened_;
  Timestamp auth_since_;  // when the auth time-out started: the open, or the last grant's expiry
  pn_connection_driver_t driver_;
  FrameChecker checker_;  // what Proton lets through (frame_checker.h)
  PlainCheck plain_check_;
  bool remote_opened_ = false;
  bool authenticated_ = false;  // a grant is live, or was since auth_since_
  bool in_pump_ = false;
  bool closed_ = false;
  bool output_closed_ = false;
  uint32_t sessions_ = 0;

  std::map<std::string, Grant, std::less<>> grants_;  // by the token's scope
  // Answers whose request's settlement is not written yet. Proton holds dispositions back (to
  // merge ranges) and writes a transfer queued in the same pass before them; the C SDK takes an
  // answer that arrives before the settlement of its request as a failed authentication.
  std::vector<PendingAnswer> held_answers_;
  std::deque<PendingAnswer> answers_;  // waiting for their receiver and its credit
  std::unordered_map<pn_link_t*, std::unique_ptr<Link>> links_;
  std::unordered_map<uint64_t, Link*> links_by_id_;
  // Per device with links here: how many, and this connection as the core's presence knows it
  // (one for all of them; the first link attaches it, the last detaches it).
  struct DevicePresence {
    uint32_t links = 0;
    std::shared_ptr<core::DeviceLink> link;
    uint64_t serial = 0;  // of `link`: a late end of an earlier hold names another
    // StopC2d calls not yet known to have taken effect: until then, what the core delivers was
    // granted by a C2D link that is gone.
    uint32_t c2d_stops = 0;
  };
  std::unordered_map<std::string, DevicePresence> device_links_;
  uint64_t next_presence_serial_ = 1;
};

}  // namespace iothub::amqp
