#include "http/telemetry_resource.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/strings.h"
#include "http/errors.h"
#include "http/event_json.h"
#include "http/event_stream.h"
#include "http/service_auth.h"
#include "http/traffic.h"

namespace iothub::http {
namespace {

using core::auth::kServiceConnect;
// ordered_json: answers keep the documented field order.
using Json = nlohmann::ordered_json;

constexpr size_t kDefaultMax = 100;
constexpr size_t kMaxMax = 1000;
// Beyond the first event, a read answers at most about this many stored bytes.
constexpr size_t kMaxReadBytes = size_t{4} << 20;

Status BadArgument(std::string message) {
  return InvalidArgument(std::move(message), "ArgumentInvalid");
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

Result<uint32_t> ParsePartition(const core::TelemetryLog& log, std::string_view text) {
  std::optional<uint32_t> p = ParseNumber<uint32_t>(text);
  if (!p || *p >= log.partition_count()) {
    return BadArgument("partition must be an integer from 0 to " +
                       std::to_string(log.partition_count() - 1) + ", got '" + std::string(text) +
                       "'");
  }
  return *p;
}

// The query's start parameters, parsed once and resolved per partition.
struct StartQuery {
  std::string from;  // "start", "end", "checkpoint" or an offset
  std::optional<Timestamp> enqueued_after;
  std::string group;
};

Result<StartQuery> ParseStartQuery(const Request& request, std::string_view default_from) {
  StartQuery q;
  q.group = std::string(request.Query("consumerGroup").value_or(core::kDefaultConsumerGroup));
  if (auto after = request.Query("enqueuedAfter")) {
    Timestamp t;
    if (!ParseIso8601(*after, &t)) return BadArgument("enqueuedAfter must be an ISO 8601 time");
    q.enqueued_after = t;
    default_from = "start";
  }
  q.from = ToLower(request.Query("from").value_or(default_from));
  if (q.from != "start" && q.from != "end" && q.from != "checkpoint" &&
      !ParseNumber<uint64_t>(q.from)) {
    return BadArgument("from must be start, end, checkpoint or an offset");
  }
  return q;
}

// The first offset of `partition` to answer for `q`.
Result<uint64_t> ResolveStart(const core::TelemetryLog& log, uint32_t partition,
                              const StartQuery& q) {
  core::StartPosition start = core::StartPosition::Start();
  if (q.from == "end") {
    start = core::StartPosition::End();
  } else if (q.from == "checkpoint") {
    HUB_ASSIGN_OR_RETURN(std::optional<uint64_t> checkpoint, log.GetCheckpoint(q.group, partition));
    if (checkpoint) start = core::StartPosition::FromOffset(*checkpoint);
  } else if (q.from != "start") {
    start = core::StartPosition::FromOffset(*ParseNumber<uint64_t>(q.from));
  }
  HUB_ASSIGN_OR_RETURN(uint64_t offset, log.ResolveStart(partition, start));
  if (q.enqueued_after) {
    HUB_ASSIGN_OR_RETURN(
        uint64_t after,
        log.ResolveStart(partition, core::StartPosition::FromEnqueuedTime(*q.enqueued_after)));
    offset = std::max(offset, after);
  }
  return offset;
}

// "Last-Event-ID: p:o[,p:o...]" -> partition -> the offset after o. Empty when absent or blank.
Result<std::map<uint32_t, uint64_t>> ParseLastEventId(const core::TelemetryLog& log,
                                                      const Request& request) {
  std::map<uint32_t, uint64_t> resume;
  std::optional<std::string_view> header = request.Header("Last-Event-ID");
  if (!header || header->find_first_not_of(' ') == std::string_view::npos) return resume;
  for (std::string_view pair : Split(*header, ',')) {
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    size_t colon = pair.find(':');
    std::optional<uint32_t> p = ParseNumber<uint32_t>(pair.substr(0, colon));
    std::optional<uint64_t> o;
    if (colon != std::string_view::npos) o = ParseNumber<uint64_t>(pair.substr(colon + 1));
    if (!p || *p >= log.partition_count() || !o || *o == std::numeric_limits<uint64_t>::max()) {
      return BadArgument("Last-Event-ID must be <partition>:<offset>[,...], got '" +
                         std::string(*header) + "'");
    }
    resume[*p] = *o + 1;
  }
  return resume;
}

bool WantsEventStream(const Request& request) {
  return ToLower(request.Header("Accept").value_or("")).find("text/event-stream") !=
         std::string::npos;
}

Result<core::auth::Principal> Authorize(core::Hub& hub, const Request& request) {
  return AuthorizeService(hub.authenticator(), request, kServiceConnect,
                          hub.host_name() + "/messages/events");
}

Response StreamResponse(core::Hub& hub, Executor& blocking, EventStreamOptions options) {
  Response response;
  response.status = 200;
  response.headers.emplace("Content-Type", "text/event-stream");
  response.headers.emplace("Cache-Control", "no-cache");
  response.stream = EventStream::Start(hub.telemetry(), blocking, std::move(options));
  return response;
}

// Where a stream over `partitions` starts: after the Last-Event-ID events where named, else at
// `q`'s start. With a Last-Event-ID naming only some partitions (a browser keeps one id), the
// others start at the newest named event's enqueued time, inclusive: at least once, as near as
// the log allows.
Result<std::map<uint32_t, uint64_t>> StreamStarts(const core::TelemetryLog& log,
                                                  const std::vector<uint32_t>& partitions,
                                                  const std::map<uint32_t, uint64_t>& resume,
                                                  const StartQuery& q) {
  std::optional<Timestamp> resume_time;
  for (const auto& [p, after] : resume) {
    HUB_ASSIGN_OR_RETURN(std::vector<core::Message> last, log.Read(p, after - 1, 1));
    if (!last.empty() && last[0].sequence_number == after - 1 && last[0].enqueued_time) {
      resume_time = std::max(resume_time.value_or(Timestamp()), *last[0].enqueued_time);
    }
  }
  std::map<uint32_t, uint64_t> starts;
  for (uint32_t p : partitions) {
    if (auto it = resume.find(p); it != resume.end()) {
      starts[p] = it->second;
    } else if (resume_time) {
      HUB_ASSIGN_OR_RETURN(starts[p], log.ResolveStart(p, core::StartPosition::FromEnqueuedTime(
                                                              *resume_time, true)));
    } else {
      HUB_ASSIGN_OR_RETURN(starts[p], ResolveStart(log, p, q));
    }
  }
  return starts;
}

Response ListPartitions(core::Hub& hub, const Request& request) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  core::TelemetryLog& log = hub.telemetry();
  Json partitions = Json::array();
  for (uint32_t p = 0; p < log.partition_count(); ++p) {
    auto info = log.GetPartitionInfo(p);
    if (!info) return ErrorResponse(info.error());
    Json last = nullptr;
    if (info->last_enqueued_time) last = FormatIso8601(*info->last_enqueued_time);
    partitions.push_back({{"partition", p},
                          {"firstOffset", info->first_offset},
                          {"nextOffset", info->next_offset},
                          {"lastEnqueuedTimeUtc", last}});
  }
  return JsonResponse(
      200, Dump({{"partitionCount", log.partition_count()}, {"partitions", partitions}}));
}

Response ReadPartition(core::Hub& hub, Executor& blocking, const Request& request,
                       const RouteParams& params) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  core::TelemetryLog& log = hub.telemetry();
  auto partition = ParsePartition(log, params.Get("p"));
  if (!partition) return ErrorResponse(partition.error());
  std::string device(request.Query("deviceId").value_or(""));
  bool stream = WantsEventStream(request);
  auto q = ParseStartQuery(request, stream ? "end" : "start");
  if (!q) return ErrorResponse(q.error());

  if (stream) {
    auto resume = ParseLastEventId(log, request);
    if (!resume) return ErrorResponse(resume.error());
    if (!resume->empty() && !resume->contains(*partition)) {
      return ErrorResponse(
          BadArgument("Last-Event-ID names no event of partition " + std::to_string(*partition)));
    }
    std::map<uint32_t, uint64_t> only;
    if (!resume->empty()) only[*partition] = resume->at(*partition);
    auto starts = StreamStarts(log, {*partition}, only, *q);
    if (!starts) return ErrorResponse(starts.error());
    return StreamResponse(hub, blocking, {.start = *starts, .device_id = device});
  }

  size_t max = kDefaultMax;
  if (auto text = request.Query("max")) {
    std::optional<size_t> n = ParseNumber<size_t>(*text);
    if (!n || *n == 0 || *n > kMaxMax) return ErrorResponse(BadArgument("max must be 1..1000"));
    max = *n;
  }
  auto from = ResolveStart(log, *partition, *q);
  if (!from) return ErrorResponse(from.error());
  auto records = log.Read(*partition, *from, max, kMaxReadBytes);
  if (!records) return ErrorResponse(records.error());
  uint64_t next = *from;
  std::string events;
  for (const core::Message& m : *records) {
    next = m.sequence_number + 1;
    if (!device.empty() && m.connection_device_id != device) continue;
    events += (events.empty() ? "" : ",") + EventToJson(*partition, m);
    CountMessages(Traffic::kTelemetryOut);
  }
  return JsonResponse(200,
                      "{\"events\":[" + events + "],\"nextOffset\":" + std::to_string(next) + "}");
}

Response StreamAll(core::Hub& hub, Executor& blocking, const Request& request) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  core::TelemetryLog& log = hub.telemetry();
  std::string device(request.Query("deviceId").value_or(""));
  auto q = ParseStartQuery(request, "end");
  if (!q) return ErrorResponse(q.error());
  if (q->from != "start" && q->from != "end" && q->from != "checkpoint") {
    return ErrorResponse(
        BadArgument("an offset names one partition: use "
                    "/messages/events/partitions/{p}?from=<offset>"));
  }
  auto resume = ParseLastEventId(log, request);
  if (!resume) return ErrorResponse(resume.error());
  // One device's messages all land in its partition: follow only that one.
  std::vector<uint32_t> partitions;
  for (uint32_t p = 0; p < log.partition_count(); ++p) {
    if (device.empty() || log.PartitionOf(device) == p) partitions.push_back(p);
  }
  auto starts = StreamStarts(log, partitions, *resume, *q);
  if (!starts) return ErrorResponse(starts.error());
  return StreamResponse(hub, blocking, {.start = *starts, .device_id = device});
}

Response ListGroups(core::Hub& hub, const Request& request) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  return JsonResponse(200, Dump(hub.telemetry().ListConsumerGroups()));
}

Response CreateGroup(core::Hub& hub, const Request& request, const RouteParams& params) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  Status created = hub.telemetry().CreateConsumerGroup(params.Get("g"));
  return created.ok() ? EmptyResponse(201) : ErrorResponse(created);
}

Response DeleteGroup(core::Hub& hub, const Request& request, const RouteParams& params) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  Status deleted = hub.telemetry().DeleteConsumerGroup(params.Get("g"));
  return deleted.ok() ? EmptyResponse(204) : ErrorResponse(deleted);
}

Response GetCheckpoint(core::Hub& hub, const Request& request, const RouteParams& params) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  auto partition = ParsePartition(hub.telemetry(), params.Get("p"));
  if (!partition) return ErrorResponse(partition.error());
  auto checkpoint = hub.telemetry().GetCheckpoint(params.Get("g"), *partition);
  if (!checkpoint) return ErrorResponse(checkpoint.error());
  if (!checkpoint->has_value()) {
    return ErrorResponse(
        NotFound("no checkpoint for this group and partition", "CheckpointNotFound"));
  }
  return JsonResponse(200, Dump({{"offset", **checkpoint}}));
}

Response PutCheckpoint(core::Hub& hub, const Request& request, const RouteParams& params) {
  if (auto principal = Authorize(hub, request); !principal) return ErrorResponse(principal.error());
  auto partition = ParsePartition(hub.telemetry(), params.Get("p"));
  if (!partition) return ErrorResponse(partition.error());
  Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("offset") || !body["offset"].is_number_unsigned()) {
    return ErrorResponse(BadArgument("the body must be {\"offset\":<non-negative integer>}"));
  }
  Status set =
      hub.telemetry().SetCheckpoint(params.Get("g"), *partition, body["offset"].get<uint64_t>());
  return set.ok() ? EmptyResponse(204) : ErrorResponse(set);
}

}  // namespace

void AddTelemetryRoutes(Router& router, core::Hub& hub, Executor& blocking) {
  using P = const RouteParams&;
  router.Add("GET", "/messages/events",
             [&hub, &blocking](const Request& r, P) { return StreamAll(hub, blocking, r); });
  router.Add("GET", "/messages/events/partitions",
             [&hub](const Request& r, P) { return ListPartitions(hub, r); });
  router.Add("GET", "/messages/events/partitions/{p}", [&hub, &blocking](const Request& r, P p) {
    return ReadPartition(hub, blocking, r, p);
  });
  router.Add("GET", "/messages/events/consumerGroups",
             [&hub](const Request& r, P) { return ListGroups(hub, r); });
  router.Add("PUT", "/messages/events/consumerGroups/{g}",
             [&hub](const Request& r, P p) { return CreateGroup(hub, r, p); });
  router.Add("DELETE", "/messages/events/consumerGroups/{g}",
             [&hub](const Request& r, P p) { return DeleteGroup(hub, r, p); });
  router.Add("GET", "/messages/events/consumerGroups/{g}/partitions/{p}/checkpoint",
             [&hub](const Request& r, P p) { return GetCheckpoint(hub, r, p); });
  router.Add("PUT", "/messages/events/consumerGroups/{g}/partitions/{p}/checkpoint",
             [&hub](const Request& r, P p) { return PutCheckpoint(hub, r, p); });
}

}  // namespace iothub::http
