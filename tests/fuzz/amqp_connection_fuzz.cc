// Fuzzes amqp::Connection — Qpid Proton's server-side connection driver under iothub's handling
// of its events (SASL, CBS put-tokens, link authorization, telemetry, C2D sends and receives,
// feedback, time-outs) — with what a client may send, over a real hub (amqp_connection_world.h: a
// MemoryStore, a FakeClock, two manual shards; a fresh World per input, so that every input
// replays alone).
//
// Input: byte 0 holds flags (bit 0: first feed a valid prefix, a bare AMQP header, OPEN and BEGIN
// as Proton's client writes them). Then records, each one control byte:
// - 0x00-0xEF: the next (byte + 1) bytes arrive in one OnData (the split points of the stream);
// - 0xF0-0xF7: the clock moves (byte - 0xEF) * 20 s and the endpoint's timer runs;
// - 0xF8: both shards run until idle; 0xF9 / 0xFA: only shard 0 / shard 1 (other interleavings
//   of the connection with its queues' shards); 0xFB: the hub's lock and TTL timers; others: as
//   0xF8.
// The shards run until idle at the end; when the connection closes its output, the transport ends
// (OnClosed) as a real stream would, and no more bytes are fed.
// Checks: no crash and no sanitizer report (leaks included), and the connection has left the
// endpoint once its transport ended.
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/session.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "net/stream_link.h"
#include "tests/fuzz/amqp_connection_world.h"

namespace {

using namespace iothub;

void Check(bool ok) {
  if (!ok) std::abort();
}

// Bytes out of the hub: dropped, but Close is noted.
class Output final : public net::StreamOutput {
 public:
  void Write(std::string_view bytes) override { written += bytes.size(); }
  void PauseReading() override {}
  void ResumeReading() override {}
  void Close() override { closed = true; }

  size_t written = 0;
  bool closed = false;
};

// What Proton's client writes first without SASL: the AMQP header, OPEN and BEGIN.
std::string ValidPrefix() {
  pn_connection_driver_t driver;
  pn_connection_driver_init(&driver, nullptr, nullptr);
  pn_connection_set_container(driver.connection, "fuzz-client");
  pn_connection_set_hostname(driver.connection, amqp::fuzz::kHost);
  pn_connection_open(driver.connection);
  pn_session_open(pn_session(driver.connection));
  std::string out;
  for (;;) {
    while (pn_connection_driver_next_event(&driver) != nullptr) {
    }
    pn_bytes_t bytes = pn_connection_driver_write_buffer(&driver);
    if (bytes.size == 0) break;
    out.append(bytes.start, bytes.size);
    pn_connection_driver_write_done(&driver, bytes.size);
  }
  pn_connection_driver_destroy(&driver);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string* prefix = new std::string(ValidPrefix());
  // Every refused input logs at info: too slow and too loud for fuzzing.
  static const bool quiet = (spdlog::set_level(spdlog::level::warn), true);
  (void)quiet;
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);

  amqp::fuzz::World world;
  auto output = std::make_shared<Output>();
  std::shared_ptr<amqp::Connection> connection = world.endpoint->Open(0, output, "fuzz");
  bool ended = false;
  auto end_if_closed = [&] {
    if (output->closed && !ended) {
      ended = true;
      connection->OnClosed();
    }
  };

  if (flags & 1) {
    connection->OnData(*prefix);
    world.RunAll();
    end_if_closed();
  }
  while (!in.empty() && !ended) {
    const uint8_t control = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (control < 0xF0) {
      size_t n = std::min<size_t>(size_t{control} + 1, in.size());
      connection->OnData(in.substr(0, n));
      in.remove_prefix(n);
    } else if (control < 0xF8) {
      world.clock.Advance(std::chrono::seconds(20) * (control - 0xEF));
      world.endpoint->Tick(0);
    } else if (control == 0xF9) {
      world.shard0.RunAll();
    } else if (control == 0xFA) {
      world.shard1.RunAll();
    } else if (control == 0xFB) {
      world.ProcessTimers();
    } else {
      world.RunAll();
    }
    end_if_closed();
  }
  world.RunAll();
  end_if_closed();
  if (!ended) connection->OnClosed();  // the client goes away
  world.RunAll();
  Check(world.endpoint->connection_count(0) == 0);
  Check(connection->closed());
  return 0;
}
