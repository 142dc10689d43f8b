// Fuzzes every HTTPS resource with the parts of a request a client controls: the method, the
// request-target (path segments, %-escapes, query), the headers (iothub-app-* properties, expiry,
// ack, If-Match, lock timeout, Content-Type, Accept, Authorization) and the body (device JSON, bulk
// imports, event batches, checkpoints). The router runs over a MemoryStore hub with manually run
// shards. Unless the input brings its own Authorization header, a valid iothubowner token is added,
// so that inputs get past authentication into the parsers behind it.
//
// Input: "<method byte><target>\n<name>: <value>\n...\n\n<body>". Checks: no crash, no sanitizer
// report, and every request is answered exactly once with a status from 100 to 599.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/executor.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "http/routes.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace {

using namespace iothub;

struct World {
  World() : hub({.host_name = "fuzz.example"}, store, clock, {&shard0, &shard1}) {
    if (!hub.Open().ok()) std::abort();
    http::AddAllRoutes(router, hub, blocking);
    core::Device device;
    device.id = "d1";
    if (!hub.registry().Create(device)) std::abort();
    auto owner = hub.policies().Find("iothubowner");
    if (!owner) std::abort();
    token = core::auth::CreateSasToken("fuzz.example", owner->primary_key,
                                       clock.Now() + std::chrono::hours(24 * 365), "iothubowner");
  }
  void RunAll() {
    while (shard0.RunAll() + shard1.RunAll() + blocking.RunAll() > 0) {
    }
  }

  FakeClock clock;
  storage::MemoryStore store;
  testing::ManualExecutor shard0, shard1, blocking;
  core::Hub hub;
  http::Router router;
  std::string token;
};

constexpr std::string_view kMethods[] = {"GET", "PUT", "POST", "DELETE", "PATCH"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // one hub for the whole run, as a daemon has
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto request = std::make_shared<http::Request>();
  request->method = std::string(kMethods[static_cast<uint8_t>(in[0]) % std::size(kMethods)]);
  in.remove_prefix(1);
  size_t line_end = in.find('\n');
  std::string_view target = in.substr(0, line_end);
  in = line_end == std::string_view::npos ? std::string_view() : in.substr(line_end + 1);
  request->target = std::string(target);
  if (!http::ParseTarget(target, request.get()).ok()) return 0;  // the session answers 400 itself
  while (!in.empty()) {
    size_t end = in.find('\n');
    std::string_view line = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request->headers[std::string(line.substr(0, colon))] = std::string(value);
  }
  request->body = std::string(in);
  if (!request->Header("Authorization")) {
    request->headers["Authorization"] = world->token;
  }
  int answers = 0;
  int status = 0;
  std::shared_ptr<http::BodyStream> stream;
  world->router.Dispatch(
      request,
      [&](http::Response response) {
        ++answers;
        status = response.status;
        stream = std::move(response.stream);
      },
      &world->blocking);
  world->RunAll();
  if (answers != 1 || status < 100 || status > 599) std::abort();
  static const bool verbose = std::getenv("HTTP_FUZZ_VERBOSE") != nullptr;  // for corpus work
  if (verbose)
    std::fprintf(stderr, "%s %s -> %d\n", request->method.c_str(), request->target.c_str(), status);
  if (stream != nullptr) {
    // Pull once (it must answer or wait without crashing), then cancel as a closing session does.
    stream->Pull([](std::optional<std::string>) {});
    world->RunAll();
    stream->Cancel();
    world->RunAll();
  }
  return 0;
}
