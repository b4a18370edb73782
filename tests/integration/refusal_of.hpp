// The error code a call is refused with (OK when it succeeds).
#pragma once

#include <functional>

#include <vhsm/client.hpp>

namespace vhsm::test {

inline ErrorCode refusalOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::refused) return e.code();
    throw;
  }
  return ErrorCode::OK;
}

}  // namespace vhsm::test
