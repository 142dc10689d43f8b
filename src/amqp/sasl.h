#pragma once

#include <functional>
#include <string_view>

struct pn_transport_t;

namespace iothub::amqp {

// iothub's SASL server, plugged into Proton's transport (proton/sasl_plugin.h) in place of its
// Cyrus-based default, which would check PLAIN passwords against a SASL database instead of IoT
// Hub tokens. Offers PLAIN, ANONYMOUS and MSSBCBS (PROTOCOL.md, "AMQP 1.0"):
// - ANONYMOUS and MSSBCBS (the C SDK's mechanism, which names what follows: CBS) succeed; the
//   client then authenticates with CBS put-tokens.
// - PLAIN ("<policy>@sas.root.<hub>" or "<deviceId>@sas.<hub>", password: a SAS token) succeeds
//   when `check_plain(user, password)` returns true; the user name is informational (the token
//   says who it is).
// - Any other mechanism, or a refused token, fails with SASL outcome "auth".
// A client that sends the bare AMQP header skips SASL altogether (Proton's server detects the
// header): it too authenticates with CBS.
using PlainCheck = std::function<bool(std::string_view user, std::string_view password)>;

// Installs the server on `transport` (a server transport not yet bound). `check_plain` must
// outlive the transport. Runs on the transport's thread.
void InstallSaslServer(pn_transport_t* transport, const PlainCheck* check_plain);

}  // namespace iothub::amqp
