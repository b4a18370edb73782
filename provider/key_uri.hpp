// Key references: the text "vhsm:<id>" (docs/provider.md) where an application puts key bytes —
// possibly zero-padded to a cipher's key length — or in the parameter "vhsm-key-uri".
#pragma once

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace vhsm::provider {

inline constexpr const char* kKeyUriParam = "vhsm-key-uri";

enum class KeyRef { notVhsm, valid, invalid };

inline constexpr size_t kKeyRefPrefixLength = 5;  // "vhsm:"

// Whether bytes start like a key reference: anything else is an ordinary key.
inline bool hasKeyRefPrefix(const unsigned char* bytes, size_t length) {
  return bytes && length >= kKeyRefPrefixLength &&
         std::memcmp(bytes, "vhsm:", kKeyRefPrefixLength) == 0;
}

// notVhsm: ordinary key bytes (computed in-process). invalid: starts with "vhsm:" but names no
// valid id (1-64 of A-Za-z0-9._-, then only zero bytes) — refused, never used as a raw key.
KeyRef parseKeyRef(const unsigned char* bytes, size_t length, std::string& id);

}  // namespace vhsm::provider
