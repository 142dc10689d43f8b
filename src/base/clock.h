#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace iothub {

// Wall-clock time with millisecond precision. Everything that expires (locks, TTLs, tokens,
// retention) is expressed in it, so a FakeClock drives every timer in tests.
using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;
using Duration = std::chrono::milliseconds;

inline int64_t ToUnixMillis(Timestamp t) { return t.time_since_epoch().count(); }
inline Timestamp FromUnixMillis(int64_t ms) { return Timestamp(Duration(ms)); }

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
  // A process-wide instance.
  static SystemClock& Instance();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = FromUnixMillis(1'700'000'000'000))
      : now_ms_(ToUnixMillis(start)) {}
  Timestamp Now() const override { return FromUnixMillis(now_ms_.load()); }
  void Advance(Duration d) { now_ms_ += d.count(); }
  void Set(Timestamp t) { now_ms_ = ToUnixMillis(t); }

 private:
  std::atomic<int64_t> now_ms_;
};

// ISO 8601 UTC with 7 fractional digits, as IoT Hub prints times: 2024-05-01T10:00:00.1230000Z.
std::string FormatIso8601(Timestamp t);
// Parses ISO 8601 UTC ("Z" or "+00:00"), with or without fractional seconds. False when malformed.
bool ParseIso8601(std::string_view text, Timestamp* out);

}  // namespace iothub
