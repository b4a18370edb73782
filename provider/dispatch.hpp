// Dispatch table entries that the compiler checks, each behind one exit.
//
// The function must have exactly the type OpenSSL declares for the entry's id
// (OSSL_FUNC_<name>_fn), so a wrong signature does not compile instead of reading one argument
// as another at run time. And the table holds not the function itself but Guard<fn>::call,
// which returns failure with an error on OpenSSL's queue for any exception the function lets
// out (std::bad_alloc above all): nothing unwinds into libcrypto's C frames. The functions
// still catch the client's Error themselves, to raise the precise reason.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include <type_traits>

namespace vhsm::provider {

// Raises the current exception as an OpenSSL error (ERR_LIB_PROV: "malloc failure" for
// std::bad_alloc, "internal error" with its text for anything else). Call from a catch block.
void raiseEscapedException() noexcept;

template <auto fn>
struct Guard;

template <typename R, typename... Args, R (*fn)(Args...)>
struct Guard<fn> {
  static R call(Args... args) noexcept {
    try {
      return fn(args...);
    } catch (...) {
      raiseEscapedException();
      if constexpr (!std::is_void_v<R>) return R{};  // 0 or null: every entry's failure
    }
  }
};

}  // namespace vhsm::provider

// VHSM_DISPATCH(CIPHER_NEWCTX, cipher_newctx, gcmNew): OpenSSL's id and its lower-case name.
#define VHSM_DISPATCH(ID, name, fn)                                                               \
  OSSL_DISPATCH {                                                                                 \
    OSSL_FUNC_##ID, reinterpret_cast<void (*)()>(                                                 \
                        static_cast<OSSL_FUNC_##name##_fn*>(&::vhsm::provider::Guard<&fn>::call)) \
  }
