// User flags (docs/security-model.md) as stored bits, and their protocol and text forms.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

inline constexpr uint32_t kFlagRead = 1;
inline constexpr uint32_t kFlagCreate = 2;
inline constexpr uint32_t kFlagModify = 4;
inline constexpr uint32_t kFlagDelete = 8;
inline constexpr uint32_t kFlagCreateExtended = 16;

inline uint32_t flagBits(proto::UserFlags::Reader f) {
  return (f.getRead() ? kFlagRead : 0) | (f.getCreate() ? kFlagCreate : 0) |
         (f.getModify() ? kFlagModify : 0) | (f.getDelete() ? kFlagDelete : 0) |
         (f.getCreateExtended() ? kFlagCreateExtended : 0);
}

inline void setFlags(proto::UserFlags::Builder f, uint32_t bits) {
  f.setRead(bits & kFlagRead);
  f.setCreate(bits & kFlagCreate);
  f.setModify(bits & kFlagModify);
  f.setDelete(bits & kFlagDelete);
  f.setCreateExtended(bits & kFlagCreateExtended);
}

inline std::string flagName(uint32_t flag) {
  switch (flag) {
    case kFlagRead: return "read";
    case kFlagCreate: return "create";
    case kFlagModify: return "modify";
    case kFlagDelete: return "delete";
    case kFlagCreateExtended: return "create_extended";
  }
  return "?";
}

}  // namespace vhsm::keyd
