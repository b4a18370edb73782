// Fuzz target: the provider's key reference parsing (key bytes and vhsm-key-uri) and the key
// URI PEM reader (PEM framing, base64), as OpenSSL hands them attacker-chosen input.
#include <cstddef>
#include <cstdint>
#include <string>

#include <vhsm/pem.hpp>
#include "provider/key_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string id;
  auto kind = vhsm::provider::parseKeyRef(data, size, id);
  if (kind == vhsm::provider::KeyRef::valid && (id.empty() || id.size() > 64)) __builtin_trap();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto uri = vhsm::keyUriFromPem(text)) {
    vhsm::provider::parseKeyRef(reinterpret_cast<const unsigned char*>(uri->data()), uri->size(),
                                id);
    // What the reader accepts, the writer must produce again.
    if (vhsm::provider::parseKeyRef(reinterpret_cast<const unsigned char*>(uri->data()),
                                    uri->size(), id) == vhsm::provider::KeyRef::valid &&
        vhsm::keyUriFromPem(vhsm::keyUriPem(id)) != "vhsm:" + id)
      __builtin_trap();
  }
  return 0;
}
