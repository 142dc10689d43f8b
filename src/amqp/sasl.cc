#include "amqp/sasl.h"

#include <proton/sasl.h>
#include <proton/sasl_plugin.h>
#include <proton/transport.h>

#include <cstring>
#include <string_view>

namespace iothub::amqp {
namespace {

// MSSBCBS: the C SDK's (uAMQP's) name for "no credentials here, CBS follows"; it insists on it.
constexpr char kMechanisms[] = "PLAIN ANONYMOUS MSSBCBS";

void Free(pn_transport_t*) {}  // the context belongs to the caller

const char* ListMechanisms(pn_transport_t*) { return kMechanisms; }

bool InitServer(pn_transport_t* transport) {
  pnx_sasl_set_desired_state(transport, SASL_POSTED_MECHANISMS);
  return true;
}

bool InitClient(pn_transport_t*) { return false; }  // server only

void PrepareWrite(pn_transport_t*) {}

void Outcome(pn_transport_t* transport, bool ok, const char* user) {
  if (ok) {
    pnx_sasl_set_succeeded(transport, user, nullptr);
  } else {
    pnx_sasl_set_failed(transport);
  }
  pnx_sasl_set_desired_state(transport, SASL_POSTED_OUTCOME);
}

// PLAIN's initial response (RFC 4616): [authzid] NUL authcid NUL passwd.
bool CheckPlain(pn_transport_t* transport, const pn_bytes_t* response) {
  if (response == nullptr || response->start == nullptr) return false;
  std::string_view text(response->start, response->size);
  size_t first = text.find('\0');
  if (first == std::string_view::npos) return false;
  size_t second = text.find('\0', first + 1);
  if (second == std::string_view::npos) return false;
  std::string_view user = text.substr(first + 1, second - first - 1);
  std::string_view password = text.substr(second + 1);
  const auto* check = static_cast<const PlainCheck*>(pnx_sasl_get_context(transport));
  return check != nullptr && *check && (*check)(user, password);
}

void ProcessInit(pn_transport_t* transport, const char* mechanism, const pn_bytes_t* response) {
  // Proton passes the sasl-init's mechanism as sent: null when a client left it out.
  if (mechanism == nullptr) return Outcome(transport, false, nullptr);
  if (std::strcmp(mechanism, "ANONYMOUS") == 0) return Outcome(transport, true, "anonymous");
  if (std::strcmp(mechanism, "MSSBCBS") == 0) return Outcome(transport, true, "mssbcbs");
  if (std::strcmp(mechanism, "PLAIN") == 0) {
    return Outcome(transport, CheckPlain(transport, response), "plain");
  }
  Outcome(transport, false, nullptr);
}

void ProcessResponse(pn_transport_t* transport, const pn_bytes_t*) {
  // Neither mechanism challenges, so a response is a protocol error.
  Outcome(transport, false, nullptr);
}

bool ProcessMechanisms(pn_transport_t*, const char*) { return false; }
void ProcessChallenge(pn_transport_t*, const pn_bytes_t*) {}
void ProcessOutcome(pn_transport_t*, const pn_bytes_t*) {}
bool CanEncrypt(pn_transport_t*) { return false; }
ssize_t MaxEncryptSize(pn_transport_t*) { return 0; }
ssize_t Encode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }
ssize_t Decode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }

const pnx_sasl_implementation kServer = {
    Free,
    ListMechanisms,
    InitServer,
    InitClient,
    PrepareWrite,
    ProcessInit,
    ProcessResponse,
    ProcessMechanisms,
    ProcessChallenge,
    ProcessOutcome,
    CanEncrypt,
    MaxEncryptSize,
    Encode,
    Decode,
};

}  // namespace

void InstallSaslServer(pn_transport_t* transport, const PlainCheck* check_plain) {
  pn_sasl_t* sasl = pn_sasl(transport);
  // TLS is ours, outside Proton: Proton would otherwise think PLAIN goes over a plain socket.
  pn_sasl_set_allow_insecure_mechs(sasl, true);
  pnx_sasl_set_implementation(transport, &kServer,
                              const_cast<void*>(static_cast<const void*>(check_plain)));
}

}  // namespace iothub::amqp
