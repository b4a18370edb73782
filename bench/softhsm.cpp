#include "bench/softhsm.hpp"

#include <dlfcn.h>
// The GNU-style names (ck_attribute, ck_rv_t …) of p11-kit's header.
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace vhsm::bench {
namespace {

constexpr const char* kLibrary = "/usr/lib/softhsm/libsofthsm2.so";

void check(ck_rv_t rv, const char* what) {
  if (rv == CKR_OK) return;
  char code[32];
  std::snprintf(code, sizeof code, "0x%lx", static_cast<unsigned long>(rv));
  throw std::runtime_error(std::string("SoftHSM2 ") + what + " failed: " + code);
}

ck_attribute attribute(ck_attribute_type_t type, const void* value, unsigned long length) {
  return {type, const_cast<void*>(value), length};
}

}  // namespace

struct SoftHsm::Impl {
  std::filesystem::path dir;
  void* library = nullptr;
  ck_function_list* p11 = nullptr;
  ck_session_handle_t session = 0;
  // SoftHSM2 wants an HMAC-SHA256 key of at least 32 bytes; the cost does not depend on it.
  ck_object_handle_t hmacKey = 0, hmacKey256 = 0, aesKey = 0;
  ck_object_handle_t signKeys[3] = {};

  enum class Operation { sign, encrypt, decrypt };
  std::vector<uint8_t> once(ck_mechanism mechanism, ck_object_handle_t key, Operation operation,
                            const std::vector<uint8_t>& data, size_t outSize) {
    std::vector<uint8_t> out(outSize);
    unsigned long length = out.size();
    auto* in = const_cast<unsigned char*>(data.data());
    switch (operation) {
      case Operation::sign:
        check(p11->C_SignInit(session, &mechanism, key), "C_SignInit");
        check(p11->C_Sign(session, in, data.size(), out.data(), &length), "C_Sign");
        break;
      case Operation::encrypt:
        check(p11->C_EncryptInit(session, &mechanism, key), "C_EncryptInit");
        check(p11->C_Encrypt(session, in, data.size(), out.data(), &length), "C_Encrypt");
        break;
      case Operation::decrypt:
        check(p11->C_DecryptInit(session, &mechanism, key), "C_DecryptInit");
        check(p11->C_Decrypt(session, in, data.size(), out.data(), &length), "C_Decrypt");
        break;
    }
    out.resize(length);
    return out;
  }
};

SoftHsm::SoftHsm() : impl_(std::make_unique<Impl>()) {
  auto& i = *impl_;
  char pattern[] = "/tmp/vhsm-softhsm-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp");
  i.dir = pattern;
  std::filesystem::create_directories(i.dir / "tokens");
  std::ofstream(i.dir / "softhsm2.conf") << "directories.tokendir = " << (i.dir / "tokens").string()
                                         << "\nobjectstore.backend = file\nlog.level = ERROR\n";
  setenv("SOFTHSM2_CONF", (i.dir / "softhsm2.conf").c_str(), 1);
  i.library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!i.library) throw std::runtime_error(std::string("cannot load ") + kLibrary);
  auto getList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(i.library, "C_GetFunctionList"));
  check(getList(&i.p11), "C_GetFunctionList");
  check(i.p11->C_Initialize(nullptr), "C_Initialize");
  ck_slot_id_t slots[8];
  unsigned long count = 8;
  check(i.p11->C_GetSlotList(0, slots, &count), "C_GetSlotList");
  unsigned char so[] = "so-pin", user[] = "user-pin";
  unsigned char label[32];
  std::memset(label, ' ', sizeof label);
  std::memcpy(label, "vhsm-bench", 10);
  check(i.p11->C_InitToken(slots[0], so, 6, label), "C_InitToken");
  // The initialised token moves to a new slot.
  count = 8;
  check(i.p11->C_GetSlotList(1, slots, &count), "C_GetSlotList");
  check(i.p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                             &i.session),
        "C_OpenSession");
  check(i.p11->C_Login(i.session, CKU_SO, so, 6), "C_Login SO");
  check(i.p11->C_InitPIN(i.session, user, 8), "C_InitPIN");
  check(i.p11->C_Logout(i.session), "C_Logout");
  check(i.p11->C_Login(i.session, CKU_USER, user, 8), "C_Login");

  unsigned char yes = 1;  // CK_BBOOL
  ck_object_class_t secret = CKO_SECRET_KEY;
  ck_key_type_t generic = CKK_GENERIC_SECRET, aes = CKK_AES;
  std::vector<uint8_t> hmacValue(20, 0x0b), aesValue(32, 0x42);
  ck_attribute hmacTemplate[] = {attribute(CKA_CLASS, &secret, sizeof secret),
                                 attribute(CKA_KEY_TYPE, &generic, sizeof generic),
                                 attribute(CKA_SIGN, &yes, sizeof yes),
                                 attribute(CKA_VALUE, hmacValue.data(), hmacValue.size())};
  check(i.p11->C_CreateObject(i.session, hmacTemplate, 4, &i.hmacKey), "C_CreateObject HMAC");
  hmacValue.assign(32, 0x0b);
  hmacTemplate[3] = attribute(CKA_VALUE, hmacValue.data(), hmacValue.size());
  check(i.p11->C_CreateObject(i.session, hmacTemplate, 4, &i.hmacKey256), "C_CreateObject HMAC");
  ck_attribute aesTemplate[] = {
      attribute(CKA_CLASS, &secret, sizeof secret), attribute(CKA_KEY_TYPE, &aes, sizeof aes),
      attribute(CKA_ENCRYPT, &yes, sizeof yes), attribute(CKA_DECRYPT, &yes, sizeof yes),
      attribute(CKA_VALUE, aesValue.data(), aesValue.size())};
  check(i.p11->C_CreateObject(i.session, aesTemplate, 5, &i.aesKey), "C_CreateObject AES");

  const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  const uint8_t ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
  unsigned long bits = 2048;
  const uint8_t exponent[] = {0x01, 0x00, 0x01};
  for (int a = 0; a < 3; ++a) {
    ck_mechanism generate{a == 0   ? CKM_EC_KEY_PAIR_GEN
                          : a == 1 ? CKM_EC_EDWARDS_KEY_PAIR_GEN
                                   : CKM_RSA_PKCS_KEY_PAIR_GEN,
                          nullptr, 0};
    ck_attribute publicTemplate[2];
    unsigned long publicCount = 1;
    if (a == 0) publicTemplate[0] = attribute(CKA_EC_PARAMS, p256, sizeof p256);
    if (a == 1) publicTemplate[0] = attribute(CKA_EC_PARAMS, ed25519, sizeof ed25519);
    if (a == 2) {
      publicTemplate[0] = attribute(CKA_MODULUS_BITS, &bits, sizeof bits);
      publicTemplate[1] = attribute(CKA_PUBLIC_EXPONENT, exponent, sizeof exponent);
      publicCount = 2;
    }
    ck_attribute privateTemplate[] = {attribute(CKA_SIGN, &yes, sizeof yes)};
    ck_object_handle_t publicKey;
    check(i.p11->C_GenerateKeyPair(i.session, &generate, publicTemplate, publicCount,
                                   privateTemplate, 1, &publicKey, &i.signKeys[a]),
          "C_GenerateKeyPair");
  }
}

SoftHsm::~SoftHsm() {
  auto& i = *impl_;
  if (i.p11) {
    i.p11->C_CloseAllSessions(0);
    i.p11->C_Finalize(nullptr);
  }
  if (i.library) dlclose(i.library);
  std::error_code ec;
  std::filesystem::remove_all(i.dir, ec);
}

std::vector<uint8_t> SoftHsm::hmacSha1(const std::vector<uint8_t>& data) {
  return impl_->once({CKM_SHA_1_HMAC, nullptr, 0}, impl_->hmacKey, Impl::Operation::sign, data, 20);
}

std::vector<uint8_t> SoftHsm::hmacSha256(const std::vector<uint8_t>& data) {
  return impl_->once({CKM_SHA256_HMAC, nullptr, 0}, impl_->hmacKey256, Impl::Operation::sign, data,
                     32);
}

std::vector<uint8_t> SoftHsm::sha256(const std::vector<uint8_t>& data) {
  auto& i = *impl_;
  ck_mechanism mechanism{CKM_SHA256, nullptr, 0};
  std::vector<uint8_t> out(32);
  unsigned long length = out.size();
  check(i.p11->C_DigestInit(i.session, &mechanism), "C_DigestInit");
  check(i.p11->C_Digest(i.session, const_cast<unsigned char*>(data.data()), data.size(), out.data(),
                        &length),
        "C_Digest");
  return out;
}

namespace {

// The one IV every AES-GCM case uses (twelve bytes of 1, as the vhsm and OpenSSL cases), so
// one sealed message fits all.
struct GcmParams {
  unsigned char iv[12];
  ck_gcm_params params{};
  GcmParams() {
    std::memset(iv, 1, sizeof iv);
    params.iv_ptr = iv;
    params.iv_len = sizeof iv;
    params.iv_bits = sizeof iv * 8;
    params.tag_bits = 128;
  }
};

}  // namespace

std::vector<uint8_t> SoftHsm::aesGcmEncrypt(const std::vector<uint8_t>& data) {
  GcmParams gcm;
  return impl_->once({CKM_AES_GCM, &gcm.params, sizeof gcm.params}, impl_->aesKey,
                     Impl::Operation::encrypt, data, data.size() + 16);
}

std::vector<uint8_t> SoftHsm::aesGcmDecrypt(const std::vector<uint8_t>& sealed) {
  GcmParams gcm;
  return impl_->once({CKM_AES_GCM, &gcm.params, sizeof gcm.params}, impl_->aesKey,
                     Impl::Operation::decrypt, sealed, sealed.size());
}

std::vector<uint8_t> SoftHsm::sign(SignAlgorithm algorithm, const std::vector<uint8_t>& data) {
  int a = int(algorithm);
  ck_mechanism mechanism{a == 0 ? CKM_ECDSA : a == 1 ? CKM_EDDSA : CKM_SHA256_RSA_PKCS, nullptr, 0};
  return impl_->once(mechanism, impl_->signKeys[a], Impl::Operation::sign, data, 512);
}

}  // namespace vhsm::bench
