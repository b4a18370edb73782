// A keyd with a key user "alice", an openssl.cnf that loads vhsm.so for her, and an OpenSSL
// library context made from that file — what an unmodified application gets.
#pragma once

#include <openssl/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/keyd_process.hpp"

namespace vhsm::test {

struct ProviderOptions {
  bool globalPreference = true;  // default_properties = ?provider=vhsm
  bool propertiesFirst = false;  // alg_section listed before providers (processed first)
  bool withPassword = true;      // password-file in the section (else: rely on unlock)
  std::string extraSectionLines;
  std::vector<std::string> keydArgs;  // e.g. --socket-group for clients that are not root
};

class ProviderEnv {
 public:
  static constexpr const char* kPassword = "alice-password";

  explicit ProviderEnv(ProviderOptions options = {});
  ~ProviderEnv();

  Keyd& keyd() { return keyd_; }
  Client& alice() { return *alice_; }
  const std::string& config() const { return config_; }
  // The password file the configs name (alice's password).
  std::filesystem::path passwordFile() const { return dir_.path() / "password"; }
  // A fresh library context loaded from config().
  OSSL_LIB_CTX* libctx();
  // Writes another config file (e.g. a different user or socket) and returns its path.
  std::string writeConfig(const ProviderOptions& options, const std::string& socket,
                          const std::string& user = "alice") const;

 private:
  Keyd keyd_;
  TempDir dir_;
  std::unique_ptr<Client> alice_;
  std::string config_;
  OSSL_LIB_CTX* libctx_ = nullptr;
};

std::string providerModule();
std::string opensslBinary();

// Environment for a process (openssl, nginx, python) that loads vhsm.so through config.
std::vector<std::string> providerProcessEnv(const std::string& config);
// The openssl binary with config.
CommandResult openssl(const std::string& config, std::vector<std::string> args);
std::string writeFile(const TempDir& dir, const std::string& name, const Bytes& data);
std::string writeFile(const TempDir& dir, const std::string& name, const std::string& text);
std::string readFile(const std::string& path);

}  // namespace vhsm::test
