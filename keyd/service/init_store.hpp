// `vhsm-keyd --init`: a new store with its security officer "root" (every flag, bound to the
// host). vhsm-admin init runs this, so that only keyd ever writes the store.
#pragma once

#include <filesystem>
#include <span>

#include "store/store.hpp"

namespace vhsm::keyd {

// Into a store just created (of either kind).
void initStore(store::Store& store, std::span<const uint8_t> rootPassword, uint32_t kdfIterations);
// Creates an LMDB store in dir first.
void initStore(const std::filesystem::path& dir, std::span<const uint8_t> rootPassword,
               uint32_t kdfIterations);

}  // namespace vhsm::keyd
