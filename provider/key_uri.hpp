// Key references: the text "vhsm:<id>" (docs/provider.md) where an application puts key bytes —
// possibly zero-padded to a cipher's key length — or in the parameter "vhsm-key-uri".
#pragma once

#include <openssl/core.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace vhsm::provider {

inline constexpr const char* kKeyUriParam = "vhsm-key-uri";

enum class KeyRef { notVhsm, valid, invalid };

inline constexpr size_t kKeyRefPrefixLength = 5;  // "vhsm:"

// Whether bytes start like a key reference: anything else is an ordinary key.
inline bool hasKeyRefPrefix(const unsigned char* bytes, size_t length) {
  return bytes && length >= kKeyRefPrefixLength &&
         std::memcmp(bytes, "vhsm:", kKeyRefPrefixLength) == 0;
}

// The text of a UTF-8 string parameter (vhsm-key-uri), bounded by the parameter's size:
// OpenSSL does not promise a NUL within it. nullopt for a parameter of another type.
inline std::optional<std::string_view> utf8Param(const OSSL_PARAM* p) {
  if (!p || !p->data) return std::nullopt;
  if (p->data_type == OSSL_PARAM_UTF8_STRING) {
    auto* text = static_cast<const char*>(p->data);
    return std::string_view(text, strnlen(text, p->data_size));
  }
  if (p->data_type != OSSL_PARAM_UTF8_PTR) return std::nullopt;
  const char* text = *static_cast<const char* const*>(p->data);
  if (!text) return std::nullopt;
  return std::string_view(text);
}

// notVhsm: ordinary key bytes (computed in-process). invalid: starts with "vhsm:" but names no
// valid id (1-64 of A-Za-z0-9._-, then only zero bytes) — refused, never used as a raw key.
KeyRef parseKeyRef(const unsigned char* bytes, size_t length, std::string& id);

}  // namespace vhsm::provider
