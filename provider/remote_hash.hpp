// The keyd side of a digest or HMAC context, shared by digest.cpp and hmac.cpp: feed a
// HashStream, and finish it into OpenSSL's output buffer, turning failures into errors on the
// queue.
#pragma once

#include <cstring>
#include <optional>

#include "provider/provider_ctx.hpp"

namespace vhsm::provider {

inline int updateRemote(ProviderContext* provider, HashStream& stream, const unsigned char* data,
                        size_t length) {
  try {
    stream.update({data, length});
    return 1;
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(provider, e);
    return 0;
  }
}

// Ends the stream whatever happens: a context is final once.
inline int finalRemote(ProviderContext* provider, std::optional<HashStream>& stream,
                       unsigned char* out, size_t* outLength, size_t outSize) {
  try {
    Bytes value = stream->final();
    stream.reset();
    if (value.size() > outSize) {
      VHSM_RAISE(provider, kInvalidParameter, "output buffer too small");
      return 0;
    }
    std::memcpy(out, value.data(), value.size());
    *outLength = value.size();
    return 1;
  } catch (const Error& e) {
    stream.reset();
    VHSM_RAISE_ERROR(provider, e);
    return 0;
  }
}

}  // namespace vhsm::provider
