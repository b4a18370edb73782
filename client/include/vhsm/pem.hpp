// PEM (RFC 7468) text for what vhsm hands out: public keys, and the "key URI" file that
// names a key held by keyd, for programs that only read key files (nginx, Python's ssl).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <vhsm/client.hpp>

namespace vhsm {

inline constexpr const char* kKeyUriPemLabel = "VHSM KEY URI";

std::string pemEncode(std::string_view label, ByteView der);
// The body of the first block with this label in text; nullopt if there is none or it is
// not valid base64.
std::optional<Bytes> pemDecode(std::string_view text, std::string_view label);

// A PEM file holding the reference "vhsm:<id>" — no key material at all.
std::string keyUriPem(const std::string& keyId);
// The reference a key URI file names ("vhsm:<id>"), or nullopt if text is not one.
std::optional<std::string> keyUriFromPem(std::string_view text);

}  // namespace vhsm
