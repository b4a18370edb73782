// Container identity as the protocol defines it: a network namespace named by its inode
// (what `stat -L /proc/PID/ns/net` shows) and its net cookie. Inodes are reused as soon as a
// namespace dies; cookies never repeat within a boot, so the pair cannot name a newer
// namespace by accident. Shared by keyd (peers) and vhsm-admin (container add).
#pragma once

#include <cstdint>
#include <string>

namespace vhsm::proto {

struct NetnsIdentity {
  uint64_t inode = 0;
  uint64_t cookie = 0;  // 0 when it could not be read (needs CAP_SYS_ADMIN)
  bool operator==(const NetnsIdentity&) const = default;
};

// Identity of the network namespace file at path (/proc/PID/ns/net, /run/netns/NAME).
// Throws std::system_error when it cannot be opened or is not a network namespace.
NetnsIdentity netnsIdentity(const std::string& path);
// The same for a namespace file already open (name is for the error message).
NetnsIdentity netnsIdentity(int nsFd, const std::string& name);

// Whether a stored identity names the observed one: inode and cookie both. A cookie of 0 (one
// that could not be read) matches nothing, so an inode alone never names a namespace: the
// kernel hands a dead namespace's inode to the next one made.
bool sameNamespace(const NetnsIdentity& stored, const NetnsIdentity& observed);

}  // namespace vhsm::proto
