// What a key may be used for, and the names used for types and usages in replies and errors.
#pragma once

#include <cstdint>

#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

const char* typeName(proto::KeyType type);
const char* usageName(proto::KeyUsage usage);
uint32_t usageBit(proto::KeyUsage usage);
// A key's usage follows from its type alone (see key_usage.cpp).
uint32_t usageBitsOf(proto::KeyType type);
proto::KeyUsage usageFromBits(uint32_t bits);

}  // namespace vhsm::keyd
