// Key references: the text "vhsm:<id>" (SPEC §6) where an application puts key bytes —
// possibly zero-padded to a cipher's key length — or in the parameter "vhsm-key-uri".
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace vhsm::provider {

inline constexpr const char* kKeyUriParam = "vhsm-key-uri";

enum class KeyRef { notVhsm, valid, invalid };

// notVhsm: ordinary key bytes (computed in-process). invalid: starts with "vhsm:" but names no
// valid id (1-64 of A-Za-z0-9._-, then only zero bytes) — refused, never used as a raw key.
KeyRef parseKeyRef(const unsigned char* bytes, size_t length, std::string& id);

}  // namespace vhsm::provider
