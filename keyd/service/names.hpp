// Names of users, containers and keys: 1–64 of A-Za-z0-9._- (docs/provider.md), so they can never
// carry a separator, a path or a control character into the store or a log line.
#pragma once

#include <string>
#include <string_view>

#include "keyd/service/refusal.hpp"

namespace vhsm::keyd {

inline bool isValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

// Client text for a log line or an audit record: a valid name as it is, anything else cut to
// 64 printable characters and its length, so that no client can make a record large (a 400 KB
// "user name" once grew the store by 8 MB and broke `audit list`) or smuggle control bytes.
inline std::string loggableName(std::string_view text) {
  if (isValidName(text)) return std::string(text);
  std::string out;
  for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + "...(" + std::to_string(text.size()) + " bytes)";
}

inline std::string requireName(std::string_view kind, std::string_view name) {
  if (!isValidName(name))
    throw Refusal(proto::ErrorCode::INVALID_ARGUMENT,
                  std::string(kind) + " name must be 1-64 characters of A-Za-z0-9._-");
  return std::string(name);
}

}  // namespace vhsm::keyd
