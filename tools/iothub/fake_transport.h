#pragma once

// For tests only (included by *_test.cc): a scripted Transport and a harness that runs CLI
// commands against it.

#include <deque>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "base/clock.h"
#include "tools/iothub/args.h"
#include "tools/iothub/commands.h"
#include "tools/iothub/transport.h"

namespace iothub::cli {

inline constexpr char kTestHost[] = "hub.example.test";
inline constexpr char kTestKey[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

inline HttpResponse Reply(int status, std::string body = {}, HeaderList headers = {}) {
  return HttpResponse{.status = status, .headers = std::move(headers), .body = std::move(body)};
}

// The Azure error body iothub answers with.
inline HttpResponse ErrorReply(int status, const std::string& code, const std::string& text) {
  return Reply(status, R"({"Message":"ErrorCode:)" + code + ";" + text +
                           R"(","ExceptionMessage":")" + text + R"("})");
}

// One scripted streamed answer: the head, then the chunks, then how the stream ends (when the
// handler has not stopped it before).
struct ScriptedStream {
  HttpResponse head;
  std::vector<std::string> chunks;
  Status end = Unavailable("the hub ended the event stream", kConnectionError);
};

// Answers Send with `on_send` (or the queued `replies`, in order) and Stream with the queued
// `streams`; records every request.
class FakeTransport final : public Transport {
 public:
  Result<HttpResponse> Send(const HttpRequest& request) override {
    requests.push_back(request);
    if (on_send) return on_send(request);
    if (replies.empty()) return Unavailable("no scripted reply", kConnectionError);
    Result<HttpResponse> reply = replies.front();
    replies.pop_front();
    return reply;
  }

  Status Stream(const HttpRequest& request, StreamHandler& handler) override {
    requests.push_back(request);
    if (streams.empty()) return Unavailable("no scripted stream", kConnectionError);
    ScriptedStream script = streams.front();
    streams.pop_front();
    if (!handler.OnHead(script.head)) return Status::Ok();
    for (const std::string& chunk : script.chunks) {
      if (handler.ShouldStop() || !handler.OnData(chunk)) return Status::Ok();
    }
    return script.end;
  }

  std::function<Result<HttpResponse>(const HttpRequest&)> on_send;
  std::deque<Result<HttpResponse>> replies;
  std::deque<ScriptedStream> streams;
  std::vector<HttpRequest> requests;
};

// The method and path (without the query) of a request: "GET /devices/d1".
inline std::string Line(const HttpRequest& request) {
  return request.method + " " + request.target.substr(0, request.target.find('?'));
}

inline std::string HeaderOf(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return {};
}

// Runs `iothub <args>` against a FakeTransport with a FakeClock; sleeping advances the clock.
class CommandHarness {
 public:
  CommandHarness()
      : client_(transport,
                {.host_name = kTestHost,
                 .shared_access_key_name = "iothubowner",
                 .shared_access_key = kTestKey},
                clock) {}

  int Run(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"iothub"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto inv = ParseArguments(static_cast<int>(argv.size()), argv.data());
    if (!inv) {
      err << inv.error().message();
      return kExitUsage;
    }
    Context ctx{.client = client_,
                .out = out,
                .err = err,
                .clock = clock,
                .sleep =
                    [this](Duration d) {
                      clock.Advance(d);
                      ++sleeps;
                      return !interrupted;
                    },
                .interrupted = [this] { return interrupted; },
                .shield = [](bool) {}};
    return RunCommand(*inv, ctx);
  }

  FakeClock clock;
  FakeTransport transport;
  std::ostringstream out;
  std::ostringstream err;
  bool interrupted = false;
  int sleeps = 0;

 private:
  ServiceClient client_;
};

}  // namespace iothub::cli
