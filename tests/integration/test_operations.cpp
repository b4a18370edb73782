// HMAC, digest and AES-GCM through a real keyd, compared with OpenSSL's default provider and
// the published vectors, one-shot and streamed.
#include <catch2/catch.hpp>
#include <optional>

#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

const std::pair<HashAlgorithm, const char*> kHashes[] = {{HashAlgorithm::SHA1, "SHA1"},
                                                         {HashAlgorithm::SHA256, "SHA256"},
                                                         {HashAlgorithm::SHA384, "SHA384"},
                                                         {HashAlgorithm::SHA512, "SHA512"}};

}  // namespace

TEST_CASE("HMAC through keyd equals OpenSSL's for every hash and size") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto key = randomBytes(32);
  alice->keyImport("k1", KeyType::HMAC, key);
  for (size_t size : {0, 1, 64, 4096, 65536, 262144, 262145, 1 << 20, 3 * (1 << 20) + 7})
    for (auto [alg, name] : kHashes) {
      auto data = randomBytes(size);
      INFO(name << " " << size);
      CHECK(alice->hmac("k1", alg, data) == referenceHmac(name, key, data));
    }
}

TEST_CASE("streamed HMAC and digests in uneven pieces equal the one-shot result") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto key = randomBytes(20);
  alice->keyImport("k1", KeyType::HMAC, key);
  auto data = randomBytes(700000);
  auto stream = alice->hmacStream("k1", HashAlgorithm::SHA256);
  auto digest = alice->digestStream(HashAlgorithm::SHA512);
  for (size_t at = 0, step = 1; at < data.size(); at += step, step = step * 3 + 1) {
    ByteView piece(data.data() + at, std::min(step, data.size() - at));
    stream.update(piece);
    digest.update(piece);
  }
  CHECK(stream.final() == referenceHmac("SHA256", key, data));
  CHECK(digest.final() == referenceDigest("SHA512", data));
}

TEST_CASE("RFC 2202 and RFC 4231 vectors hold with the keys imported into keyd") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyImport("rfc2202-1", KeyType::HMAC, repeat(0x0b, 20));
  alice->keyImport("jefe", KeyType::HMAC, bytesOf("Jefe"));
  alice->keyImport("rfc4231-6", KeyType::HMAC, repeat(0xaa, 131));
  CHECK(toHex(alice->hmac("rfc2202-1", HashAlgorithm::SHA1, bytesOf("Hi There"))) ==
        "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(toHex(alice->hmac("jefe", HashAlgorithm::SHA1, bytesOf("what do ya want for nothing?"))) ==
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  CHECK(toHex(alice->hmac("rfc2202-1", HashAlgorithm::SHA256, bytesOf("Hi There"))) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(
      toHex(alice->hmac("jefe", HashAlgorithm::SHA512, bytesOf("what do ya want for nothing?"))) ==
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8"
      "f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  CHECK(toHex(alice->hmac("rfc4231-6", HashAlgorithm::SHA384,
                          bytesOf("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
        "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163"
        "f44952");
}

TEST_CASE("digests need no login and equal OpenSSL's") {
  Keyd keyd;
  auto anonymous = keyd.client();
  for (size_t size : {0, 100, 1 << 20})
    for (auto [alg, name] : kHashes) {
      auto data = randomBytes(size);
      CHECK(anonymous->digest(alg, data) == referenceDigest(name, data));
    }
}

TEST_CASE("AES-GCM through keyd equals OpenSSL's and round-trips") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  for (size_t keyBytes : {16, 32}) {
    auto key = randomBytes(keyBytes);
    std::string id = "aes" + std::to_string(keyBytes * 8);
    alice->keyImport(id, KeyType::AES, key);
    for (size_t ivBytes : {1, 8, 12, 60, 128})
      for (size_t size : {0, 1, 16, 4096, 262144, 1 << 20})
        for (uint8_t tagBytes : {4, 12, 16}) {
          auto iv = randomBytes(ivBytes), aad = randomBytes(size % 33), pt = randomBytes(size);
          INFO(id << " iv " << ivBytes << " size " << size << " tag " << int(tagBytes));
          auto sealed = alice->gcmEncrypt(id, iv, aad, pt, tagBytes);
          auto ref = referenceGcmEncrypt(key, iv, aad, pt, tagBytes);
          CHECK(sealed.ciphertext == ref.ciphertext);
          CHECK(sealed.tag == ref.tag);
          CHECK(alice->gcmDecrypt(id, iv, aad, sealed.ciphertext, sealed.tag) == pt);
        }
  }
}

TEST_CASE("NIST GCM test case 4 holds with the key imported into keyd") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyImport("tc4", KeyType::AES, fromHex("feffe9928665731c6d6a8f9467308308"));
  auto sealed = alice->gcmEncrypt(
      "tc4", fromHex("cafebabefacedbaddecaf888"),
      fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
      fromHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c9595680953"
              "2fcf0e2449a6b525b16aedf5aa0de657ba637b39"));
  CHECK(toHex(sealed.ciphertext) ==
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
        "ac84aa051ba30b396a0aac973d58e091");
  CHECK(toHex(sealed.tag) == "5bc94fbc3221a5db94fae95ae7121a47");
}

TEST_CASE("AES-GCM with a wrong tag, AAD or IV fails and returns no plaintext") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("a1", KeyType::AES, 256);
  auto iv = randomBytes(12), aad = randomBytes(10), pt = randomBytes(1000);
  auto sealed = alice->gcmEncrypt("a1", iv, aad, pt);
  auto badTag = sealed.tag;
  badTag[15] ^= 0x80;
  auto badAad = aad;
  badAad[0] ^= 1;
  Bytes result = {1};
  CHECK(refusalOf([&] { result = alice->gcmDecrypt("a1", iv, aad, sealed.ciphertext, badTag); }) ==
        ErrorCode::TAG_MISMATCH);
  CHECK(result == Bytes{1});  // untouched: nothing came back
  CHECK(refusalOf([&] { alice->gcmDecrypt("a1", iv, badAad, sealed.ciphertext, sealed.tag); }) ==
        ErrorCode::TAG_MISMATCH);
  CHECK(refusalOf([&] {
          alice->gcmDecrypt("a1", randomBytes(12), aad, sealed.ciphertext, sealed.tag);
        }) == ErrorCode::TAG_MISMATCH);
  // Streamed (large) decryption is all-or-nothing at the client API too.
  auto big = randomBytes(600000);
  auto bigSealed = alice->gcmEncrypt("a1", iv, {}, big);
  bigSealed.ciphertext[300000] ^= 1;
  CHECK(refusalOf([&] { alice->gcmDecrypt("a1", iv, {}, bigSealed.ciphertext, bigSealed.tag); }) ==
        ErrorCode::TAG_MISMATCH);
}

TEST_CASE("keyd draws a random IV when none is given") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("a1", KeyType::AES);
  auto pt = bytesOf("same message");
  auto one = alice->gcmEncrypt("a1", {}, {}, pt);
  auto two = alice->gcmEncrypt("a1", {}, {}, pt);
  CHECK(one.iv.size() == 12);
  CHECK(one.iv != two.iv);
  CHECK(alice->gcmDecrypt("a1", one.iv, {}, one.ciphertext, one.tag) == pt);
}

TEST_CASE("bad parameters get specific errors") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("h1", KeyType::HMAC);
  alice->keyGenerate("a1", KeyType::AES, 128);
  auto data = bytesOf("x");
  CHECK(refusalOf([&] { alice->hmac("a1", HashAlgorithm::SHA1, data); }) ==
        ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->gcmEncrypt("h1", randomBytes(12), {}, data); }) ==
        ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->hmac("nope", HashAlgorithm::SHA1, data); }) ==
        ErrorCode::UNKNOWN_KEY);
  CHECK(refusalOf([&] { alice->hmac("bad/id", HashAlgorithm::SHA1, data); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->gcmEncrypt("a1", randomBytes(12), {}, data, 17); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyGenerate("a2", KeyType::AES, 100); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyImport("a3", KeyType::AES, randomBytes(20)); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyGenerate("h1", KeyType::HMAC); }) == ErrorCode::KEY_EXISTS);
  CHECK(refusalOf([&] {
          ClientInternals::call(*alice, [](proto::Request::Builder r) {
            auto u = r.initStreamUpdate();
            u.setHandle(999);
          });
        }) == ErrorCode::UNKNOWN_OPERATION);
}

TEST_CASE("open streams per connection are bounded") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("a1", KeyType::AES);
  auto openOne = [&] {
    auto stream = alice->gcmEncryptStream("a1", randomBytes(12));
    uint8_t sealed;
    stream.update(bytesOf("x"), &sealed);  // streams open in keyd with their first data
    return stream;
  };
  std::vector<GcmStream> open;
  for (int i = 0; i < 16; ++i) open.push_back(openOne());
  CHECK(refusalOf([&] { openOne(); }) == ErrorCode::TOO_MANY_OPERATIONS);
  open.clear();  // abandons them: keyd drops them before the next request
  CHECK_NOTHROW(openOne());
}

TEST_CASE("a stream given up after a reconnect leaves the new connection's streams alone") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("a1", KeyType::AES);
  uint8_t out[1];
  auto before = std::make_optional(alice->gcmEncryptStream("a1", randomBytes(12)));
  before->update(bytesOf("x"), out);
  keyd.stop();
  keyd.start();
  // The client reconnects; on the new connection the first stream gets the same handle.
  auto after = alice->gcmEncryptStream("a1", randomBytes(12));
  after.update(bytesOf("y"), out);
  before.reset();  // its handle belonged to the old connection: nothing to drop now
  CHECK_NOTHROW(after.update(bytesOf("z"), out));
}
