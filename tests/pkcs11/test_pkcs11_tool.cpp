// OpenSC's pkcs11-tool, unmodified, with libvhsm-pkcs11.so: what a user types to list the token,
// make keys, sign, verify, hash and run its own self-test — results checked against OpenSSL.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

constexpr const char* kPin = "alice-password";

struct Tool {
  Keyd keyd;
  std::unique_ptr<Client> alice = keyd.newUser("alice", kPin);
  TempDir dir;

  CommandResult run(std::vector<std::string> args, bool login = true) {
    args.insert(args.begin(), {"/usr/bin/pkcs11-tool", "--module", VHSM_PKCS11_MODULE});
    if (login) args.insert(args.end(), {"--login", "--pin", kPin});
    std::vector<std::string> env = {"VHSM_SOCKET=" + keyd.socket(), "VHSM_USER=alice"};
#ifdef SANITIZER_PRELOAD
    // pkcs11-tool is not instrumented: a sanitized module needs the runtimes loaded first.
    env.push_back("LD_PRELOAD=" SANITIZER_PRELOAD);
    env.push_back("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0");
#endif
    return runCommand(args, "", env);
  }
  std::string file(const std::string& name, const Bytes& data) {
    auto path = (dir.path() / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
    return path;
  }
  Bytes read(const std::string& name) {
    std::ifstream in(dir.path() / name, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }
  std::string path(const std::string& name) {
    return (dir.path() / name).string();
  }
};

std::string hexId(const std::string& id) {
  return toHex(Bytes(id.begin(), id.end()));
}

}  // namespace

TEST_CASE("pkcs11-tool lists the token and the user's keys") {
  Tool t;
  t.alice->keyGenerate("web", KeyType::EC_P256);
  auto slots = t.run({"--list-slots"}, false);
  INFO(slots.out << slots.err);
  CHECK(slots.status == 0);
  CHECK(slots.out.find("token label        : alice") != std::string::npos);
  auto objects = t.run({"--list-objects"});
  INFO(objects.out << objects.err);
  CHECK(objects.status == 0);
  CHECK(objects.out.find("Private Key Object; EC") != std::string::npos);
  CHECK(objects.out.find("label:      web") != std::string::npos);
  CHECK(objects.out.find("Access:     sensitive") != std::string::npos);

  // A certificate written beside the key is kept by keyd and listed, and can be deleted.
  auto certificate = t.file("web.der", referenceCertificate(t.alice->keyPublic("web"), "web"));
  auto written = t.run(
      {"--write-object", certificate, "--type", "cert", "--id", hexId("web"), "--label", "web"});
  INFO(written.out << written.err);
  CHECK(written.status == 0);
  CHECK(t.alice->keyCertificate("web") == t.read("web.der"));
  auto listed = t.run({"--list-objects", "--type", "cert"});
  CHECK(listed.out.find("Certificate Object; type = X.509 cert") != std::string::npos);
  CHECK(listed.out.find("subject:    DN: CN=web") != std::string::npos);
  auto removed = t.run({"--delete-object", "--type", "cert", "--id", hexId("web")});
  CHECK(removed.status == 0);
  CHECK_FALSE(t.alice->keyInfo("web").hasCertificate);
}

TEST_CASE("pkcs11-tool makes keys in keyd and signs, verifies and hashes with them") {
  Tool t;
  struct Pair {
    const char* keyType;
    const char* id;
    const char* mechanism;
    SignatureParams params;
  };
  const Pair pairs[] = {{"EC:prime256v1", "ec", "ECDSA-SHA256", {"SHA256"}},
                        {"EC:edwards25519", "ed", "EDDSA", {}},
                        {"rsa:2048", "rsa", "SHA256-RSA-PKCS-PSS", {"SHA256", true, 32}}};
  auto message = t.file("message", randomBytes(5000));
  for (const auto& p : pairs) {
    INFO(p.id);
    auto made =
        t.run({"--keypairgen", "--key-type", p.keyType, "--label", p.id, "--id", hexId(p.id)});
    INFO(made.out << made.err);
    REQUIRE(made.status == 0);
    auto sign = t.run({"--sign", "-m", p.mechanism, "--id", hexId(p.id), "-i", message, "-o",
                       t.path(std::string(p.id) + ".sig")});
    INFO(sign.err);
    REQUIRE(sign.status == 0);
    auto verify = t.run({"--verify", "-m", p.mechanism, "--id", hexId(p.id), "-i", message,
                         "--signature-file", t.path(std::string(p.id) + ".sig")});
    CHECK(verify.out.find("Signature is valid") != std::string::npos);
    // OpenSSL agrees, from keyd's public key (pkcs11-tool's ECDSA output is r||s).
    Bytes signature = t.read(std::string(p.id) + ".sig");
    if (std::string(p.id) == "ec") {
      auto der = t.run({"--sign", "-m", p.mechanism, "--id", hexId(p.id), "-i", message,
                        "--signature-format", "openssl", "-o", t.path("ec.der")});
      REQUIRE(der.status == 0);
      signature = t.read("ec.der");
    }
    CHECK(referenceVerify(t.alice->keyPublic(p.id), p.params, t.read("message"), signature));
  }

  auto secret =
      t.run({"--keygen", "--key-type", "GENERIC:32", "--label", "mac", "--id", hexId("mac")});
  INFO(secret.err);
  REQUIRE(secret.status == 0);
  CHECK(t.alice->keyInfo("mac").type == KeyType::HMAC);
  auto aes = t.run({"--keygen", "--key-type", "AES:32", "--label", "aes", "--id", hexId("aes")});
  REQUIRE(aes.status == 0);
  CHECK(t.alice->keyInfo("aes").bits == 256);

  // HMAC with a key of known bytes, against OpenSSL's. (pkcs11-tool 0.23 has no AES-GCM.)
  auto hmacKey = randomBytes(32);
  t.alice->keyImport("known", KeyType::HMAC, hmacKey);
  auto mac = t.run(
      {"--sign", "-m", "SHA256-HMAC", "--id", hexId("known"), "-i", message, "-o", t.path("mac")});
  INFO(mac.err);
  REQUIRE(mac.status == 0);
  CHECK(t.read("mac") == referenceHmac("SHA256", hmacKey, t.read("message")));
  auto macVerify = t.run({"--verify", "-m", "SHA256-HMAC", "--id", hexId("known"), "-i", message,
                          "--signature-file", t.path("mac")});
  CHECK(macVerify.out.find("Signature is valid") != std::string::npos);

  auto hash = t.run({"--hash", "-m", "SHA256", "-i", message, "-o", t.path("digest")}, false);
  REQUIRE(hash.status == 0);
  CHECK(t.read("digest") == referenceDigest("SHA256", t.read("message")));

  auto removed = t.run({"--delete-object", "--type", "privkey", "--id", hexId("rsa")});
  INFO(removed.err);
  CHECK(removed.status == 0);
  CHECK_THROWS(t.alice->keyInfo("rsa"));
}

TEST_CASE("pkcs11-tool's own tests pass, across fork too") {
  Tool t;
  t.alice->keyGenerate("rsa", KeyType::RSA);
  t.alice->keyGenerate("ec", KeyType::EC_P256);
  auto test = t.run({"--test"});
  INFO(test.out << test.err);
  CHECK(test.status == 0);
  CHECK(test.out.find("No errors") != std::string::npos);
  auto fork = t.run({"--test-fork"});
  INFO(fork.out << fork.err);
  CHECK(fork.status == 0);
}
