// Every PKCS#11 entry point returns a CK_RV and lets nothing unwind into its C caller: the
// entry wraps its body in guarded(), which maps vhsm's errors to the spec's return values.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

// What a keyd error means to a PKCS#11 caller.
CK_RV rvOf(const Error& e);

// Thrown inside an entry point to return a specific value.
struct Failure {
  CK_RV rv;
};

template <typename F>
CK_RV guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const Failure& f) {
    return f.rv;
  } catch (const Error& e) {
    return rvOf(e);
  } catch (const std::bad_alloc&) {
    return CKR_HOST_MEMORY;
  } catch (...) {
    return CKR_GENERAL_ERROR;
  }
}

}  // namespace vhsm::pkcs11
