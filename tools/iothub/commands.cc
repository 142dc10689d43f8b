#include "tools/iothub/commands.h"

#include "tools/iothub/cli_status.h"
#include "tools/iothub/output.h"

namespace iothub::cli {

int RunCommand(const Invocation& inv, Context& ctx) {
  Status status;
  switch (inv.command) {
    case Command::kDeviceCreate:
    case Command::kDeviceShow:
    case Command::kDeviceList:
    case Command::kDeviceDelete:
    case Command::kDeviceEnable:
    case Command::kDeviceDisable:
    case Command::kDeviceConnectionString:
    case Command::kDeviceToken:
      status = RunDeviceCommand(inv, ctx);
      break;
    case Command::kC2dSend:
      status = RunC2dSend(inv, ctx);
      break;
    case Command::kC2dPurge:
      status = RunC2dPurge(inv, ctx);
      break;
    case Command::kFeedbackReceive:
      status = RunFeedbackReceive(inv, ctx);
      break;
    case Command::kMonitor:
      status = RunMonitor(inv, ctx);
      break;
    case Command::kStats:
      status = RunStats(inv, ctx);
      break;
  }
  ctx.out.flush();
  if (status.ok()) return kExitOk;
  ctx.err << "iothub: " << ErrorLine(status) << "\n";
  ctx.err.flush();
  return ExitCodeFor(status);
}

Status RunStats(const Invocation& inv, Context& ctx) {
  HUB_ASSIGN_OR_RETURN(Json devices, ctx.client.DeviceStatistics());
  HUB_ASSIGN_OR_RETURN(Json service, ctx.client.ServiceStatistics());
  if (inv.json) {
    Json merged = devices.is_object() ? devices : Json::object();
    if (service.is_object()) merged.update(service);
    ctx.out << JsonDocument(merged);
  } else {
    ctx.out << FormatStatistics(devices, service);
  }
  return Status::Ok();
}

}  // namespace iothub::cli
