// keyd's crypto (Crypto++) against published vectors — RFC 2202, RFC 4231, the GCM
// specification's test cases (as used by NIST CAVP) — and against OpenSSL's default provider.
#include <catch2/catch.hpp>

#include "keyd/crypto/aes_gcm.hpp"
#include "keyd/crypto/crypto_error.hpp"
#include "keyd/crypto/hashes.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

Bytes hmacOf(HashAlgorithm a, const Bytes& key, const Bytes& data, size_t truncate = 0) {
  auto h = keyd::newHmac(a, key);
  h->Update(data.data(), data.size());
  Bytes out(truncate ? truncate : h->DigestSize());
  h->TruncatedFinal(out.data(), out.size());
  return out;
}

Bytes digestOf(HashAlgorithm a, const Bytes& data) {
  auto h = keyd::newDigest(a);
  h->Update(data.data(), data.size());
  Bytes out(h->DigestSize());
  h->TruncatedFinal(out.data(), out.size());
  return out;
}

Bytes rangeKey(size_t n) {
  Bytes k;
  for (size_t i = 1; i <= n; ++i) k.push_back(uint8_t(i));
  return k;
}

struct GcmVector {
  const char *key, *iv, *aad, *plaintext, *ciphertext, *tag;
};

const char* kP =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
    "49a6b525b16aedf5aa0de657ba637b391aafd255";
const char* kP60 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
    "49a6b525b16aedf5aa0de657ba637b39";
const char* kA = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

// Test cases 1–6 (AES-128) and 13–16 (AES-256) of McGrew & Viega, "The Galois/Counter Mode".
const GcmVector kGcmVectors[] = {
    {"00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {"00000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "", kP,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
     "ac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", kA, kP60,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
     "ac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbad", kA, kP60,
     "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544"
     "d4896b424989b5e1ebac0f07c23f4598",
     "3612d2e79e3b0785561be14aaca2fccb"},
    {"feffe9928665731c6d6a8f9467308308",
     "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e242"
     "9a6b525416aedbf5a0de6a57a637b39b",
     kA, kP60,
     "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281"
     "d48c7c6fd62875d2aca417034c34aee5",
     "619cc5aefffe0bfa462af43c1699d050"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "", kP,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
     "56828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     kA, kP60,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
     "56828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

}  // namespace

TEST_CASE("HMAC-SHA1 matches RFC 2202") {
  auto sha1 = HashAlgorithm::SHA1;
  CHECK(toHex(hmacOf(sha1, repeat(0x0b, 20), bytesOf("Hi There"))) ==
        "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(toHex(hmacOf(sha1, bytesOf("Jefe"), bytesOf("what do ya want for nothing?"))) ==
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  CHECK(toHex(hmacOf(sha1, repeat(0xaa, 20), repeat(0xdd, 50))) ==
        "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  CHECK(toHex(hmacOf(sha1, rangeKey(25), repeat(0xcd, 50))) ==
        "4c9007f4026250c6bc8414f9bf50c86c2d7235da");
  CHECK(toHex(hmacOf(sha1, repeat(0x0c, 20), bytesOf("Test With Truncation"), 12)) ==
        "4c1a03424b55e07fe7f27be1");
  CHECK(toHex(hmacOf(sha1, repeat(0xaa, 80),
                     bytesOf("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
        "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  CHECK(toHex(hmacOf(sha1, repeat(0xaa, 80),
                     bytesOf("Test Using Larger Than Block-Size Key and Larger Than One "
                             "Block-Size Data"))) == "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
}

TEST_CASE("HMAC-SHA256/384/512 match RFC 4231") {
  struct Case {
    Bytes key, data;
    const char *sha256, *sha384, *sha512;
  };
  const Case cases[] = {
      {repeat(0x0b, 20), bytesOf("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
       "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2"
       "fa9cb6",
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eae"
       "a3f4e4be9d914eeb61f1702e696c203a126854"},
      {bytesOf("Jefe"), bytesOf("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfa"
       "b21649",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8"
       "f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
      {repeat(0xaa, 20), repeat(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
       "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101"
       "a34f27",
       "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e"
       "67c807b946a337bee8942674278859e13292fb"},
      {rangeKey(25), repeat(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
       "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c6"
       "74cffb",
       "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5"
       "788063a5f19741120c4f2de2adebeb10a298dd"},
      {repeat(0xaa, 131), bytesOf("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
       "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163"
       "f44952",
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d"
       "6a1e5295e64f73f63f0aec8b915a985d786598"},
      {repeat(0xaa, 131),
       bytesOf("This is a test using a larger than block-size key and a larger than block-size "
               "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
       "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c"
       "46523e",
       "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3"
       "e4de15134676fb6de0446065c97440fa8c6a58"},
  };
  for (const auto& c : cases) {
    CHECK(toHex(hmacOf(HashAlgorithm::SHA256, c.key, c.data)) == c.sha256);
    CHECK(toHex(hmacOf(HashAlgorithm::SHA384, c.key, c.data)) == c.sha384);
    CHECK(toHex(hmacOf(HashAlgorithm::SHA512, c.key, c.data)) == c.sha512);
  }
  // Test case 5: output truncated to 128 bits.
  CHECK(toHex(hmacOf(HashAlgorithm::SHA256, repeat(0x0c, 20), bytesOf("Test With Truncation"),
                     16)) == "a3b6167473100ee06e0c796c2955552b");
}

TEST_CASE("HMAC and digests equal OpenSSL's for random keys and sizes") {
  const std::pair<HashAlgorithm, const char*> algorithms[] = {{HashAlgorithm::SHA1, "SHA1"},
                                                              {HashAlgorithm::SHA256, "SHA256"},
                                                              {HashAlgorithm::SHA384, "SHA384"},
                                                              {HashAlgorithm::SHA512, "SHA512"}};
  for (size_t size : {0, 1, 63, 64, 65, 1000, 65536}) {
    for (auto [alg, name] : algorithms) {
      auto key = randomBytes(1 + size % 200);
      auto data = randomBytes(size);
      CHECK(hmacOf(alg, key, data) == referenceHmac(name, key, data));
      CHECK(digestOf(alg, data) == referenceDigest(name, data));
    }
  }
}

TEST_CASE("AES-GCM matches the GCM specification's test cases") {
  for (const auto& v : kGcmVectors) {
    auto key = fromHex(v.key), iv = fromHex(v.iv), aad = fromHex(v.aad), pt = fromHex(v.plaintext);
    keyd::AesGcm enc(true, key, iv);
    enc.addAad(aad);
    Bytes ct(pt.size()), tag(16);
    enc.process(pt, ct.data());
    enc.tag(tag);
    CHECK(toHex(ct) == v.ciphertext);
    CHECK(toHex(tag) == v.tag);

    keyd::AesGcm dec(false, key, iv);
    dec.addAad(aad);
    Bytes back(ct.size());
    CHECK_NOTHROW(dec.finishDecrypt(ct, back.data(), tag));
    CHECK(back == pt);
  }
}

TEST_CASE("AES-GCM equals OpenSSL's for IV, AAD, tag and data lengths") {
  for (size_t keyBytes : {16, 32})
    for (size_t ivBytes : {1, 8, 12, 16, 60, 128})
      for (size_t size : {0, 1, 15, 16, 17, 4096, 100000})
        for (size_t tagBytes : {4, 12, 16}) {
          auto key = randomBytes(keyBytes), iv = randomBytes(ivBytes);
          auto aad = randomBytes(size % 50), pt = randomBytes(size);
          auto ref = referenceGcmEncrypt(key, iv, aad, pt, tagBytes);
          keyd::AesGcm enc(true, key, iv);
          enc.addAad(aad);
          Bytes ct(pt.size()), tag(tagBytes);
          enc.process(pt, ct.data());
          enc.tag(tag);
          CHECK(ct == ref.ciphertext);
          CHECK(tag == ref.tag);
        }
}

TEST_CASE("AES-GCM decryption rejects a wrong tag and bad parameters") {
  auto key = randomBytes(32), iv = randomBytes(12), pt = randomBytes(100);
  auto ref = referenceGcmEncrypt(key, iv, {}, pt);
  auto badTag = ref.tag;
  badTag[0] ^= 1;
  keyd::AesGcm dec(false, key, iv);
  Bytes out(pt.size());
  try {
    dec.finishDecrypt(ref.ciphertext, out.data(), badTag);
    FAIL("a wrong tag was accepted");
  } catch (const keyd::CryptoError& e) {
    CHECK(e.kind() == keyd::CryptoError::Kind::tagMismatch);
  }
  CHECK(out == Bytes(pt.size(), 0));  // the unauthenticated plaintext was wiped
  keyd::AesGcm noTag(false, key, iv);
  CHECK_THROWS_AS(noTag.finishDecrypt(ref.ciphertext, out.data(), {}), keyd::CryptoError);

  CHECK_THROWS_AS(keyd::AesGcm(true, randomBytes(15), iv), keyd::CryptoError);
  CHECK_THROWS_AS(keyd::AesGcm(true, key, {}), keyd::CryptoError);
  keyd::AesGcm enc(true, key, iv);
  Bytes tooLong(17);
  CHECK_THROWS_AS(enc.tag(tooLong), keyd::CryptoError);
  Bytes data(4), out4(4);
  enc.process(data, out4.data());
  CHECK_THROWS_AS(enc.addAad(data), keyd::CryptoError);
}
