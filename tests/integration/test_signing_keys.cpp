// Signing keys in keyd (EC P-256/P-384, Ed25519, RSA) through the client library: generated
// and imported, public key exported, every signature verified by OpenSSL's default provider
// (and, where the scheme is deterministic, equal to its signature bit for bit), usage fixed
// at creation, and the private key nowhere in the store file.
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <thread>

#include "store/store.hpp"
#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

const Bytes kMessage = bytesOf("sign me");

struct Kind {
  KeyType type;
  const char* reference;  // referenceKey's name
  uint32_t bits;
};
const Kind kKinds[] = {{KeyType::EC_P256, "P-256", 256},
                       {KeyType::EC_P384, "P-384", 384},
                       {KeyType::ED25519, "ED25519", 256},
                       {KeyType::RSA, "RSA", 2048}};

// keyd signs a digest (ECDSA, RSA) or the message (Ed25519).
Bytes signedBy(Client& c, const std::string& id, KeyType type, const SignatureParams& p) {
  SignOptions o;
  o.hash = p.hash == "SHA1"     ? HashAlgorithm::SHA1
           : p.hash == "SHA384" ? HashAlgorithm::SHA384
           : p.hash == "SHA512" ? HashAlgorithm::SHA512
                                : HashAlgorithm::SHA256;
  o.mgf1Hash = o.hash;
  o.rsaPadding = p.pss ? RsaPadding::PSS : RsaPadding::PKCS1;
  o.pssSaltLength = p.saltLength;
  return c.sign(id, o, type == KeyType::ED25519 ? kMessage : referenceDigest(p.hash, kMessage));
}

bool contains(const Bytes& haystack, const Bytes& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

}  // namespace

TEST_CASE("generated signing keys sign what the default provider verifies") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  for (const auto& kind : kKinds) {
    INFO(kind.reference);
    std::string id = std::string("gen-") + kind.reference;
    alice->keyGenerate(id, kind.type);
    auto info = alice->keyInfo(id);
    CHECK(info.type == kind.type);
    CHECK(info.bits == kind.bits);
    CHECK(info.usage == KeyUsage::SIGN);
    auto pub = alice->keyPublic(id);
    for (const char* hash : {"SHA256", "SHA384", "SHA512"}) {
      SignatureParams p;
      p.hash = hash;
      CHECK(referenceVerify(pub, p, kMessage, signedBy(*alice, id, kind.type, p)));
    }
  }
  alice->keyGenerate("rsa3072", KeyType::RSA, 3072);
  CHECK(alice->keyInfo("rsa3072").bits == 3072);
  CHECK(refusalOf([&] { alice->keyGenerate("rsa1024", KeyType::RSA, 1024); }) ==
        ErrorCode::INVALID_ARGUMENT);
}

// keyd makes each key's signing context per digest on first use, possibly in several workers at
// once; every signature must verify whoever made the context it came from.
TEST_CASE("first signatures with a key from many connections at once all verify") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  for (const auto& kind : {kKinds[0], kKinds[3]}) {
    INFO(kind.reference);
    std::string id = std::string("race-") + kind.reference;
    alice->keyGenerate(id, kind.type);
    auto pub = alice->keyPublic(id);
    constexpr int kThreads = 6;
    std::vector<std::unique_ptr<Client>> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.push_back(keyd.client());
      clients.back()->login("alice", "pw");
    }
    std::atomic<int> ready{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ++ready;
        while (ready < kThreads) std::this_thread::yield();
        for (const char* hash : {"SHA256", "SHA384", "SHA512", "SHA256"}) {
          SignatureParams p;
          p.hash = hash;
          if (!referenceVerify(pub, p, kMessage, signedBy(*clients[size_t(t)], id, kind.type, p)))
            ++bad;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(bad == 0);
  }
}

TEST_CASE("imported keys keep their public key and sign like the default provider") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  for (const auto& kind : kKinds) {
    INFO(kind.reference);
    auto ref = referenceKey(kind.reference);
    std::string id = std::string("imp-") + kind.reference;
    alice->keyImport(id, kind.type, Bytes(ref.privatePem.begin(), ref.privatePem.end()));
    CHECK(alice->keyPublic(id) == ref.publicDer);
    SignatureParams p;
    auto signature = signedBy(*alice, id, kind.type, p);
    CHECK(referenceVerify(ref.publicDer, p, kMessage, signature));
    // Ed25519 and RSA PKCS#1 v1.5 are deterministic: the very same bytes.
    if (kind.type == KeyType::ED25519 || kind.type == KeyType::RSA)
      CHECK(signature == referenceSign(ref.privatePem, p, kMessage));
  }
}

TEST_CASE("RSA-PSS signs with every salt length convention and digest") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto ref = referenceKey("RSA");
  alice->keyImport("rsa", KeyType::RSA, Bytes(ref.privatePem.begin(), ref.privatePem.end()));
  for (const char* hash : {"SHA1", "SHA256", "SHA384", "SHA512"})
    for (int salt : {-1, -2, -3, 0, 20}) {
      INFO(hash << " salt " << salt);
      SignatureParams p{hash, true, salt};
      SignatureParams verify{hash, true, salt == -1 ? -1 : -2};  // -2: recover any length
      if (salt >= 0) verify.saltLength = salt;
      CHECK(referenceVerify(ref.publicDer, verify, kMessage,
                            signedBy(*alice, "rsa", KeyType::RSA, p)));
    }
}

TEST_CASE("signing keys refuse what they are not for, with specific errors") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("ec", KeyType::EC_P256);
  alice->keyGenerate("mac", KeyType::HMAC);
  auto digest = referenceDigest("SHA256", kMessage);
  SignOptions sha256;
  CHECK(refusalOf([&] { alice->hmac("ec", HashAlgorithm::SHA256, kMessage); }) ==
        ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->gcmEncrypt("ec", randomBytes(12), {}, kMessage); }) ==
        ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->sign("mac", sha256, digest); }) == ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->keyPublic("mac"); }) == ErrorCode::USAGE_NOT_PERMITTED);
  CHECK(refusalOf([&] { alice->sign("nope", sha256, digest); }) == ErrorCode::UNKNOWN_KEY);
  // A digest of the wrong length for its algorithm.
  CHECK(refusalOf([&] { alice->sign("ec", sha256, kMessage); }) == ErrorCode::INVALID_ARGUMENT);

  auto rsa = referenceKey("RSA");
  Bytes pem(rsa.privatePem.begin(), rsa.privatePem.end());
  CHECK(refusalOf([&] { alice->keyImport("x", KeyType::EC_P256, pem); }) ==
        ErrorCode::KEY_TYPE_MISMATCH);
  auto p384 = referenceKey("P-384");
  CHECK(refusalOf([&] {
          alice->keyImport("x", KeyType::EC_P256,
                           Bytes(p384.privatePem.begin(), p384.privatePem.end()));
        }) == ErrorCode::KEY_TYPE_MISMATCH);
  CHECK(refusalOf([&] { alice->keyImport("x", KeyType::RSA, bytesOf("not a key")); }) ==
        ErrorCode::INVALID_ARGUMENT);
  // A public key is not a private key.
  CHECK(refusalOf([&] { alice->keyImport("x", KeyType::RSA, rsa.publicDer); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyInfo("x"); }) == ErrorCode::UNKNOWN_KEY);
}

TEST_CASE("users cannot use each other's signing keys") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto bob = keyd.newUser("bob", "pw2");
  alice->keyGenerate("ec", KeyType::EC_P256);
  CHECK(refusalOf([&] { bob->keyPublic("ec"); }) == ErrorCode::UNKNOWN_KEY);
  CHECK(refusalOf([&] { bob->sign("ec", {}, referenceDigest("SHA256", kMessage)); }) ==
        ErrorCode::UNKNOWN_KEY);
}

TEST_CASE("no private key byte reaches the store file") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  std::vector<ReferenceKey> keys;
  for (const auto& kind : kKinds) {
    keys.push_back(referenceKey(kind.reference));
    alice->keyImport(std::string("k-") + kind.reference, kind.type,
                     Bytes(keys.back().privatePem.begin(), keys.back().privatePem.end()));
  }
  keyd.stop();  // everything on disk
  for (const auto& entry : std::filesystem::directory_iterator(keyd.store())) {
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes file{std::istreambuf_iterator<char>(in), {}};
    for (const auto& key : keys) {
      CHECK_FALSE(contains(file, key.secret));
      CHECK_FALSE(contains(file, Bytes(key.secret.begin(), key.secret.begin() + 16)));
    }
  }
  keyd.start();
}

TEST_CASE("a certificate kept beside a key pair is checked when set and when handed out") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto bob = keyd.newUser("bob", "pw2");
  alice->keyGenerate("e", KeyType::EC_P256);
  alice->keyGenerate("r", KeyType::RSA);
  alice->keyGenerate("h", KeyType::HMAC);
  auto certificate = referenceCertificate(alice->keyPublic("e"), "e");

  CHECK_FALSE(alice->keyInfo("e").hasCertificate);
  CHECK(refusalOf([&] { alice->keyCertificate("e"); }) == ErrorCode::UNKNOWN_KEY);
  alice->keyCertificateSet("e", certificate);
  CHECK(alice->keyInfo("e").hasCertificate);
  CHECK(alice->keyCertificate("e") == certificate);
  CHECK(alice->keyList()[0].hasCertificate);

  // Only the certificate of the key's own public key, one exact DER certificate, of a pair.
  CHECK(refusalOf([&] { alice->keyCertificateSet("r", certificate); }) ==
        ErrorCode::KEY_TYPE_MISMATCH);
  CHECK(refusalOf([&] { alice->keyCertificateSet("h", certificate); }) ==
        ErrorCode::KEY_TYPE_MISMATCH);
  CHECK(refusalOf([&] { alice->keyCertificateSet("none", certificate); }) ==
        ErrorCode::UNKNOWN_KEY);
  auto trailing = certificate;
  trailing.push_back(0);
  CHECK(refusalOf([&] { alice->keyCertificateSet("e", trailing); }) == ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyCertificateSet("e", bytesOf("not a certificate")); }) ==
        ErrorCode::INVALID_ARGUMENT);
  // BER inside the signed part: the serial number's length in long form (02 81 02 for 02 02),
  // the certificate's and the signed part's lengths one more.
  const uint8_t serial[] = {0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x02, 0x10, 0x92};
  auto at = std::search(certificate.begin(), certificate.end(), serial, serial + sizeof serial);
  REQUIRE(at != certificate.end());
  auto ber = certificate;
  ber.insert(ber.begin() + (at - certificate.begin()) + 6, 0x81);
  auto grow = [&](size_t tag) {  // the TLV at tag has a long-form length; returns its value
    size_t n = ber[tag + 1] & 0x7f;
    REQUIRE((ber[tag + 1] & 0x80));
    unsigned length = 0;
    for (size_t i = 0; i < n; ++i) length = length << 8 | ber[tag + 2 + i];
    ++length;
    for (size_t i = n; i-- > 0; length >>= 8) ber[tag + 2 + i] = uint8_t(length);
    return tag + 2 + n;
  };
  grow(grow(0));
  CHECK(refusalOf([&] { alice->keyCertificateSet("e", ber); }) == ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { alice->keyCertificateSet("e", Bytes(16 * 1024 + 1, 0x30)); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(alice->keyCertificate("e") == certificate);  // refusals changed nothing

  // Another user's key of the same id is not reachable.
  bob->keyGenerate("e", KeyType::EC_P256);
  CHECK(refusalOf([&] { bob->keyCertificate("e"); }) == ErrorCode::UNKNOWN_KEY);
  CHECK(refusalOf([&] { bob->keyCertificateSet("e", certificate); }) ==
        ErrorCode::KEY_TYPE_MISMATCH);

  // Replacing one removes one: create and delete both needed.
  auto carol = keyd.newUser("carol", "pw3", {"host"}, {true, true, false, false, false});
  carol->keyGenerate("c", KeyType::EC_P256);
  auto carols = referenceCertificate(carol->keyPublic("c"), "c");
  carol->keyCertificateSet("c", carols);
  CHECK(refusalOf([&] { carol->keyCertificateSet("c", carols); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { carol->keyCertificateSet("c", {}); }) == ErrorCode::PERMISSION_DENIED);
  alice->keyCertificateSet("e", referenceCertificate(alice->keyPublic("e"), "e2"));
  CHECK(alice->keyCertificate("e") != certificate);
  alice->keyCertificateSet("e", certificate);

  // The certificate goes with its key, and can go alone.
  alice->keyCertificateSet("e", {});
  CHECK_FALSE(alice->keyInfo("e").hasCertificate);
  alice->keyCertificateSet("e", certificate);
  alice->keyDelete("e");
  alice->keyGenerate("e", KeyType::EC_P256);
  CHECK(refusalOf([&] { alice->keyCertificate("e"); }) == ErrorCode::UNKNOWN_KEY);

  // Someone with the store's file puts another key's certificate there: keyd will not hand
  // it out, since it checks against the key's public key each time.
  alice->keyCertificateSet("r", referenceCertificate(alice->keyPublic("r"), "r"));
  keyd.stop();
  {
    auto store = store::Store::open(keyd.store());
    store->write([&](store::WriteTxn& txn) {
      auto key = txn.key("alice", "r");
      REQUIRE(key);
      key->certificate = certificate;  // the old "e"'s
      txn.putKey(*key, true);
    });
  }
  keyd.start();
  auto again = keyd.client();
  again->login("alice", "pw");
  CHECK(refusalOf([&] { again->keyCertificate("r"); }) == ErrorCode::KEY_TYPE_MISMATCH);
  auto audit = keyd.root()->auditList();
  size_t sets = 0;
  for (const auto& r : audit)
    if (r.action == "keyCertificateSet" && r.result == ErrorCode::OK) ++sets;
  CHECK(sets == 7);  // alice: set, replaced, set back, removed, set, on "r"; carol: set
}
