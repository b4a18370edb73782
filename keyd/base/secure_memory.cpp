#include "keyd/base/secure_memory.hpp"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include "keyd/base/log.hpp"

namespace vhsm::keyd {
namespace {

constexpr size_t kPage = 4096;

// Set once by lockAllMemory, before any worker starts.
bool wholeProcessLocked = false;

size_t pagesFor(size_t bytes) {
  return (bytes + kPage - 1) / kPage * kPage;
}

bool hasIpcLockCapability() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> CAP_IPC_LOCK) & 1;
  return false;
}

// Locking everything is safe only without a limit: under one, every later mapping (a thread's
// stack, a malloc arena, the store's map) counts whole against it and fails once it is reached.
bool mayLockWithoutLimit() {
  rlimit limit{};
  return hasIpcLockCapability() ||
         (getrlimit(RLIMIT_MEMLOCK, &limit) == 0 && limit.rlim_cur == RLIM_INFINITY);
}

// The secrets themselves have locked pages of their own (allocateLocked), but what keyd builds
// from them — a keyed HMAC's pads, an AES key schedule, a parsed private key — lives in
// Crypto++'s and OpenSSL's allocations, which only locking the whole process keeps from swap.
// MCL_ONFAULT locks pages as they are first used, so reservations cost nothing until touched.
void lockAllMemory() {
  if (!mayLockWithoutLimit()) {
    logWarn(
        "keyd lacks CAP_IPC_LOCK and an unlimited RLIMIT_MEMLOCK: keys are locked in memory, "
        "but the HMAC, AES and private-key state made from them may be swapped out");
    return;
  }
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
    logWarn(std::string("cannot lock keyd's memory (mlockall: ") + std::strerror(errno) +
            "): the HMAC, AES and private-key state made from keys may be swapped out");
    return;
  }
  wholeProcessLocked = true;
}

}  // namespace

// Each secret gets pages of its own: mlock does not nest, so two secrets sharing a page would
// unlock each other when one is freed. In a wholly locked process no page is locked or
// unlocked alone: munlock would leave a page that later holds key state unlocked.
void* allocateLocked(size_t bytes) {
  size_t size = pagesFor(bytes ? bytes : 1);
  void* p = std::aligned_alloc(kPage, size);
  if (!p) throw std::bad_alloc();
  if (!wholeProcessLocked && mlock(p, size) != 0) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      logWarn("mlock failed (RLIMIT_MEMLOCK too low?): secrets may be swapped");
  }
  madvise(p, size, MADV_DONTDUMP);
  return p;
}

void freeLocked(void* p, size_t bytes) {
  if (!p) return;
  size_t size = pagesFor(bytes ? bytes : 1);
  wipe(p, size);
  if (!wholeProcessLocked) munlock(p, size);
  std::free(p);
}

void wipe(void* p, size_t bytes) {
  // glibc's explicit_bzero: memset's speed, and never dropped as a dead store.
  explicit_bzero(p, bytes);
}

void hardenProcess() {
  if (prctl(PR_SET_DUMPABLE, 0) != 0) logWarn("cannot make keyd non-dumpable");
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  lockAllMemory();
}

}  // namespace vhsm::keyd
