#include "bench/mqtt_load_support.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace iothub::bench {
namespace {

// JSON string escaping for the few strings the report carries (ids, error texts).
std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

Result<std::vector<DeviceEntry>> ReadDevices(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read " + path);
  std::vector<DeviceEntry> devices;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    DeviceEntry entry;
    if (!(fields >> entry.id) || entry.id[0] == '#') continue;
    fields >> entry.key;
    devices.push_back(std::move(entry));
  }
  if (devices.empty()) return InvalidArgument(path + " names no device");
  return devices;
}

int64_t RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // Fields 3.. follow; utime and stime are fields 14 and 15 (1-based), in clock ticks.
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void Latencies::Merge(const Latencies& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

double Latencies::PercentileMs(double p) {
  if (samples_.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples_.size())));
  size_t index = std::min(samples_.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(samples_.begin(), samples_.begin() + static_cast<ptrdiff_t>(index),
                   samples_.end());
  return samples_[index] / 1000.0;
}

void JsonLine::Name(const std::string& name) {
  if (!body_.empty()) body_ += ',';
  body_ += Quoted(name) + ':';
}

void JsonLine::Add(const std::string& name, double value) {
  Name(name);
  if (!std::isfinite(value)) {
    body_ += "null";
    return;
  }
  std::ostringstream out;
  out.precision(6);
  out << value;
  body_ += out.str();
}

void JsonLine::Add(const std::string& name, int64_t value) {
  Name(name);
  body_ += std::to_string(value);
}

void JsonLine::Add(const std::string& name, const std::string& value) {
  Name(name);
  body_ += Quoted(value);
}

}  // namespace iothub::bench
