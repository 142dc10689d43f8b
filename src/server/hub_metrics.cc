#include "server/hub_metrics.h"

#include <string>

#include "base/metrics.h"
#include "core/hub/hub.h"

namespace iothub::server {

HubMetrics::HubMetrics(core::Hub& hub) : hub_(hub) {
  hook_id_ = metrics::AddScrapeHook([this] { Update(); });
}

HubMetrics::~HubMetrics() { metrics::RemoveScrapeHook(hook_id_); }

void HubMetrics::Update() {
  core::RegistryStats stats = hub_.registry().Stats();
  constexpr std::string_view kDevicesHelp = "Devices in the identity registry, by status.";
  metrics::GetGauge("iothub_devices", kDevicesHelp, {{"status", "enabled"}})
      .Set(static_cast<double>(stats.enabled));
  metrics::GetGauge("iothub_devices", kDevicesHelp, {{"status", "disabled"}})
      .Set(static_cast<double>(stats.disabled));
  metrics::GetGauge("iothub_devices_connected", "Devices connected now (MQTT and AMQP).")
      .Set(static_cast<double>(stats.connected));
  metrics::GetGauge("iothub_c2d_queued_messages",
                    "Cloud-to-device messages held in device queues (queued or locked).")
      .Set(static_cast<double>(hub_.C2dQueuedTotal()));
  metrics::GetGauge("iothub_feedback_messages",
                    "Feedback messages waiting for the service to receive and complete them.")
      .Set(static_cast<double>(hub_.FeedbackMessages()));
  metrics::GetGauge("iothub_feedback_pending_records",
                    "Feedback records not yet batched into a feedback message.")
      .Set(static_cast<double>(hub_.FeedbackPendingRecords()));
  core::TelemetryLog& telemetry = hub_.telemetry();
  for (uint32_t p = 0; p < telemetry.partition_count(); ++p) {
    auto info = telemetry.GetPartitionInfo(p);
    if (!info) continue;
    metrics::Labels labels{{"partition", std::to_string(p)}};
    metrics::GetGauge("iothub_telemetry_records", "Telemetry records held, per partition.", labels)
        .Set(static_cast<double>(info->next_offset - info->first_offset));
    metrics::GetGauge("iothub_telemetry_bytes", "Telemetry bytes held, per partition.", labels)
        .Set(static_cast<double>(info->bytes));
    metrics::GetGauge("iothub_telemetry_next_offset",
                      "Offset of the next telemetry record, per partition (messages received).",
                      labels)
        .Set(static_cast<double>(info->next_offset));
  }
}

}  // namespace iothub::server
