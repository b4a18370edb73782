#include "provider/provider_ctx.hpp"

#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "provider/hash_names.hpp"
#include "provider/preference.hpp"

namespace vhsm::provider {

namespace {

// vset_error takes a va_list, so the message goes through a variadic function.
void setError(OSSL_FUNC_core_vset_error_fn* vset, const OSSL_CORE_HANDLE* handle, int reason,
              const char* format, ...) {
  va_list args;
  va_start(args, format);
  vset(handle, uint32_t(reason), format, args);
  va_end(args);
}

const OSSL_ITEM kReasons[] = {
    {kKeydUnreachable, const_cast<char*>("vhsm-keyd unreachable")},
    {kKeydTimeout, const_cast<char*>("vhsm-keyd did not answer in time")},
    {kConnectionLost, const_cast<char*>("connection to vhsm-keyd lost")},
    {kUnknownKey, const_cast<char*>("unknown key")},
    {kWrongPassword, const_cast<char*>("wrong password")},
    {kContainerNotAllowed, const_cast<char*>("container not allowed")},
    {kKeyTypeMismatch, const_cast<char*>("key type mismatch")},
    {kNotUnlocked, const_cast<char*>("user not unlocked for this container")},
    {kPermissionDenied, const_cast<char*>("permission denied")},
    {kTagMismatch, const_cast<char*>("AES-GCM tag mismatch")},
    {kInvalidKeyUri, const_cast<char*>("invalid vhsm key reference")},
    {kInvalidParameter, const_cast<char*>("invalid parameter")},
    {kLoginThrottled, const_cast<char*>("login throttled")},
    {kNoUser, const_cast<char*>("no vhsm user configured")},
    {kKeydError, const_cast<char*>("vhsm-keyd refused the request")},
    {kUnsupported, const_cast<char*>("unsupported by vhsm")},
    {kUsageNotPermitted, const_cast<char*>("key usage not permitted")},
    {0, nullptr}};

Reason reasonFor(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::unreachable: return kKeydUnreachable;
    case ErrorKind::timeout: return kKeydTimeout;
    case ErrorKind::disconnected:
    case ErrorKind::protocol: return kConnectionLost;
    case ErrorKind::refused: break;
  }
  switch (e.code()) {
    case ErrorCode::UNKNOWN_KEY: return kUnknownKey;
    case ErrorCode::WRONG_PASSWORD:
    case ErrorCode::UNKNOWN_USER: return kWrongPassword;
    case ErrorCode::CONTAINER_NOT_ALLOWED: return kContainerNotAllowed;
    case ErrorCode::KEY_TYPE_MISMATCH: return kKeyTypeMismatch;
    case ErrorCode::USAGE_NOT_PERMITTED: return kUsageNotPermitted;
    case ErrorCode::NOT_UNLOCKED: return kNotUnlocked;
    case ErrorCode::PERMISSION_DENIED:
    case ErrorCode::NOT_LOGGED_IN: return kPermissionDenied;
    case ErrorCode::TAG_MISMATCH: return kTagMismatch;
    case ErrorCode::LOGIN_THROTTLED: return kLoginThrottled;
    case ErrorCode::INVALID_ARGUMENT: return kInvalidParameter;
    case ErrorCode::UNSUPPORTED_ALGORITHM: return kUnsupported;
    default: return kKeydError;
  }
}

std::string configValue(const OSSL_CORE_HANDLE* handle, OSSL_FUNC_core_get_params_fn* getParams,
                        const char* name) {
  const char* value = nullptr;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_ptr(name, const_cast<char**>(&value), 0),
                         OSSL_PARAM_construct_end()};
  if (!getParams || !getParams(handle, params) || !value) return {};
  return value;
}

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string readPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw Error(ErrorKind::refused, ErrorCode::INVALID_ARGUMENT,
                "cannot read the vhsm password file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

EVP_MD* ProviderContext::localDigest(const char* name) const {
  for (size_t i = 0; i < std::size(localDigests_); ++i)
    if (std::strcmp(hashName(HashAlgorithm(i)), name) == 0) return localDigests_[i];
  return nullptr;
}

const OSSL_ITEM* reasonStrings() {
  return kReasons;
}

void debugLog(const std::string& line) {
  static const char* path = std::getenv("VHSM_DEBUG");
  if (!path || !*path) return;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "vhsm[%d]: %s\n", int(getpid()), line.c_str());
    std::fclose(f);
  }
}

ProviderContext::ProviderContext(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in)
    : handle_(handle) {
  OSSL_FUNC_core_get_params_fn* getParams = nullptr;
  OSSL_FUNC_core_get_libctx_fn* getLibctx = nullptr;
  for (; in->function_id != 0; ++in) {
    switch (in->function_id) {
      case OSSL_FUNC_CORE_GET_PARAMS: getParams = OSSL_FUNC_core_get_params(in); break;
      case OSSL_FUNC_CORE_GET_LIBCTX: getLibctx = OSSL_FUNC_core_get_libctx(in); break;
      case OSSL_FUNC_CORE_NEW_ERROR: newError_ = OSSL_FUNC_core_new_error(in); break;
      case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
        setErrorDebug_ = OSSL_FUNC_core_set_error_debug(in);
        break;
      case OSSL_FUNC_CORE_VSET_ERROR: vsetError_ = OSSL_FUNC_core_vset_error(in); break;
      case OSSL_FUNC_BIO_READ_EX: bioRead_ = OSSL_FUNC_BIO_read_ex(in); break;
      case OSSL_FUNC_BIO_GETS: bioGets_ = OSSL_FUNC_BIO_gets(in); break;
      case OSSL_FUNC_BIO_WRITE_EX: bioWrite_ = OSSL_FUNC_BIO_write_ex(in); break;
      default: break;
    }
  }
  config_.socket = envOr("VHSM_SOCKET", configValue(handle, getParams, "socket").empty()
                                            ? config_.socket
                                            : configValue(handle, getParams, "socket"));
  if (auto t = configValue(handle, getParams, "transport"); !t.empty()) config_.transport = t;
  config_.transport = envOr("VHSM_TRANSPORT", config_.transport);
  config_.user = envOr("VHSM_USER", configValue(handle, getParams, "user"));
  config_.passwordFile =
      envOr("VHSM_PASSWORD_FILE", configValue(handle, getParams, "password-file"));
  config_.remoteDigests = configValue(handle, getParams, "digests") != "local";
  if (auto t = configValue(handle, getParams, "timeout-ms"); !t.empty())
    config_.timeoutMillis = std::max(100, std::atoi(t.c_str()));
  config_.preferKeyRefs = configValue(handle, getParams, "preference") != "none";
  // vhsm.so shares libcrypto with the application, so the core's library context is the
  // application's OSSL_LIB_CTX.
  if (config_.preferKeyRefs &&
      (!getLibctx || !applyKeyRefPreference(reinterpret_cast<OSSL_LIB_CTX*>(getLibctx(handle)))))
    throw Error(ErrorKind::refused, ErrorCode::INVALID_ARGUMENT,
                "cannot set vhsm's fetch preference");

  defaultLibctx_ = OSSL_LIB_CTX_new();
  if (defaultLibctx_) defaultProvider_ = OSSL_PROVIDER_load(defaultLibctx_, "default");
  for (size_t i = 0; i < std::size(localDigests_); ++i)
    localDigests_[i] = EVP_MD_fetch(defaultLibctx_, hashName(HashAlgorithm(i)), nullptr);
  localHmac_ = defaultMac(defaultProvider_, "HMAC");
  localAes128Gcm_ = defaultCipher(defaultProvider_, "AES-128-GCM");
  localAes256Gcm_ = defaultCipher(defaultProvider_, "AES-256-GCM");
  debugLog("loaded: transport " + config_.transport + ", socket " + config_.socket + ", user " +
           config_.user + (config_.remoteDigests ? ", digests in keyd" : ", digests local"));
}

ProviderContext::~ProviderContext() {
  client_.reset();
  for (EVP_MD* md : localDigests_) EVP_MD_free(md);
  OSSL_PROVIDER_unload(defaultProvider_);
  OSSL_LIB_CTX_free(defaultLibctx_);
}

Client& ProviderContext::client() {
  std::lock_guard lock(mutex_);
  if (!client_) {
    if (config_.user.empty())
      throw Error(ErrorKind::refused, ErrorCode::NOT_LOGGED_IN,
                  "no vhsm user: set user in the provider's section or VHSM_USER");
    ClientOptions options;
    options.transport = transportNamed(config_.transport);
    options.socketPath = config_.socket;
    options.timeout = std::chrono::milliseconds(config_.timeoutMillis);
    auto client = std::make_unique<Client>(options);
    // No password anywhere: log in through an unlock for this container.
    std::string password = std::getenv("VHSM_PASSWORD")   ? std::getenv("VHSM_PASSWORD")
                           : config_.passwordFile.empty() ? std::string()
                                                          : readPasswordFile(config_.passwordFile);
    debugLog("login as " + config_.user + (password.empty() ? " through an unlock" : ""));
    client->login(config_.user, password);
    client_ = std::move(client);
  }
  return *client_;
}

bool ProviderContext::readAll(OSSL_CORE_BIO* in, std::string& out, size_t limit) const {
  char buffer[4096];
  size_t n = 0;
  while (bioRead_ && bioRead_(in, buffer, sizeof buffer, &n) && n > 0) {
    out.append(buffer, n);
    if (out.size() > limit) return false;
  }
  return bioRead_ != nullptr;
}

bool ProviderContext::readLine(OSSL_CORE_BIO* in, std::string& line, size_t limit) const {
  line.clear();
  char buffer[256];
  while (bioGets_ && line.size() <= limit) {
    int n = bioGets_(in, buffer, sizeof buffer);
    if (n <= 0) return !line.empty();
    line.append(buffer, size_t(n));
    if (line.back() == '\n') return true;
  }
  return false;
}

bool ProviderContext::write(OSSL_CORE_BIO* out, const void* data, size_t length) const {
  size_t written = 0;
  return bioWrite_ && bioWrite_(out, data, length, &written) && written == length;
}

void ProviderContext::raise(Reason reason, const std::string& detail, const char* file, int line,
                            const char* func) const {
  debugLog("error: " + detail);
  if (!newError_ || !vsetError_) return;
  newError_(handle_);
  if (setErrorDebug_) setErrorDebug_(handle_, file, line, func);
  setError(vsetError_, handle_, reason, "%s", detail.c_str());
}

void ProviderContext::raise(const Error& error, const char* file, int line,
                            const char* func) const {
  std::string detail = error.what();
  if (error.kind() == ErrorKind::refused) detail += " (" + errorName(error.code()) + ")";
  raise(reasonFor(error), detail, file, line, func);
}

}  // namespace vhsm::provider
