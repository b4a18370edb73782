// keyd's only OpenSSL: the default provider in a library context of its own. No configuration
// file is read into it, so a system-wide openssl.cnf naming vhsm can never load vhsm into keyd.
#pragma once

#include <openssl/types.h>

namespace vhsm::keyd {

OSSL_LIB_CTX* opensslContext();

}  // namespace vhsm::keyd
