// The attributes of a CKO_CERTIFICATE object: keyd keeps an X.509 certificate beside a key
// pair (ssh, NSS and Java look for one next to a private key), read here from its DER.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <functional>
#include <optional>

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

// The value of a certificate attribute other than those every object has (class, token, id,
// label, ...); nullopt for one a certificate does not have. der is fetched only for the
// attributes read from it.
std::optional<Bytes> certificateAttribute(CK_ATTRIBUTE_TYPE type,
                                          const std::function<const Bytes&()>& der);

}  // namespace vhsm::pkcs11
