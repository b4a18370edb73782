// Memory for secrets: page-locked (never swapped) and wiped before it is freed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vhsm::keyd {

void* allocateLocked(size_t bytes);
void freeLocked(void* p, size_t bytes);
void wipe(void* p, size_t bytes);

template <typename T>
struct LockedAllocator {
  using value_type = T;
  LockedAllocator() = default;
  template <typename U>
  LockedAllocator(const LockedAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(allocateLocked(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { freeLocked(p, n * sizeof(T)); }
  bool operator==(const LockedAllocator&) const { return true; }
};

// Key material, user secrets, derived keys and passwords while keyd holds them.
using SecretBytes = std::vector<uint8_t, LockedAllocator<uint8_t>>;

inline SecretBytes secretFrom(std::span<const uint8_t> bytes) {
  return SecretBytes(bytes.begin(), bytes.end());
}

// Makes the process non-dumpable (no core files, no ptrace by peers with the same uid) and,
// given CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK, locks all of its memory (else warns).
// Call before any other thread starts.
void hardenProcess();

}  // namespace vhsm::keyd
