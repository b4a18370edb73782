// Levelled logging to stderr. Callers pass only names, ids and error codes: never key
// material, passwords or secrets (there is no API here that takes bytes).
#pragma once

#include <string>
#include <string_view>

namespace vhsm::keyd {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

void setLogLevel(LogLevel level);
bool parseLogLevel(std::string_view text, LogLevel& out);
bool logEnabled(LogLevel level);
void logLine(LogLevel level, std::string_view message);

inline void logError(std::string_view m) {
  logLine(LogLevel::error, m);
}
inline void logWarn(std::string_view m) {
  logLine(LogLevel::warn, m);
}
inline void logInfo(std::string_view m) {
  logLine(LogLevel::info, m);
}
inline void logDebug(std::string_view m) {
  if (logEnabled(LogLevel::debug)) logLine(LogLevel::debug, m);
}

}  // namespace vhsm::keyd
