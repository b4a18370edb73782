// Records as bytes: the Cap'n Proto encoding (records.capnp) every store keeps and a backup
// carries, so an LMDB value, an etcd value and a backup entry of one record are the same bytes.
// decode* throw StoreError on bytes that are not a record of that kind.
#pragma once

#include <string>
#include <string_view>

#include "store/store.hpp"

namespace vhsm::store {

std::string encodeUser(const User& user);
std::string encodeContainer(const Container& container);
std::string encodeKey(const Key& key);
std::string encodeAudit(const AuditEntry& entry);

User decodeUser(std::string_view bytes);
Container decodeContainer(std::string_view bytes);
Key decodeKey(std::string_view bytes);
AuditEntry decodeAudit(std::string_view bytes);

}  // namespace vhsm::store
