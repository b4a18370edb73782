// An attribute's value as C_GetAttributeValue hands it out: a fixed-size value (CK_ULONG,
// CK_OBJECT_CLASS, ...) as its bytes, a boolean as one CK_BBOOL.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <cstring>

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

template <typename T>
Bytes bytesOf(T value) {
  Bytes out(sizeof value);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

inline Bytes boolean(bool value) {
  return {uint8_t(value ? CK_TRUE : CK_FALSE)};
}

}  // namespace vhsm::pkcs11
