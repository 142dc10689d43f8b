#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

// The parts of bench/mqtt_load.cc that need no Asio: the device list it reads, readings of the
// broker's /proc entries, latency percentiles and the one-line JSON report. Everything here is
// plain data or blocking file I/O on the caller's thread.
namespace iothub::bench {

// One client identity: the MQTT client id and, for iothub, the device's primary key (base64).
// An empty key means an anonymous client (Mosquitto).
struct DeviceEntry {
  std::string id;
  std::string key;
};

// Reads `path`: one device a line, "<id>" or "<id> <key>"; blank lines and lines starting with
// '#' are skipped. InvalidArgument when the file cannot be read or holds no device.
Result<std::vector<DeviceEntry>> ReadDevices(const std::string& path);

// The resident set size of process `pid` in KiB (VmRSS in /proc/<pid>/status), or -1 when it
// cannot be read (no such process). Any thread.
int64_t RssKib(pid_t pid);

// The CPU time (user + system) process `pid` has used so far, in seconds, from /proc/<pid>/stat,
// or -1 when it cannot be read. Any thread.
double CpuSeconds(pid_t pid);

// Latency samples in microseconds. Not thread-safe: one per event-loop thread, merged at the end.
class Latencies {
 public:
  void Add(uint32_t micros) { samples_.push_back(micros); }
  void Merge(const Latencies& other);
  size_t count() const { return samples_.size(); }
  // The p-th percentile (0 < p <= 100, nearest rank) in milliseconds; 0 when there is no sample.
  // Reorders the samples (nth_element).
  double PercentileMs(double p);

 private:
  std::vector<uint32_t> samples_;
};

// A flat JSON object written one field at a time (numbers and strings only): the generator's
// report, read by bench/mqtt_bench.py.
class JsonLine {
 public:
  void Add(const std::string& name, double value);
  void Add(const std::string& name, int64_t value);
  void Add(const std::string& name, const std::string& value);
  // "{...}" without a newline.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Name(const std::string& name);
  std::string body_;
};

}  // namespace iothub::bench
