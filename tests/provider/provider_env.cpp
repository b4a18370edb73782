#include "provider_env.hpp"

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <fstream>
#include <stdexcept>

namespace vhsm::test {

std::string providerModule() {
  return VHSM_PROVIDER_MODULE;
}
std::string opensslBinary() {
  return OPENSSL_BINARY;
}

ProviderEnv::ProviderEnv(ProviderOptions options) {
  alice_ = keyd_.newUser("alice", kPassword);
  config_ = writeConfig(options, keyd_.socket());
}

ProviderEnv::~ProviderEnv() {
  OSSL_LIB_CTX_free(libctx_);
}

std::string ProviderEnv::writeConfig(const ProviderOptions& options, const std::string& socket,
                                     const std::string& user) const {
  static int counter = 0;
  auto passwordFile = dir_.path() / "password";
  std::ofstream(passwordFile) << kPassword << "\n";
  auto path = dir_.path() / ("openssl-" + std::to_string(++counter) + ".cnf");
  std::ofstream cnf(path);
  cnf << "openssl_conf = openssl_init\n"
      << "[openssl_init]\nproviders = provider_sect\n";
  if (options.globalPreference)
    cnf << "alg_section = evp_properties\n[evp_properties]\ndefault_properties = ?provider=vhsm\n";
  cnf << "[provider_sect]\ndefault = default_sect\nvhsm = vhsm_sect\n"
      << "[default_sect]\nactivate = 1\n"
      << "[vhsm_sect]\nmodule = " << providerModule() << "\nactivate = 1\n"
      << "socket = " << socket << "\nuser = " << user << "\ntimeout-ms = 3000\n";
  if (options.withPassword) cnf << "password-file = " << passwordFile.string() << "\n";
  cnf << options.extraSectionLines;
  return path.string();
}

OSSL_LIB_CTX* ProviderEnv::libctx() {
  OSSL_LIB_CTX_free(libctx_);
  libctx_ = OSSL_LIB_CTX_new();
  if (!libctx_ || !OSSL_LIB_CTX_load_config(libctx_, config_.c_str()))
    throw std::runtime_error("cannot load " + config_);
  return libctx_;
}

}  // namespace vhsm::test
