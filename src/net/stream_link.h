#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/byte_stream.h"

namespace iothub::net {

// Where a sans-I/O protocol connection (MQTT, AMQP) writes: a ByteStream in the daemon (through
// StreamLink), a recorder in tests. Called on the connection's shard only.
class StreamOutput {
 public:
  virtual ~StreamOutput() = default;
  virtual void Write(std::string_view bytes) = 0;
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;
  // Writes what is queued, then closes; the transport calls StreamInput::OnClosed afterwards.
  virtual void Close() = 0;
  // Drops what the output holds (its transport), with no further call to the connection: for
  // shutdown, once the event loops stopped.
  virtual void Release() {}
};

// What a sans-I/O protocol connection reads: a stream's bytes, in order and in any split, then
// its end (the peer closed, an error, or after Close; nothing is written after it).
class StreamInput {
 public:
  virtual ~StreamInput() = default;
  virtual void OnData(std::string_view bytes) = 0;
  virtual void OnClosed() = 0;
};

// The connection counters of one listener ("mqtt", "amqp-ws", ...): made once per listener and
// shared by its links.
struct ListenerMetrics;
std::shared_ptr<ListenerMetrics> MakeListenerMetrics(const std::string& listener);

// Joins a ByteStream and a protocol connection: the stream's events go to the connection (its
// StreamInput), the connection's output (this, as its StreamOutput) to the stream. The stream holds
// this link (as its handler) until it closed; the link holds the stream until then too, and the
// connection holds the link as its output. Reading pauses while the connection asks for it, or
// while more than `max_pending_output` bytes wait to be written: a client that does not read
// stops being read from, so it cannot make the hub buffer answers without end. Counts the
// connection in its listener's `iothub_connections` and `iothub_connections_accepted_total`.
//
// Thread: the stream's shard.
class StreamLink final : public StreamHandler,
                         public StreamOutput,
                         public std::enable_shared_from_this<StreamLink> {
 public:
  StreamLink(std::shared_ptr<ByteStream> stream, std::shared_ptr<ListenerMetrics> metrics,
             size_t max_pending_output = 64 * 1024);
  ~StreamLink() override;

  void set_input(std::shared_ptr<StreamInput> input) { input_ = std::move(input); }

  // StreamHandler
  void OnDrained() override;
  void OnData(std::string_view bytes) override;
  void OnClosed(std::string_view why) override;

  // StreamOutput
  void Write(std::string_view bytes) override;
  void PauseReading() override;
  void ResumeReading() override;
  void Close() override;
  // The stream holds this link as its handler and the link holds the stream: a cycle that
  // OnClosed breaks, and that this breaks at shutdown, when no OnClosed will come.
  void Release() override;

 private:
  void ApplyPause();

  std::shared_ptr<ByteStream> stream_;
  std::shared_ptr<ListenerMetrics> metrics_;
  size_t max_pending_output_;
  std::shared_ptr<StreamInput> input_;
  bool input_paused_ = false;
  bool output_full_ = false;
  bool paused_ = false;
};

}  // namespace iothub::net
