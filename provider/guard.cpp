#include <openssl/err.h>

#include <exception>
#include <new>

#include "provider/dispatch.hpp"

namespace vhsm::provider {

void raiseEscapedException() noexcept {
  // The provider's own reason codes belong to a provider instance's handle; this is raised
  // where none may be at hand, so it uses libcrypto's generic provider reasons.
  try {
    throw;
  } catch (const std::bad_alloc&) {
    ERR_raise_data(ERR_LIB_PROV, ERR_R_MALLOC_FAILURE, "vhsm: out of memory");
  } catch (const std::exception& e) {
    ERR_raise_data(ERR_LIB_PROV, ERR_R_INTERNAL_ERROR, "vhsm: %s", e.what());
  } catch (...) {
    ERR_raise_data(ERR_LIB_PROV, ERR_R_INTERNAL_ERROR, "vhsm: unexpected exception");
  }
}

}  // namespace vhsm::provider
