// libvhsm-pkcs11.so through its function list against a real keyd: tokens and login, objects
// and the attribute rules, every mechanism compared with OpenSSL's default provider, keys made
// through the module, the spec's return codes for bad input, threads and fork.
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "tests/pkcs11/module_fixture.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

Bytes sign(CK_FUNCTION_LIST* p, CK_SESSION_HANDLE s, CK_MECHANISM m, CK_OBJECT_HANDLE key,
           const Bytes& data) {
  REQUIRE(p->C_SignInit(s, &m, key) == CKR_OK);
  CK_ULONG length = 0;
  REQUIRE(p->C_Sign(s, const_cast<uint8_t*>(data.data()), data.size(), nullptr, &length) == CKR_OK);
  Bytes out(length);
  REQUIRE(p->C_Sign(s, const_cast<uint8_t*>(data.data()), data.size(), out.data(), &length) ==
          CKR_OK);
  out.resize(length);
  return out;
}

// PKCS#11's r||s as the DER OpenSSL verifies.
Bytes derOf(const Bytes& raw) {
  size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), int(half), nullptr),
                 BN_bin2bn(raw.data() + half, int(half), nullptr));
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig, &der);
  Bytes out(der, der + length);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

Bytes attribute(CK_FUNCTION_LIST* p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a = {type, nullptr, 0};
  REQUIRE(p->C_GetAttributeValue(s, o, &a, 1) == CKR_OK);
  Bytes value(a.ulValueLen);
  a.pValue = value.data();
  REQUIRE(p->C_GetAttributeValue(s, o, &a, 1) == CKR_OK);
  return value;
}

}  // namespace

TEST_CASE("a token per user, logged in by PIN or by an unlock") {
  ModuleFixture f;
  auto* p = f.p;
  CK_ULONG count = 0;
  REQUIRE(p->C_GetSlotList(CK_TRUE, nullptr, &count) == CKR_OK);
  CHECK(count == 1);
  CK_SLOT_ID slot = 99;
  CK_ULONG none = 0;
  CHECK(p->C_GetSlotList(CK_TRUE, &slot, &none) == CKR_BUFFER_TOO_SMALL);
  CK_TOKEN_INFO info;
  REQUIRE(p->C_GetTokenInfo(0, &info) == CKR_OK);
  CHECK(std::string(reinterpret_cast<char*>(info.label), 32).rfind("alice ", 0) == 0);
  CHECK(info.flags & CKF_LOGIN_REQUIRED);

  auto s = f.open();
  std::string wrong = "guess";
  CHECK(p->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(wrong.data()), wrong.size()) ==
        CKR_PIN_INCORRECT);
  CK_SESSION_INFO sessionInfo;
  REQUIRE(p->C_GetSessionInfo(s, &sessionInfo) == CKR_OK);
  CHECK(sessionInfo.state == CKS_RW_PUBLIC_SESSION);
  std::string pin = ModuleFixture::kPin;
  CHECK(p->C_Login(s, CKU_SO, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) ==
        CKR_USER_TYPE_INVALID);
  REQUIRE(p->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) ==
          CKR_OK);
  CHECK(p->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) ==
        CKR_USER_ALREADY_LOGGED_IN);
  REQUIRE(p->C_GetSessionInfo(s, &sessionInfo) == CKR_OK);
  CHECK(sessionInfo.state == CKS_RW_USER_FUNCTIONS);
  CHECK(p->C_Logout(s) == CKR_OK);
  CHECK(p->C_Logout(s) == CKR_USER_NOT_LOGGED_IN);
  REQUIRE(p->C_CloseSession(s) == CKR_OK);

  // An SO's unlock for this container: no PIN anywhere, and the token says so.
  f.keyd.root()->unlock("alice", ModuleFixture::kPin, "host", 60);
  f.alice->keyGenerate("k", KeyType::HMAC);
  auto unlocked = f.open();
  REQUIRE(p->C_GetTokenInfo(0, &info) == CKR_OK);
  CHECK_FALSE(info.flags & CKF_LOGIN_REQUIRED);
  CHECK(f.find(unlocked, "k", CKO_SECRET_KEY) != 0);
}

TEST_CASE("objects are the user's keys, with the spec's attribute rules") {
  ModuleFixture f;
  auto* p = f.p;
  f.alice->keyImport("mac", KeyType::HMAC, randomBytes(32));
  f.alice->keyGenerate("ec", KeyType::EC_P256);
  f.alice->keyGenerate("rsa", KeyType::RSA);
  // Before a login nothing is visible: every object is a key of the user. A login is the
  // token's, so every session of the application sees the keys afterwards.
  auto other = f.open(false);
  CHECK(f.find(other, "mac", CKO_SECRET_KEY) == 0);
  auto s = f.loggedIn();
  CHECK(f.find(other, "mac", CKO_SECRET_KEY) != 0);

  CK_OBJECT_HANDLE mac = f.find(s, "mac", CKO_SECRET_KEY);
  CK_OBJECT_HANDLE ecPriv = f.find(s, "ec", CKO_PRIVATE_KEY);
  CK_OBJECT_HANDLE ecPub = f.find(s, "ec", CKO_PUBLIC_KEY);
  REQUIRE((mac && ecPriv && ecPub));
  CHECK(f.find(s, "ec", CKO_SECRET_KEY) == 0);
  CHECK(attribute(p, s, ecPriv, CKA_LABEL) == Bytes{'e', 'c'});

  // The public key's attributes are keyd's public key.
  auto spki = f.alice->keyPublic("ec");
  CHECK(attribute(p, s, ecPub, CKA_PUBLIC_KEY_INFO) == spki);
  auto point = attribute(p, s, ecPub, CKA_EC_POINT);
  REQUIRE(point.size() == 67);  // OCTET STRING of 04 || X || Y
  CHECK(std::equal(point.begin() + 2, point.end(), spki.end() - 65));
  auto modulus = attribute(p, s, f.find(s, "rsa", CKO_PUBLIC_KEY), CKA_MODULUS);
  CHECK(modulus.size() == 256);

  // Sensitive, unknown, too small: each entry gets its answer, the call the error.
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
  uint8_t tiny[1];
  CK_ATTRIBUTE t[] = {{CKA_VALUE, nullptr, 0},
                      {CKA_SENSITIVE, &sensitive, sizeof sensitive},
                      {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                      {CKA_MODULUS, nullptr, 0},
                      {CKA_LABEL, tiny, sizeof tiny}};
  CK_RV rv = p->C_GetAttributeValue(s, mac, t, 5);
  CHECK((rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
         rv == CKR_BUFFER_TOO_SMALL));
  CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
  CHECK(sensitive == CK_TRUE);
  CHECK(extractable == CK_FALSE);
  CHECK(t[3].ulValueLen == CK_UNAVAILABLE_INFORMATION);
  CHECK(t[4].ulValueLen == CK_UNAVAILABLE_INFORMATION);
  CK_ATTRIBUTE value = {CKA_VALUE, nullptr, 0};
  CHECK(p->C_GetAttributeValue(s, ecPriv, &value, 1) == CKR_ATTRIBUTE_SENSITIVE);

  // Finding by key type across the user's keys.
  CK_KEY_TYPE ecType = CKK_EC;
  CK_ATTRIBUTE byType = {CKA_KEY_TYPE, &ecType, sizeof ecType};
  REQUIRE(p->C_FindObjectsInit(s, &byType, 1) == CKR_OK);
  CK_OBJECT_HANDLE found[8];
  CK_ULONG n = 0;
  REQUIRE(p->C_FindObjects(s, found, 8, &n) == CKR_OK);
  CHECK(n == 2);
  REQUIRE(p->C_FindObjectsFinal(s) == CKR_OK);
}

TEST_CASE("every mechanism computes what OpenSSL's default provider computes") {
  ModuleFixture f;
  auto* p = f.p;
  auto macKey = randomBytes(32), aesKey = randomBytes(32);
  f.alice->keyImport("mac", KeyType::HMAC, macKey);
  f.alice->keyImport("aes", KeyType::AES, aesKey);
  auto s = f.loggedIn();
  auto data = randomBytes(3000);

  SECTION("digests, single and in parts") {
    const std::pair<CK_MECHANISM_TYPE, const char*> digests[] = {{CKM_SHA_1, "SHA1"},
                                                                 {CKM_SHA224, "SHA224"},
                                                                 {CKM_SHA256, "SHA256"},
                                                                 {CKM_SHA384, "SHA384"},
                                                                 {CKM_SHA512, "SHA512"}};
    for (auto [type, name] : digests) {
      INFO(name);
      CK_MECHANISM m = {type, nullptr, 0};
      Bytes out(64);
      CK_ULONG length = out.size();
      REQUIRE(p->C_DigestInit(s, &m) == CKR_OK);
      REQUIRE(p->C_DigestUpdate(s, data.data(), 1000) == CKR_OK);
      REQUIRE(p->C_DigestUpdate(s, data.data() + 1000, data.size() - 1000) == CKR_OK);
      REQUIRE(p->C_DigestFinal(s, out.data(), &length) == CKR_OK);
      out.resize(length);
      CHECK(out == referenceDigest(name, data));
    }
  }
  SECTION("HMAC, and verification of it") {
    const std::pair<CK_MECHANISM_TYPE, const char*> macs[] = {{CKM_SHA_1_HMAC, "SHA1"},
                                                              {CKM_SHA256_HMAC, "SHA256"},
                                                              {CKM_SHA384_HMAC, "SHA384"},
                                                              {CKM_SHA512_HMAC, "SHA512"}};
    CK_OBJECT_HANDLE key = f.find(s, "mac", CKO_SECRET_KEY);
    for (auto [type, name] : macs) {
      INFO(name);
      auto expected = referenceHmac(name, macKey, data);
      CHECK(sign(p, s, {type, nullptr, 0}, key, data) == expected);
      CK_MECHANISM m = {type, nullptr, 0};
      REQUIRE(p->C_VerifyInit(s, &m, key) == CKR_OK);
      CHECK(p->C_Verify(s, data.data(), data.size(), expected.data(), expected.size()) == CKR_OK);
      expected[0] ^= 1;
      REQUIRE(p->C_VerifyInit(s, &m, key) == CKR_OK);
      CHECK(p->C_Verify(s, data.data(), data.size(), expected.data(), expected.size()) ==
            CKR_SIGNATURE_INVALID);
    }
  }
  SECTION("AES-GCM, single and in parts, and a forged tag") {
    CK_OBJECT_HANDLE key = f.find(s, "aes", CKO_SECRET_KEY);
    auto iv = randomBytes(12), aad = randomBytes(20);
    auto expected = referenceGcmEncrypt(aesKey, iv, aad, data);
    CK_GCM_PARAMS params = {iv.data(), iv.size(), iv.size() * 8, aad.data(), aad.size(), 128};
    CK_MECHANISM m = {CKM_AES_GCM, &params, sizeof params};
    REQUIRE(p->C_EncryptInit(s, &m, key) == CKR_OK);
    Bytes sealed(data.size() + 16);
    CK_ULONG length = sealed.size();
    REQUIRE(p->C_Encrypt(s, data.data(), data.size(), sealed.data(), &length) == CKR_OK);
    Bytes want = expected.ciphertext;
    want.insert(want.end(), expected.tag.begin(), expected.tag.end());
    CHECK(sealed == want);

    REQUIRE(p->C_EncryptInit(s, &m, key) == CKR_OK);
    Bytes parts(data.size() + 16);
    CK_ULONG first = 1000, rest = data.size() - 1000, tag = 16;
    REQUIRE(p->C_EncryptUpdate(s, data.data(), 1000, parts.data(), &first) == CKR_OK);
    REQUIRE(p->C_EncryptUpdate(s, data.data() + 1000, data.size() - 1000, parts.data() + first,
                               &rest) == CKR_OK);
    REQUIRE(p->C_EncryptFinal(s, parts.data() + first + rest, &tag) == CKR_OK);
    CHECK(parts == want);

    REQUIRE(p->C_DecryptInit(s, &m, key) == CKR_OK);
    Bytes plain(data.size());
    length = plain.size();
    REQUIRE(p->C_Decrypt(s, sealed.data(), sealed.size(), plain.data(), &length) == CKR_OK);
    CHECK(plain == data);
    sealed[5] ^= 1;
    REQUIRE(p->C_DecryptInit(s, &m, key) == CKR_OK);
    length = plain.size();
    CHECK(p->C_Decrypt(s, sealed.data(), sealed.size(), plain.data(), &length) ==
          CKR_ENCRYPTED_DATA_INVALID);
  }
  SECTION("signatures of every key type verify with the default provider") {
    f.alice->keyGenerate("p256", KeyType::EC_P256);
    f.alice->keyGenerate("p384", KeyType::EC_P384);
    f.alice->keyGenerate("ed", KeyType::ED25519);
    f.alice->keyGenerate("rsa", KeyType::RSA);
    auto digest = referenceDigest("SHA256", data);
    struct Case {
      const char* id;
      CK_MECHANISM_TYPE type;
      SignatureParams params;
      bool rawDigest;  // the mechanism signs data that is already a digest
    };
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    const Case cases[] = {
        {"p256", CKM_ECDSA, {"SHA256"}, true},
        {"p256", CKM_ECDSA_SHA256, {"SHA256"}, false},
        {"p384", CKM_ECDSA_SHA384, {"SHA384"}, false},
        {"ed", CKM_EDDSA, {}, false},
        {"rsa", CKM_SHA256_RSA_PKCS, {"SHA256"}, false},
        {"rsa", CKM_SHA256_RSA_PKCS_PSS, {"SHA256", true, 32}, false},
        {"rsa", CKM_RSA_PKCS_PSS, {"SHA256", true, 32}, true},
    };
    for (const auto& c : cases) {
      INFO(c.id << " mechanism " << c.type);
      CK_MECHANISM m = {c.type, nullptr, 0};
      if (c.type == CKM_SHA256_RSA_PKCS_PSS || c.type == CKM_RSA_PKCS_PSS) {
        m.pParameter = &pss;
        m.ulParameterLen = sizeof pss;
      }
      CK_OBJECT_HANDLE priv = f.find(s, c.id, CKO_PRIVATE_KEY);
      auto signature = sign(p, s, m, priv, c.rawDigest ? digest : data);
      auto publicKey = f.alice->keyPublic(c.id);
      Bytes openssl = std::string(c.id).rfind("p", 0) == 0 ? derOf(signature) : signature;
      CHECK(referenceVerify(publicKey, c.params, data, openssl));
      // And the module's own verification, with the public key object.
      CK_OBJECT_HANDLE pub = f.find(s, c.id, CKO_PUBLIC_KEY);
      const Bytes& signed_ = c.rawDigest ? digest : data;
      REQUIRE(p->C_VerifyInit(s, &m, pub) == CKR_OK);
      CHECK(p->C_Verify(s, const_cast<uint8_t*>(signed_.data()), signed_.size(), signature.data(),
                        signature.size()) == CKR_OK);
    }
  }
}

TEST_CASE("keys made through the module are keyd's") {
  ModuleFixture f;
  auto* p = f.p;
  auto s = f.loggedIn();
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_ULONG length = 32;
  CK_BBOOL yes = CK_TRUE;
  std::string id = "made-aes";
  CK_ATTRIBUTE aes[] = {{CKA_CLASS, &secret, sizeof secret},
                        {CKA_VALUE_LEN, &length, sizeof length},
                        {CKA_TOKEN, &yes, sizeof yes},
                        {CKA_ID, id.data(), id.size()}};
  CK_MECHANISM aesGen = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = 0;
  REQUIRE(p->C_GenerateKey(s, &aesGen, aes, 4, &key) == CKR_OK);
  CHECK(f.alice->keyInfo("made-aes").type == KeyType::AES);
  CHECK(f.alice->keyInfo("made-aes").bits == 256);

  uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  std::string ecId = "made-ec";
  CK_ATTRIBUTE pubT[] = {{CKA_EC_PARAMS, p256, sizeof p256}, {CKA_ID, ecId.data(), ecId.size()}};
  CK_ATTRIBUTE privT[] = {{CKA_SIGN, &yes, sizeof yes}, {CKA_ID, ecId.data(), ecId.size()}};
  CK_MECHANISM ecGen = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub = 0, priv = 0;
  REQUIRE(p->C_GenerateKeyPair(s, &ecGen, pubT, 2, privT, 2, &pub, &priv) == CKR_OK);
  CHECK(f.alice->keyInfo("made-ec").type == KeyType::EC_P256);

  // Import: the module hands the bytes to keyd and keeps none.
  auto macKey = randomBytes(40);
  CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
  std::string macId = "imported";
  CK_ATTRIBUTE imported[] = {{CKA_CLASS, &secret, sizeof secret},
                             {CKA_KEY_TYPE, &generic, sizeof generic},
                             {CKA_VALUE, macKey.data(), macKey.size()},
                             {CKA_ID, macId.data(), macId.size()}};
  CK_OBJECT_HANDLE mac = 0;
  REQUIRE(p->C_CreateObject(s, imported, 4, &mac) == CKR_OK);
  auto data = randomBytes(100);
  CHECK(sign(p, s, {CKM_SHA256_HMAC, nullptr, 0}, mac, data) ==
        referenceHmac("SHA256", macKey, data));

  REQUIRE(p->C_DestroyObject(s, priv) == CKR_OK);
  CHECK_THROWS(f.alice->keyInfo("made-ec"));
  CHECK(p->C_DestroyObject(s, priv) == CKR_OBJECT_HANDLE_INVALID);

  // What keyd cannot honour is refused: an extractable key, a session object.
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE extractable[] = {{CKA_CLASS, &secret, sizeof secret},
                                {CKA_VALUE_LEN, &length, sizeof length},
                                {CKA_EXTRACTABLE, &yes, sizeof yes},
                                {CKA_ID, id.data(), id.size()}};
  CHECK(p->C_GenerateKey(s, &aesGen, extractable, 4, &key) == CKR_ATTRIBUTE_VALUE_INVALID);
  CK_ATTRIBUTE session[] = {{CKA_CLASS, &secret, sizeof secret},
                            {CKA_VALUE_LEN, &length, sizeof length},
                            {CKA_TOKEN, &no, sizeof no},
                            {CKA_ID, id.data(), id.size()}};
  CHECK(p->C_GenerateKey(s, &aesGen, session, 4, &key) == CKR_TEMPLATE_INCONSISTENT);
}

TEST_CASE("bad input gets the spec's return codes and harms nothing") {
  ModuleFixture f;
  auto* p = f.p;
  f.alice->keyImport("mac", KeyType::HMAC, randomBytes(32));
  f.alice->keyImport("aes", KeyType::AES, randomBytes(32));
  auto s = f.loggedIn();
  CK_OBJECT_HANDLE mac = f.find(s, "mac", CKO_SECRET_KEY);
  CK_OBJECT_HANDLE aes = f.find(s, "aes", CKO_SECRET_KEY);
  CK_MECHANISM hmac = {CKM_SHA256_HMAC, nullptr, 0};
  uint8_t data[16] = {};
  CK_ULONG length = 0;

  CHECK(p->C_Initialize(nullptr) == CKR_CRYPTOKI_ALREADY_INITIALIZED);
  CHECK(p->C_GetInfo(nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(p->C_GetSlotList(CK_TRUE, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(p->C_GetTokenInfo(7, nullptr) == CKR_SLOT_ID_INVALID);
  CHECK(p->C_OpenSession(0, 0, nullptr, nullptr, &s) == CKR_SESSION_PARALLEL_NOT_SUPPORTED);
  CHECK(p->C_Sign(12345, data, 16, nullptr, &length) == CKR_SESSION_HANDLE_INVALID);
  CHECK(p->C_Sign(s, data, 16, nullptr, &length) == CKR_OPERATION_NOT_INITIALIZED);
  CHECK(p->C_SignInit(s, &hmac, 0x7777) == CKR_KEY_HANDLE_INVALID);
  CHECK(p->C_SignInit(s, nullptr, mac) == CKR_ARGUMENTS_BAD);
  CHECK(p->C_SignInit(s, &hmac, aes) == CKR_KEY_TYPE_INCONSISTENT);
  CK_MECHANISM unknown = {0x80001234, nullptr, 0};
  CHECK(p->C_SignInit(s, &unknown, mac) == CKR_MECHANISM_INVALID);
  CK_GCM_PARAMS badTag = {data, 12, 96, nullptr, 0, 200};
  CK_MECHANISM gcm = {CKM_AES_GCM, &badTag, sizeof badTag};
  CHECK(p->C_EncryptInit(s, &gcm, aes) == CKR_MECHANISM_PARAM_INVALID);
  CK_MECHANISM gcmNoParams = {CKM_AES_GCM, nullptr, 0};
  CHECK(p->C_EncryptInit(s, &gcmNoParams, aes) == CKR_MECHANISM_PARAM_INVALID);
  CHECK(p->C_GetAttributeValue(s, 0x7777, nullptr, 0) == CKR_OBJECT_HANDLE_INVALID);

  // An operation stays through a size query and a short buffer, then finishes.
  REQUIRE(p->C_SignInit(s, &hmac, mac) == CKR_OK);
  CHECK(p->C_SignInit(s, &hmac, mac) == CKR_OPERATION_ACTIVE);
  CHECK(p->C_Sign(s, data, 16, nullptr, &length) == CKR_OK);
  CHECK(length == 32);
  uint8_t out[32];
  length = 8;
  CHECK(p->C_Sign(s, data, 16, out, &length) == CKR_BUFFER_TOO_SMALL);
  CHECK(length == 32);
  CHECK(p->C_Sign(s, data, 16, out, &length) == CKR_OK);
  CHECK(p->C_Sign(s, data, 16, out, &length) == CKR_OPERATION_NOT_INITIALIZED);
  CHECK(p->C_SignUpdate(s, nullptr, 5) == CKR_OPERATION_NOT_INITIALIZED);
  REQUIRE(p->C_SignInit(s, &hmac, mac) == CKR_OK);
  CHECK(p->C_SignUpdate(s, nullptr, 5) == CKR_ARGUMENTS_BAD);  // and the operation ends
  CHECK(p->C_SignFinal(s, out, &length) == CKR_OPERATION_NOT_INITIALIZED);

  // A read-only session changes nothing; without a login nothing is signed.
  auto readOnly = f.open(false);
  CHECK(p->C_DestroyObject(readOnly, mac) == CKR_SESSION_READ_ONLY);
  REQUIRE(p->C_Logout(s) == CKR_OK);
  CHECK(p->C_SignInit(s, &hmac, mac) == CKR_USER_NOT_LOGGED_IN);
  CHECK(p->C_WrapKey(s, &hmac, mac, mac, nullptr, &length) == CKR_MECHANISM_INVALID);
  CHECK(p->C_SetAttributeValue(s, 0x7777, nullptr, 0) == CKR_OBJECT_HANDLE_INVALID);

  REQUIRE(p->C_Finalize(nullptr) == CKR_OK);
  CHECK(p->C_Finalize(nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
  CHECK(p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &s) ==
        CKR_CRYPTOKI_NOT_INITIALIZED);
  REQUIRE(p->C_Initialize(nullptr) == CKR_OK);  // for the fixture's C_Finalize
}

TEST_CASE("many threads with their own sessions, and a forked child that initializes again") {
  ModuleFixture f;
  auto* p = f.p;
  auto key = randomBytes(32);
  f.alice->keyImport("mac", KeyType::HMAC, key);
  auto first = f.loggedIn();
  CK_OBJECT_HANDLE mac = f.find(first, "mac", CKO_SECRET_KEY);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      CK_SESSION_HANDLE s = 0;
      if (p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK) {
        ++wrong;
        return;
      }
      for (int i = 0; i < 100; ++i) {
        auto data = randomBytes(64);
        CK_MECHANISM m = {CKM_SHA256_HMAC, nullptr, 0};
        uint8_t out[32];
        CK_ULONG length = sizeof out;
        if (p->C_SignInit(s, &m, mac) != CKR_OK ||
            p->C_Sign(s, data.data(), data.size(), out, &length) != CKR_OK ||
            Bytes(out, out + length) != referenceHmac("SHA256", key, data))
          ++wrong;
      }
      p->C_CloseSession(s);
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);

  // The child must initialize again, as the spec says; then it signs on a connection of its own.
  auto data = randomBytes(64);
  auto expected = referenceHmac("SHA256", key, data);
  pid_t child = fork();
  if (child == 0) {
    CK_SESSION_HANDLE s = 0;
    int code = p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &s) ==
                       CKR_CRYPTOKI_NOT_INITIALIZED
                   ? 0
                   : 1;
    std::string pin = ModuleFixture::kPin;
    uint8_t out[32];
    CK_ULONG length = sizeof out;
    CK_MECHANISM m = {CKM_SHA256_HMAC, nullptr, 0};
    // Handles are the child's own now: it finds the key again.
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE byClass = {CKA_CLASS, &cls, sizeof cls};
    CK_OBJECT_HANDLE key = 0;
    CK_ULONG n = 0;
    if (p->C_Initialize(nullptr) != CKR_OK ||
        p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK ||
        p->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) !=
            CKR_OK ||
        p->C_FindObjectsInit(s, &byClass, 1) != CKR_OK ||
        p->C_FindObjects(s, &key, 1, &n) != CKR_OK || n != 1 ||
        p->C_SignInit(s, &m, key) != CKR_OK ||
        p->C_Sign(s, data.data(), data.size(), out, &length) != CKR_OK ||
        Bytes(out, out + length) != expected)
      code |= 2;
    _exit(code);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The parent's sessions are untouched.
  CHECK(sign(p, first, {CKM_SHA256_HMAC, nullptr, 0}, mac, data) == expected);
}

namespace {

// A part of a reference private key, as PKCS#11 carries it (big-endian, no padding).
Bytes partOf(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(pkey, name, &bn));
  Bytes out(size_t(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

}  // namespace

TEST_CASE("private keys imported through the module sign as the keys they were") {
  ModuleFixture f;
  auto* p = f.p;
  auto s = f.loggedIn();
  CK_OBJECT_CLASS privClass = CKO_PRIVATE_KEY;
  auto data = randomBytes(200);
  for (std::string kind : {"P-256", "ED25519", "RSA"}) {
    INFO(kind);
    auto reference = referenceKey(kind);
    BIO* bio = BIO_new_mem_buf(reference.privatePem.data(), int(reference.privatePem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    REQUIRE(pkey);
    std::string id = "imported-" + std::to_string(kind.size());
    std::vector<CK_ATTRIBUTE> t = {{CKA_CLASS, &privClass, sizeof privClass},
                                   {CKA_ID, id.data(), id.size()}};
    CK_KEY_TYPE keyType;
    std::vector<Bytes> values;  // kept alive for the template
    uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    uint8_t ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    CK_MECHANISM m = {CKM_ECDSA_SHA256, nullptr, 0};
    SignatureParams params{"SHA256"};
    if (kind == "P-256") {
      keyType = CKK_EC;
      values.push_back(partOf(pkey, OSSL_PKEY_PARAM_PRIV_KEY));
      t.push_back({CKA_EC_PARAMS, p256, sizeof p256});
      t.push_back({CKA_VALUE, values.back().data(), values.back().size()});
    } else if (kind == "ED25519") {
      keyType = CKK_EC_EDWARDS;
      Bytes raw(32);
      size_t length = raw.size();
      REQUIRE(EVP_PKEY_get_raw_private_key(pkey, raw.data(), &length));
      values.push_back(raw);
      t.push_back({CKA_EC_PARAMS, ed25519, sizeof ed25519});
      t.push_back({CKA_VALUE, values.back().data(), values.back().size()});
      m = {CKM_EDDSA, nullptr, 0};
      params = {};
    } else {
      keyType = CKK_RSA;
      const std::pair<CK_ATTRIBUTE_TYPE, const char*> parts[] = {
          {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
          {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
          {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
          {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
          {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
          {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
          {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
          {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
      values.reserve(8);
      for (const auto& [attribute, name] : parts) {
        values.push_back(partOf(pkey, name));
        t.push_back({attribute, values.back().data(), values.back().size()});
      }
      m = {CKM_SHA256_RSA_PKCS, nullptr, 0};
    }
    t.push_back({CKA_KEY_TYPE, &keyType, sizeof keyType});
    EVP_PKEY_free(pkey);
    CK_OBJECT_HANDLE key = 0;
    REQUIRE(p->C_CreateObject(s, t.data(), t.size(), &key) == CKR_OK);
    CHECK(f.alice->keyPublic(id) == reference.publicDer);
    auto signature = sign(p, s, m, key, data);
    CHECK(referenceVerify(reference.publicDer, params, data,
                          kind == "P-256" ? derOf(signature) : signature));
  }
}

TEST_CASE("handles and logins follow keyd: replaced keys, revoked unlocks, closed sessions") {
  ModuleFixture f;
  auto* p = f.p;
  f.alice->keyGenerate("k", KeyType::EC_P256);
  auto s = f.loggedIn();
  CK_OBJECT_HANDLE priv = f.find(s, "k", CKO_PRIVATE_KEY);
  CK_OBJECT_HANDLE pub = f.find(s, "k", CKO_PUBLIC_KEY);
  REQUIRE((priv && pub));
  // A pair goes through its private key, never its public half alone.
  CHECK(p->C_DestroyObject(s, pub) == CKR_ACTION_PROHIBITED);
  // The id made again as another kind of key: the old handles name nothing.
  f.alice->keyDelete("k");
  f.alice->keyImport("k", KeyType::AES, randomBytes(32));
  CK_ATTRIBUTE modulus = {CKA_MODULUS, nullptr, 0};
  CHECK(p->C_GetAttributeValue(s, priv, &modulus, 1) == CKR_OBJECT_HANDLE_INVALID);
  CHECK(f.find(s, "k", CKO_SECRET_KEY) != 0);

  // Signing starts from what the token knows of a key, without asking keyd; keyd's answer
  // for a key deleted or made again meanwhile ends the operation, and the next init learns.
  f.alice->keyGenerate("s", KeyType::EC_P256);
  CK_OBJECT_HANDLE signer = f.find(s, "s", CKO_PRIVATE_KEY);
  CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, nullptr, 0};
  CHECK(sign(p, s, ecdsa, signer, Bytes{1, 2, 3}).size() == 64);
  f.alice->keyDelete("s");
  f.alice->keyGenerate("s", KeyType::EC_P384);
  Bytes message{4, 5, 6}, signature(128);
  CK_ULONG length = signature.size();
  REQUIRE(p->C_SignInit(s, &ecdsa, signer) == CKR_OK);
  CHECK(p->C_Sign(s, message.data(), message.size(), signature.data(), &length) != CKR_OK);
  Bytes fresh = sign(p, s, ecdsa, signer, message);
  CHECK(fresh.size() == 96);
  CHECK(referenceVerify(f.alice->keyPublic("s"), {"SHA256"}, message, derOf(fresh)));
  f.alice->keyDelete("s");
  REQUIRE(p->C_SignInit(s, &ecdsa, signer) == CKR_OK);
  length = signature.size();
  CHECK(p->C_Sign(s, message.data(), message.size(), signature.data(), &length) ==
        CKR_KEY_HANDLE_INVALID);
  CHECK(p->C_SignInit(s, &ecdsa, signer) == CKR_KEY_HANDLE_INVALID);

  // A key made again at once under its id, of the same type and size (keyd's records say when
  // to the second): verification and public attributes are the new key's, never the old's.
  f.alice->keyGenerate("v", KeyType::EC_P256);
  CK_OBJECT_HANDLE vPriv = f.find(s, "v", CKO_PRIVATE_KEY), vPub = f.find(s, "v", CKO_PUBLIC_KEY);
  CHECK(attribute(p, s, vPub, CKA_PUBLIC_KEY_INFO) == f.alice->keyPublic("v"));
  CHECK(sign(p, s, ecdsa, vPriv, message).size() == 64);
  f.alice->keyDelete("v");
  f.alice->keyGenerate("v", KeyType::EC_P256);
  CHECK(attribute(p, s, vPub, CKA_PUBLIC_KEY_INFO) == f.alice->keyPublic("v"));
  Bytes byNewKey = sign(p, s, ecdsa, vPriv, message);
  CHECK(referenceVerify(f.alice->keyPublic("v"), {"SHA256"}, message, derOf(byNewKey)));
  REQUIRE(p->C_VerifyInit(s, &ecdsa, vPub) == CKR_OK);
  CHECK(p->C_Verify(s, message.data(), message.size(), byNewKey.data(), byNewKey.size()) == CKR_OK);

  // A find template with a null value is refused, not read.
  CK_ATTRIBUTE bad = {CKA_CLASS, nullptr, sizeof(CK_OBJECT_CLASS)};
  CHECK(p->C_FindObjectsInit(s, &bad, 1) == CKR_ARGUMENTS_BAD);
  uint8_t byte = 0;
  CHECK(p->C_DigestInit(s, nullptr) == CKR_ARGUMENTS_BAD);
  CK_MECHANISM sha = {CKM_SHA256, nullptr, 0};
  REQUIRE(p->C_DigestInit(s, &sha) == CKR_OK);
  CHECK(p->C_DigestUpdate(s, &byte, CK_ULONG(1) << 40) == CKR_DATA_LEN_RANGE);

  // Closing the last session logs the token out, as the spec has it.
  REQUIRE(p->C_CloseSession(s) == CKR_OK);
  auto again = f.open();
  CHECK(f.find(again, "k", CKO_SECRET_KEY) == 0);
  REQUIRE(p->C_CloseSession(again) == CKR_OK);

  // Logged in through an unlock that an SO then revokes: the token is public again and
  // C_Login is possible, rather than a token stuck "already logged in".
  auto root = f.keyd.root();
  root->unlock("alice", ModuleFixture::kPin, "host", 60);
  auto unlocked = f.open();
  CK_OBJECT_HANDLE key = f.find(unlocked, "k", CKO_SECRET_KEY);
  REQUIRE(key);
  root->lock("alice", "host");
  CK_ATTRIBUTE label = {CKA_LABEL, nullptr, 0};
  CHECK(p->C_GetAttributeValue(unlocked, key, &label, 1) != CKR_OK);
  std::string pin = ModuleFixture::kPin;
  CHECK(p->C_Login(unlocked, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) ==
        CKR_OK);
  CHECK(p->C_GetAttributeValue(unlocked, key, &label, 1) == CKR_OK);
}

TEST_CASE("a certificate beside a key pair is a CKO_CERTIFICATE object") {
  ModuleFixture f;
  auto* p = f.p;
  f.alice->keyGenerate("web", KeyType::EC_P256);
  f.alice->keyGenerate("rsa", KeyType::RSA);
  Bytes certificate = referenceCertificate(f.alice->keyPublic("web"), "web.example");
  auto s = f.loggedIn();
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE x509 = CKC_X_509, other = CKC_X_509_ATTR_CERT;
  CK_BBOOL yes = CK_TRUE;
  auto create = [&](const std::string& id, Bytes value, CK_CERTIFICATE_TYPE* type) {
    std::vector<CK_ATTRIBUTE> t = {{CKA_CLASS, &cls, sizeof cls},
                                   {CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_ID, const_cast<char*>(id.data()), id.size()},
                                   {CKA_LABEL, const_cast<char*>(id.data()), id.size()}};
    if (type) t.push_back({CKA_CERTIFICATE_TYPE, type, sizeof *type});
    if (!value.empty()) t.push_back({CKA_VALUE, value.data(), value.size()});
    CK_OBJECT_HANDLE h = 0;
    return p->C_CreateObject(s, t.data(), t.size(), &h);
  };
  // keyd takes only a certificate of the key's own public key.
  CHECK(create("rsa", certificate, &x509) == CKR_TEMPLATE_INCONSISTENT);
  CHECK(create("nokey", certificate, &x509) == CKR_TEMPLATE_INCONSISTENT);
  CHECK(create("web", bytesOf("not DER"), &x509) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(create("web", certificate, &other) == CKR_ATTRIBUTE_VALUE_INVALID);
  CHECK(create("web", certificate, nullptr) == CKR_TEMPLATE_INCOMPLETE);
  CHECK(create("web", {}, &x509) == CKR_TEMPLATE_INCOMPLETE);
  {
    // Attributes the object would contradict: trusted, private, another subject.
    CK_BBOOL yes = CK_TRUE;
    Bytes otherSubject = {0x30, 0x00};
    const CK_ATTRIBUTE contradictions[] = {{CKA_TRUSTED, &yes, sizeof yes},
                                           {CKA_PRIVATE, &yes, sizeof yes},
                                           {CKA_SUBJECT, otherSubject.data(), otherSubject.size()}};
    const CK_RV expected[] = {CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID,
                              CKR_TEMPLATE_INCONSISTENT};
    for (size_t i = 0; i < 3; ++i) {
      CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                          {CKA_CERTIFICATE_TYPE, &x509, sizeof x509},
                          {CKA_ID, const_cast<char*>("web"), 3},
                          {CKA_VALUE, certificate.data(), certificate.size()},
                          contradictions[i]};
      CK_OBJECT_HANDLE h = 0;
      CHECK(p->C_CreateObject(s, t, 5, &h) == expected[i]);
    }
  }
  CHECK(f.find(s, "web", CKO_CERTIFICATE) == 0);
  REQUIRE(create("web", certificate, &x509) == CKR_OK);
  CHECK(f.alice->keyCertificate("web") == certificate);
  // One per key pair: a second is refused, not swapped in under the first one's handle.
  CHECK(create("web", referenceCertificate(f.alice->keyPublic("web"), "other"), &x509) ==
        CKR_TEMPLATE_INCONSISTENT);
  CHECK(f.alice->keyCertificate("web") == certificate);

  CK_OBJECT_HANDLE cert = f.find(s, "web", CKO_CERTIFICATE);
  REQUIRE(cert);
  CHECK(attribute(p, s, cert, CKA_VALUE) == certificate);
  const unsigned char* der = certificate.data();
  X509* x = d2i_X509(nullptr, &der, long(certificate.size()));
  REQUIRE(x);
  unsigned char* subject = nullptr;
  int subjectLength = i2d_X509_NAME(X509_get_subject_name(x), &subject);
  CHECK(attribute(p, s, cert, CKA_SUBJECT) == Bytes(subject, subject + subjectLength));
  OPENSSL_free(subject);
  X509_free(x);
  CHECK(attribute(p, s, cert, CKA_CERTIFICATE_TYPE) ==
        Bytes(reinterpret_cast<uint8_t*>(&x509), reinterpret_cast<uint8_t*>(&x509) + sizeof x509));
  CHECK(attribute(p, s, cert, CKA_PRIVATE) == Bytes{CK_FALSE});
  CHECK(attribute(p, s, cert, CKA_ID) == bytesOf("web"));
  auto sha1 = referenceDigest("SHA1", certificate);
  CHECK(attribute(p, s, cert, CKA_CHECK_VALUE) == Bytes(sha1.begin(), sha1.begin() + 3));
  CHECK(attribute(p, s, cert, CKA_SERIAL_NUMBER) == Bytes{0x02, 0x02, 0x10, 0x92});  // 4242
  CHECK(attribute(p, s, cert, CKA_PUBLIC_KEY_INFO) == f.alice->keyPublic("web"));
  CK_ATTRIBUTE keyType = {CKA_KEY_TYPE, nullptr, 0};
  CHECK(p->C_GetAttributeValue(s, cert, &keyType, 1) == CKR_ATTRIBUTE_TYPE_INVALID);

  // The certificate can go alone; the key pair stays.
  REQUIRE(p->C_DestroyObject(s, cert) == CKR_OK);
  CHECK_FALSE(f.alice->keyInfo("web").hasCertificate);
  CHECK(f.find(s, "web", CKO_PRIVATE_KEY) != 0);
  CHECK(f.find(s, "web", CKO_CERTIFICATE) == 0);
}

TEST_CASE("with no users configured, the tokens are the users keyd has bound to the container") {
  auto* p = moduleFunctions();
  Keyd keyd;
  auto root = keyd.root();
  setenv("VHSM_SOCKET", keyd.socket().c_str(), 1);
  unsetenv("VHSM_USER");
  unsetenv("VHSM_PKCS11_CONF");
  // The labels of the tokens the module shows, in slot order.
  auto tokens = [&] {
    std::vector<std::string> labels;
    if (p->C_Initialize(nullptr) != CKR_OK) return labels;
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    if (p->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK)
      for (CK_ULONG i = 0; i < n; ++i) {
        CK_TOKEN_INFO info;
        if (p->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
        std::string label(reinterpret_cast<char*>(info.label), sizeof info.label);
        labels.push_back(label.substr(0, label.find_last_not_of(' ') + 1));
      }
    p->C_Finalize(nullptr);
    return labels;
  };
  root->userCreate({"dora", false, {true, true, false, false, false}, {"host"}}, "pw");
  root->userCreate({"bob", false, {true, true, false, false, false}, {"host"}}, "pw");
  CHECK(tokens() == std::vector<std::string>{"bob", "dora"});
  CHECK(inNewNetns(
            [&] { return tokens() == std::vector<std::string>{"alice"} ? 0 : 1; },
            [&](pid_t child) {
              root->containerAdd("web", netnsOf(child));
              root->userCreate({"alice", false, {true, true, false, false, false}, {"web"}}, "pw");
            }) == 0);
  CHECK(inNewNetns([&] { return tokens().empty() ? 0 : 1; }) == 0);

  // A token's serial number names its user, whatever the slot.
  REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
  CK_TOKEN_INFO bob, dora;
  REQUIRE(p->C_GetTokenInfo(0, &bob) == CKR_OK);
  REQUIRE(p->C_GetTokenInfo(1, &dora) == CKR_OK);
  std::string bobSerial(reinterpret_cast<char*>(bob.serialNumber), 16);
  CHECK(bobSerial.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(bobSerial != std::string(reinterpret_cast<char*>(dora.serialNumber), 16));
  REQUIRE(p->C_Finalize(nullptr) == CKR_OK);

  // A configured password is for configured users: it is not tried on the users keyd names,
  // where it would count as a wrong password against each of them.
  setenv("VHSM_PASSWORD", "not-theirs", 1);
  REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
  REQUIRE(p->C_GetTokenInfo(0, &bob) == CKR_OK);
  REQUIRE(p->C_GetTokenInfo(1, &dora) == CKR_OK);
  CHECK((bob.flags & CKF_LOGIN_REQUIRED));
  REQUIRE(p->C_Finalize(nullptr) == CKR_OK);
  unsetenv("VHSM_PASSWORD");
  for (const auto& r : root->auditList())
    CHECK_FALSE((r.action == "login" && r.result == ErrorCode::WRONG_PASSWORD));
}
