#include "provider/key_uri.hpp"

namespace vhsm::provider {

KeyRef parseKeyRef(const unsigned char* bytes, size_t length, std::string& id) {
  if (!hasKeyRefPrefix(bytes, length)) return KeyRef::notVhsm;
  size_t end = kKeyRefPrefixLength;
  while (end < length && bytes[end] != 0) ++end;
  for (size_t i = end; i < length; ++i)
    if (bytes[i] != 0) return KeyRef::invalid;  // padding must be zeros only
  id.assign(reinterpret_cast<const char*>(bytes) + kKeyRefPrefixLength, end - kKeyRefPrefixLength);
  if (id.empty() || id.size() > 64) return KeyRef::invalid;
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return KeyRef::invalid;
  return KeyRef::valid;
}

}  // namespace vhsm::provider
