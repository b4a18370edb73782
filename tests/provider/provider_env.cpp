#include "tests/provider/provider_env.hpp"

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace vhsm::test {

std::string providerModule() {
  return VHSM_PROVIDER_MODULE;
}
std::string opensslBinary() {
  return OPENSSL_BINARY;
}

std::vector<std::string> providerProcessEnv(const std::string& config) {
  std::vector<std::string> env = {"OPENSSL_CONF=" + config};
#ifdef SANITIZER_PRELOAD
  env.push_back("LD_PRELOAD=" SANITIZER_PRELOAD);
  env.push_back("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0");
#endif
  return env;
}

CommandResult openssl(const std::string& config, std::vector<std::string> args) {
  args.insert(args.begin(), opensslBinary());
  return runCommand(args, "", providerProcessEnv(config));
}

std::string writeFile(const TempDir& dir, const std::string& name, const Bytes& data) {
  auto path = (dir.path() / name).string();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  return path;
}

std::string writeFile(const TempDir& dir, const std::string& name, const std::string& text) {
  return writeFile(dir, name, Bytes(text.begin(), text.end()));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ProviderEnv::ProviderEnv(ProviderOptions options)
    : keyd_(1000, Keyd::MemoryLocking::inherited, options.keydArgs) {
  alice_ = keyd_.newUser("alice", kPassword);
  config_ = writeConfig(options, keyd_.socket());
}

ProviderEnv::~ProviderEnv() {
  OSSL_LIB_CTX_free(libctx_);
}

std::string ProviderEnv::writeConfig(const ProviderOptions& options, const std::string& socket,
                                     const std::string& user) const {
  static int counter = 0;
  auto passwordFile = this->passwordFile();
  std::ofstream(passwordFile) << kPassword << "\n";
  auto path = dir_.path() / ("openssl-" + std::to_string(++counter) + ".cnf");
  std::ofstream cnf(path);
  cnf << "openssl_conf = openssl_init\n[openssl_init]\n";
  if (options.globalPreference && options.propertiesFirst) cnf << "alg_section = evp_properties\n";
  cnf << "providers = provider_sect\n";
  if (options.globalPreference && !options.propertiesFirst) cnf << "alg_section = evp_properties\n";
  if (options.globalPreference) cnf << "[evp_properties]\ndefault_properties = ?provider=vhsm\n";
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
