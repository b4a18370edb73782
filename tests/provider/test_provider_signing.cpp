// Signing keys through the provider with the real openssl binary and no property query:
// store loader (`vhsm:<id>`), public-key encoders, signatures verified by the default provider,
// self-signed certificates, and `s_server` serving s_client and curl over TLS 1.2 and 1.3 with
// every key type and signature scheme.
#include <catch2/catch.hpp>
#include <vhsm/pem.hpp>

#include "tests/provider/provider_env.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

struct Kind {
  KeyType type;
  const char* id;
};
const Kind kKinds[] = {{KeyType::EC_P256, "ec256"},
                       {KeyType::EC_P384, "ec384"},
                       {KeyType::ED25519, "ed"},
                       {KeyType::RSA, "rsa"}};

ProviderOptions noPreference() {
  ProviderOptions o;
  o.globalPreference = false;
  return o;
}

// The default provider alone, as a peer that knows nothing of vhsm would run openssl.
CommandResult plainOpenssl(std::vector<std::string> args) {
  args.insert(args.begin(), opensslBinary());
  return runCommand(args, "", {"OPENSSL_CONF=/dev/null"});
}

// A self-signed certificate for the key, made through vhsm.
std::string certificateFor(const ProviderEnv& env, const TempDir& dir, const std::string& id) {
  auto cert = (dir.path() / (id + ".crt")).string();
  auto r = openssl(env.config(), {"req", "-new", "-x509", "-key", "vhsm:" + id, "-subj",
                                  "/CN=localhost", "-days", "2", "-out", cert});
  INFO(r.err);
  REQUIRE(r.status == 0);
  return cert;
}

struct TlsRun {
  std::string sClient, curl;
};

// s_server with the vhsm key; one s_client and one curl exchange against it.
TlsRun serveOnce(const std::string& config, const TempDir& dir, const std::string& id,
                 const std::string& cert, const std::string& version,
                 const std::vector<std::string>& clientExtra = {}, bool clientThroughVhsm = false) {
  int port = freePort();
  BackgroundProcess server(
      {opensslBinary(), "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-key",
       "vhsm:" + id, "-cert", cert, "-www", version},
      providerProcessEnv(config), dir.path() / ("s_server-" + id + ".log"));
  REQUIRE(waitForPort(port));
  std::vector<std::string> sClient = {
      opensslBinary(), "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
      version,         "-CAfile",  cert,       "-verify_return_error",
      "-ign_eof"};
  sClient.insert(sClient.end(), clientExtra.begin(), clientExtra.end());
  TlsRun run;
  auto clientEnv = clientThroughVhsm ? providerProcessEnv(config)
                                     : std::vector<std::string>{"OPENSSL_CONF=/dev/null"};
  run.sClient = runCommand(sClient, "GET / HTTP/1.0\r\n\r\n", clientEnv).out;
  auto curl = runCommand({"/usr/bin/curl", "-sS", "--cacert", cert, "--resolve",
                          "localhost:" + std::to_string(port) + ":127.0.0.1",
                          version == "-tls1_2" ? "--tls-max" : "--tlsv1.3",
                          version == "-tls1_2" ? "1.2" : "--tlsv1.3",
                          "https://localhost:" + std::to_string(port) + "/"});
  run.curl = curl.out + curl.err;
  return run;
}

}  // namespace

TEST_CASE("openssl pkey exports the public key of a vhsm key, and nothing private") {
  ProviderEnv env(noPreference());
  TempDir dir;
  for (const auto& kind : kKinds) {
    INFO(kind.id);
    env.alice().keyGenerate(kind.id, kind.type);
    auto pub = openssl(env.config(), {"pkey", "-in", std::string("vhsm:") + kind.id, "-pubout",
                                      "-outform", "DER"});
    INFO(pub.err);
    CHECK(pub.status == 0);
    CHECK(Bytes(pub.out.begin(), pub.out.end()) == env.alice().keyPublic(kind.id));
    auto priv = openssl(env.config(), {"pkey", "-in", std::string("vhsm:") + kind.id});
    CHECK(priv.status != 0);
    CHECK(priv.out.find("PRIVATE KEY") == std::string::npos);
  }
}

TEST_CASE(
    "openssl dgst -sign, pkeyutl -sign and req -x509 with vhsm keys verify with the default "
    "provider") {
  ProviderEnv env(noPreference());
  TempDir dir;
  auto message = writeFile(dir, "message", randomBytes(3000));
  for (const auto& kind : kKinds) {
    INFO(kind.id);
    std::string uri = std::string("vhsm:") + kind.id;
    env.alice().keyGenerate(kind.id, kind.type);
    auto pub = writeFile(dir, std::string(kind.id) + ".pub",
                         openssl(env.config(), {"pkey", "-in", uri, "-pubout"}).out);
    auto sig = (dir.path() / (std::string(kind.id) + ".sig")).string();
    if (kind.type == KeyType::ED25519) {
      auto s = openssl(env.config(),
                       {"pkeyutl", "-sign", "-inkey", uri, "-rawin", "-in", message, "-out", sig});
      INFO(s.err);
      REQUIRE(s.status == 0);
      auto v = plainOpenssl({"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in",
                             message, "-sigfile", sig});
      CHECK(v.out.find("Signature Verified Successfully") != std::string::npos);
    } else {
      for (const char* md : {"-sha256", "-sha384", "-sha512"}) {
        auto s = openssl(env.config(), {"dgst", md, "-sign", uri, "-out", sig, message});
        INFO(md << s.err);
        REQUIRE(s.status == 0);
        auto v = plainOpenssl({"dgst", md, "-verify", pub, "-signature", sig, message});
        CHECK(v.out.find("Verified OK") != std::string::npos);
      }
      auto digest = writeFile(dir, "digest", referenceDigest("SHA256", bytesOf(readFile(message))));
      auto s = openssl(env.config(), {"pkeyutl", "-sign", "-inkey", uri, "-in", digest, "-pkeyopt",
                                      "digest:sha256", "-out", sig});
      INFO(s.err);
      REQUIRE(s.status == 0);
      auto v = plainOpenssl({"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", digest,
                             "-sigfile", sig, "-pkeyopt", "digest:sha256"});
      CHECK(v.out.find("Signature Verified Successfully") != std::string::npos);
    }
    auto cert = certificateFor(env, dir, kind.id);
    auto verified = plainOpenssl({"verify", "-CAfile", cert, cert});
    CHECK(verified.out.find(": OK") != std::string::npos);
  }
  // RSA-PSS through dgst, verified with the salt length recovered.
  auto pub = (dir.path() / "rsa.pub").string();
  auto sig = (dir.path() / "pss.sig").string();
  auto s = openssl(env.config(),
                   {"dgst", "-sha384", "-sign", "vhsm:rsa", "-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:max", "-out", sig, message});
  REQUIRE(s.status == 0);
  auto v = plainOpenssl({"dgst", "-sha384", "-verify", pub, "-sigopt", "rsa_padding_mode:pss",
                         "-sigopt", "rsa_pss_saltlen:auto", "-signature", sig, message});
  CHECK(v.out.find("Verified OK") != std::string::npos);
}

// `openssl pkey -in FILE` and every `-key FILE` open the file through OSSL_STORE's file:
// loader, which is the default provider's: the URI PEM must reach vhsm's decoders from there.
TEST_CASE("openssl takes the key URI PEM file wherever it takes a key file") {
  ProviderEnv env(noPreference());
  TempDir dir;
  auto message = writeFile(dir, "message", randomBytes(500));
  for (const auto& kind : kKinds) {
    INFO(kind.id);
    env.alice().keyGenerate(kind.id, kind.type);
    auto file = writeFile(dir, std::string(kind.id) + ".vhsm.pem", keyUriPem(kind.id));
    auto pub = openssl(env.config(), {"pkey", "-in", file, "-pubout", "-outform", "DER"});
    INFO(pub.err);
    CHECK(pub.status == 0);
    CHECK(Bytes(pub.out.begin(), pub.out.end()) == env.alice().keyPublic(kind.id));
    auto pubPem = writeFile(dir, std::string(kind.id) + ".pub",
                            openssl(env.config(), {"pkey", "-in", file, "-pubout"}).out);
    auto sig = (dir.path() / (std::string(kind.id) + ".sig")).string();
    auto s = openssl(env.config(), {"pkeyutl", "-sign", "-inkey", file, "-rawin", "-digest",
                                    "sha256", "-in", message, "-out", sig});
    if (kind.type == KeyType::ED25519)
      s = openssl(env.config(),
                  {"pkeyutl", "-sign", "-inkey", file, "-rawin", "-in", message, "-out", sig});
    INFO(s.err);
    REQUIRE(s.status == 0);
    std::vector<std::string> verify = {"pkeyutl", "-verify", "-pubin", "-inkey",   pubPem,
                                       "-rawin",  "-in",     message,  "-sigfile", sig};
    if (kind.type != KeyType::ED25519) verify.insert(verify.end(), {"-digest", "sha256"});
    CHECK(plainOpenssl(verify).out.find("Signature Verified Successfully") != std::string::npos);
    // Still a reference: nothing private comes out of it.
    auto priv = openssl(env.config(), {"pkey", "-in", file});
    CHECK(priv.status != 0);
    CHECK(priv.out.find("PRIVATE KEY") == std::string::npos);
  }
  // One object at a time: a certificate before the URI block, and an ordinary key before a
  // malformed one, each still read as before.
  auto cert = certificateFor(env, dir, "ec256");
  auto both = writeFile(dir, "cert-and-key.pem", readFile(cert) + keyUriPem("ec256"));
  auto fromBoth = openssl(env.config(), {"pkey", "-in", both, "-pubout", "-outform", "DER"});
  INFO(fromBoth.err);
  CHECK(Bytes(fromBoth.out.begin(), fromBoth.out.end()) == env.alice().keyPublic("ec256"));
  auto bad = std::string("-----BEGIN VHSM KEY URI-----\ndmhzbTpiYWQgaWQ=\n") +
             "-----END VHSM KEY URI-----\n";  // "vhsm:bad id"
  auto badFile = writeFile(dir, "bad.vhsm.pem", bad);
  auto refused = openssl(env.config(), {"pkey", "-in", badFile, "-pubout"});
  CHECK(refused.status != 0);
  CHECK(refused.err.find("names no valid vhsm:<id>") != std::string::npos);
}

// vhsm's decoders are offered every key file once vhsm is loaded (OpenSSL tries them for any
// DER when no structure is asked for): ordinary files must read exactly as without vhsm.
TEST_CASE("ordinary key files read as before with vhsm loaded, under either preference") {
  TempDir dir;
  auto sec1 = (dir.path() / "sec1.pem").string();  // EC PARAMETERS, then EC PRIVATE KEY
  REQUIRE(plainOpenssl({"ecparam", "-genkey", "-name", "prime256v1", "-out", sec1}).status == 0);
  auto ed = (dir.path() / "ed.pem").string();
  REQUIRE(plainOpenssl({"genpkey", "-algorithm", "ED25519", "-out", ed}).status == 0);
  auto rsa = (dir.path() / "rsa.pem").string();
  REQUIRE(plainOpenssl(
              {"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa})
              .status == 0);
  auto sec1Der = (dir.path() / "sec1.der").string();
  REQUIRE(plainOpenssl({"ec", "-in", sec1, "-outform", "DER", "-out", sec1Der}).status == 0);
  for (bool global : {false, true}) {
    ProviderOptions o;
    o.globalPreference = global;
    ProviderEnv env(o);
    for (const auto& [file, form] : std::vector<std::pair<std::string, std::string>>{
             {sec1, "PEM"}, {ed, "PEM"}, {rsa, "PEM"}, {sec1Der, "DER"}}) {
      INFO(file << (global ? " under ?provider=vhsm" : ""));
      auto expected = plainOpenssl({"pkey", "-inform", form, "-in", file, "-pubout"});
      REQUIRE(expected.status == 0);
      auto r = openssl(env.config(), {"pkey", "-inform", form, "-in", file, "-pubout"});
      INFO(r.err);
      CHECK(r.status == 0);
      CHECK(r.out == expected.out);
    }
  }
}

TEST_CASE("openssl names the reason when a vhsm key cannot be used") {
  ProviderEnv env(noPreference());
  env.alice().keyGenerate("mac", KeyType::HMAC);
  auto unknown = openssl(env.config(), {"pkey", "-in", "vhsm:nope", "-pubout"});
  CHECK(unknown.status != 0);
  CHECK(unknown.err.find("unknown key") != std::string::npos);
  auto usage = openssl(env.config(), {"pkey", "-in", "vhsm:mac", "-pubout"});
  CHECK(usage.status != 0);
  CHECK(usage.err.find("key usage not permitted") != std::string::npos);
  env.alice().keyGenerate("ec", KeyType::EC_P256);
  TempDir dir;
  auto message = writeFile(dir, "message", randomBytes(100));
  auto sha3 = openssl(env.config(), {"dgst", "-sha3-256", "-sign", "vhsm:ec", message});
  INFO(sha3.err);
  CHECK(sha3.status != 0);
  CHECK(sha3.err.find("vhsm signs SHA-1, SHA-256, SHA-384 and SHA-512 digests, not SHA3-256") !=
        std::string::npos);
}

TEST_CASE("openssl s_server with a vhsm key serves s_client and curl over TLS 1.2 and 1.3") {
  ProviderEnv env(noPreference());
  TempDir dir;
  for (const auto& kind : kKinds) {
    env.alice().keyGenerate(kind.id, kind.type);
    auto cert = certificateFor(env, dir, kind.id);
    for (std::string version : {"-tls1_2", "-tls1_3"}) {
      INFO(kind.id << " " << version);
      auto run = serveOnce(env.config(), dir, kind.id, cert, version);
      CHECK(run.sClient.find(version == "-tls1_2" ? "TLSv1.2" : "TLSv1.3") != std::string::npos);
      CHECK(run.sClient.find("Verify return code: 0 (ok)") != std::string::npos);
      CHECK(run.sClient.find("HTTP/1.0 200 ok") != std::string::npos);
      CHECK(run.curl.find("<HTML>") != std::string::npos);
    }
  }
  // RSA's two signature schemes, each forced from the client side.
  auto cert = (dir.path() / "rsa.crt").string();
  auto pkcs1 = serveOnce(env.config(), dir, "rsa", cert, "-tls1_2", {"-sigalgs", "RSA+SHA256"});
  // s_client names the scheme by its key type up to OpenSSL 3.4, by its TLS name from 3.5.
  CHECK((pkcs1.sClient.find("Peer signature type: RSA\n") != std::string::npos ||
         pkcs1.sClient.find("Peer signature type: rsa_pkcs1_sha256") != std::string::npos));
  CHECK(pkcs1.sClient.find("Verify return code: 0 (ok)") != std::string::npos);
  auto pss =
      serveOnce(env.config(), dir, "rsa", cert, "-tls1_3", {"-sigalgs", "rsa_pss_rsae_sha384"});
  CHECK((pss.sClient.find("Peer signature type: RSA-PSS") != std::string::npos ||
         pss.sClient.find("Peer signature type: rsa_pss_rsae_sha384") != std::string::npos));
  CHECK(pss.sClient.find("Verify return code: 0 (ok)") != std::string::npos);
}

TEST_CASE("TLS with a vhsm key also works under the global ?provider=vhsm preference") {
  ProviderEnv env;  // default_properties = ?provider=vhsm: ECDHE keys, HMACs, records via vhsm
  TempDir dir;
  env.alice().keyGenerate("ec", KeyType::EC_P256);
  auto cert = certificateFor(env, dir, "ec");
  for (std::string version : {"-tls1_2", "-tls1_3"}) {
    INFO(version);
    // P-256 for the key exchange too, so vhsm's key management makes the ephemeral keys on
    // both sides, and the client decodes and verifies the certificate under the preference.
    auto run = serveOnce(env.config(), dir, "ec", cert, version, {"-groups", "P-256"}, true);
    // "Server Temp Key" up to OpenSSL 3.4, "Peer Temp Key" from 3.5.
    CHECK(run.sClient.find(" Temp Key: ECDH, prime256v1") != std::string::npos);
    CHECK(run.sClient.find("Verify return code: 0 (ok)") != std::string::npos);
    CHECK(run.sClient.find("HTTP/1.0 200 ok") != std::string::npos);
  }
}
