#include "pkcs11/mechanisms.hpp"

namespace vhsm::pkcs11 {

const std::vector<Mechanism>& mechanisms() {
  constexpr CK_FLAGS kDigest = CKF_DIGEST;  // in-process: no key is involved
  constexpr CK_FLAGS kSign = CKF_HW | CKF_SIGN | CKF_VERIFY;
  constexpr CK_FLAGS kEc = kSign | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
  static const std::vector<Mechanism> table = {
      {CKM_SHA_1, {0, 0, kDigest}},
      {CKM_SHA224, {0, 0, kDigest}},
      {CKM_SHA256, {0, 0, kDigest}},
      {CKM_SHA384, {0, 0, kDigest}},
      {CKM_SHA512, {0, 0, kDigest}},
      {CKM_SHA_1_HMAC, {8, 8192, kSign}},
      {CKM_SHA256_HMAC, {8, 8192, kSign}},
      {CKM_SHA384_HMAC, {8, 8192, kSign}},
      {CKM_SHA512_HMAC, {8, 8192, kSign}},
      {CKM_AES_GCM, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
      {CKM_ECDSA, {256, 384, kEc}},
      {CKM_ECDSA_SHA1, {256, 384, kEc}},
      {CKM_ECDSA_SHA256, {256, 384, kEc}},
      {CKM_ECDSA_SHA384, {256, 384, kEc}},
      {CKM_ECDSA_SHA512, {256, 384, kEc}},
      {CKM_EDDSA, {255, 255, kSign}},
      {CKM_RSA_PKCS, {2048, 4096, kSign}},
      {CKM_RSA_PKCS_PSS, {2048, 4096, kSign}},
      {CKM_SHA1_RSA_PKCS, {2048, 4096, kSign}},
      {CKM_SHA256_RSA_PKCS, {2048, 4096, kSign}},
      {CKM_SHA384_RSA_PKCS, {2048, 4096, kSign}},
      {CKM_SHA512_RSA_PKCS, {2048, 4096, kSign}},
      {CKM_SHA1_RSA_PKCS_PSS, {2048, 4096, kSign}},
      {CKM_SHA256_RSA_PKCS_PSS, {2048, 4096, kSign}},
      {CKM_SHA384_RSA_PKCS_PSS, {2048, 4096, kSign}},
      {CKM_SHA512_RSA_PKCS_PSS, {2048, 4096, kSign}},
      {CKM_AES_KEY_GEN, {16, 32, CKF_HW | CKF_GENERATE}},
      {CKM_GENERIC_SECRET_KEY_GEN, {1, 1024, CKF_HW | CKF_GENERATE}},
      {CKM_EC_KEY_PAIR_GEN,
       {256, 384,
        CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS}},
      {CKM_EC_EDWARDS_KEY_PAIR_GEN, {255, 255, CKF_HW | CKF_GENERATE_KEY_PAIR}},
      {CKM_RSA_PKCS_KEY_PAIR_GEN, {2048, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR}},
  };
  return table;
}

const Mechanism* mechanismNamed(CK_MECHANISM_TYPE type) {
  for (const auto& m : mechanisms())
    if (m.type == type) return &m;
  return nullptr;
}

}  // namespace vhsm::pkcs11
