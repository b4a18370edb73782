// Key references: the text "vhsm:<id>" (SPEC §6) where an application puts key bytes —
// possibly zero-padded to a cipher's key length — or in the parameter "vhsm-key-uri".
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace vhsm::provider {

inline constexpr const char* kKeyUriParam = "vhsm-key-uri";

enum class KeyRef { notVhsm, valid, invalid };

// Whether bytes start like a key reference: anything else is an ordinary key.
inline bool hasKeyRefPrefix(const unsigned char* bytes, size_t length) {
  return bytes && length >= 5 && bytes[0] == 'v' && bytes[1] == 'h' && bytes[2] == 's' &&
         bytes[3] == 'm' && bytes[4] == ':';
}

// notVhsm: ordinary key bytes (computed in-process). invalid: starts with "vhsm:" but names no
// valid id (1-64 of A-Za-z0-9._-, then only zero bytes) — refused, never used as a raw key.
KeyRef parseKeyRef(const unsigned char* bytes, size_t length, std::string& id);

}  // namespace vhsm::provider
