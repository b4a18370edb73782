// Container identity as the protocol defines it: a network namespace named by its inode and
// its net cookie (the type is the installed API's, vhsm/types.hpp). Shared by keyd (peers) and
// vhsm-admin (container add).
#pragma once

#include <string>

#include <vhsm/types.hpp>

namespace vhsm::proto {

using NetnsIdentity = vhsm::NetnsIdentity;

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
