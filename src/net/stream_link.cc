#include "net/stream_link.h"

#include <utility>

#include "base/log.h"
#include "base/metrics.h"

namespace iothub::net {

// Connections open and accepted per listener ("mqtt", "amqp-ws", ...), the same series as the
// HTTPS endpoint's.
struct ListenerMetrics {
  explicit ListenerMetrics(const std::string& listener)
      : open(metrics::GetGauge("iothub_connections", "Client connections open.",
                               {{"endpoint", listener}})),
        accepted(metrics::GetCounter("iothub_connections_accepted_total",
                                     "Client connections accepted.", {{"endpoint", listener}})) {}
  metrics::Gauge open;
  metrics::Counter accepted;
};

std::shared_ptr<ListenerMetrics> MakeListenerMetrics(const std::string& listener) {
  return std::make_shared<ListenerMetrics>(listener);
}

StreamLink::StreamLink(std::shared_ptr<ByteStream> stream, std::shared_ptr<ListenerMetrics> metrics,
                       size_t max_pending_output)
    : stream_(std::move(stream)),
      metrics_(std::move(metrics)),
      max_pending_output_(max_pending_output) {
  metrics_->accepted.Increment();
  metrics_->open.Increment();
}

StreamLink::~StreamLink() { metrics_->open.Decrement(); }

void StreamLink::OnDrained() {
  output_full_ = false;
  ApplyPause();
}

void StreamLink::OnData(std::string_view bytes) {
  std::shared_ptr<StreamInput> input = input_;  // closing may drop this link's reference
  if (input) input->OnData(bytes);
}

void StreamLink::OnClosed(std::string_view why) {
  HUB_LOG_DEBUG("net", "{}: stream closed: {}", stream_->remote_endpoint(), why);
  std::shared_ptr<StreamInput> input = std::move(input_);
  if (input) input->OnClosed();
  stream_.reset();
}

void StreamLink::Write(std::string_view bytes) {
  if (!stream_) return;
  stream_->Write(bytes);
  if (stream_->pending_write_bytes() > max_pending_output_) {
    output_full_ = true;
    ApplyPause();
  }
}

void StreamLink::PauseReading() {
  input_paused_ = true;
  ApplyPause();
}

void StreamLink::ResumeReading() {
  input_paused_ = false;
  ApplyPause();
}

void StreamLink::Close() {
  if (stream_) stream_->Close();
}

void StreamLink::Release() {
  std::shared_ptr<ByteStream> stream = std::move(stream_);
  input_.reset();
}

void StreamLink::ApplyPause() {
  bool pause = input_paused_ || output_full_;
  if (!stream_ || pause == paused_) return;
  paused_ = pause;
  if (pause) {
    stream_->PauseReading();
  } else {
    stream_->ResumeReading();
  }
}

}  // namespace iothub::net
