#include "keyd/base/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace vhsm::keyd {
namespace {

std::atomic<int> currentLevel{int(LogLevel::info)};
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

}  // namespace

void setLogLevel(LogLevel level) {
  currentLevel = int(level);
}

bool parseLogLevel(std::string_view text, LogLevel& out) {
  for (int i = 0; i < 4; ++i)
    if (text == kNames[i]) {
      out = LogLevel(i);
      return true;
    }
  return false;
}

bool logEnabled(LogLevel level) {
  return int(level) <= currentLevel;
}

void logLine(LogLevel level, std::string_view message) {
  if (!logEnabled(level)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  struct tm tm;
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = std::string(stamp) + "." + std::to_string(1000 + ms.count()).substr(1) +
                     "Z vhsm-keyd " + kNames[int(level)] + ": ";
  line.append(message);
  line.push_back('\n');
  // One write per line so lines from concurrent workers never interleave.
  [[maybe_unused]] auto n = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace vhsm::keyd
