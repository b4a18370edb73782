#include "secure_memory.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "log.hpp"

namespace vhsm::keyd {
namespace {

constexpr size_t kPage = 4096;

size_t pagesFor(size_t bytes) {
  return (bytes + kPage - 1) / kPage * kPage;
}

}  // namespace

// Each secret gets pages of its own: mlock does not nest, so two secrets sharing a page would
// unlock each other when one is freed.
void* allocateLocked(size_t bytes) {
  size_t size = pagesFor(bytes ? bytes : 1);
  void* p = std::aligned_alloc(kPage, size);
  if (!p) throw std::bad_alloc();
  if (mlock(p, size) != 0) {
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
  munlock(p, size);
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
}

}  // namespace vhsm::keyd
