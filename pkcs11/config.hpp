// The module's configuration, like the provider's: a file named by VHSM_PKCS11_CONF
// ("key = value" lines: socket, transport, users, password-file, timeout-ms), then the
// environment (VHSM_SOCKET, VHSM_TRANSPORT, VHSM_USER, VHSM_PASSWORD_FILE, VHSM_PASSWORD).
#pragma once

#include <string>
#include <vector>

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

struct Config {
  ClientOptions client;
  // One slot and token each, in this order; none: the users keyd has bound to the container.
  std::vector<std::string> users;
  // A password given here logs the tokens in without C_Login (as an unlock does); without one,
  // a token logs in through an unlock if there is one, else waits for C_Login.
  std::string password;
};

// Throws std::runtime_error naming what is wrong (C_Initialize answers CKR_GENERAL_ERROR).
Config loadConfig();

}  // namespace vhsm::pkcs11
