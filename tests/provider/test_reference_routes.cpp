// Issue "command lines work as typed": a `vhsm:` reference given where OpenSSL takes key bytes
// is computed in keyd whatever the load order and configuration, and never becomes the bytes of
// a key. Every cell of the matrix — load order × configuration × route × key kind — runs the
// real `openssl` binary or route_probe (plain EVP calls) and must equal the default provider's
// result on the real key bytes, or fail with a vhsm error; none may equal the result keyed with
// the reference's text.
#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/provider/provider_env.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;
using namespace std::string_literals;

namespace {

std::string lowerHex(const CommandResult& r) {
  std::string s = r.out.substr(0, r.out.find_first_of(" \n"));
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Setup {
  std::string name;
  std::vector<std::string> env;      // OPENSSL_CONF and, without a file, the VHSM_* variables
  std::vector<std::string> cliArgs;  // -provider options for the openssl binary
  std::string probeLoad;             // route_probe's LOAD argument
};

struct Key {
  std::string text;         // what the application is given as key bytes
  Bytes hmac, aes, aes128;  // the real key bytes the result must be computed with
};

Bytes padded(const std::string& text, size_t n) {
  Bytes b(text.begin(), text.end());
  b.resize(n, 0);
  return b;
}

}  // namespace

TEST_CASE("a vhsm reference computes in keyd in every load order and configuration") {
  ProviderEnv env;
  TempDir dir;
  auto hmacKey = randomBytes(20), aesKey = randomBytes(32), aes128Key = randomBytes(16);
  env.alice().keyImport("h1", KeyType::HMAC, hmacKey);
  env.alice().keyImport("a1", KeyType::AES, aesKey);
  env.alice().keyImport("a2", KeyType::AES, aes128Key);
  auto data = randomBytes(3000);
  auto file = writeFile(dir, "data", data);
  auto passwordFile = writeFile(dir, "password", std::string(ProviderEnv::kPassword));

  ProviderOptions activateOnly, propertiesFirst;
  activateOnly.globalPreference = false;
  propertiesFirst.propertiesFirst = true;
  auto modules = std::filesystem::path(providerModule()).parent_path().string();
  // No openssl.cnf at all: the provider is configured by its environment variables.
  auto withBare = providerProcessEnv("/dev/null");
  for (auto e : {"OPENSSL_MODULES=" + modules, "VHSM_SOCKET=" + env.keyd().socket(),
                 "VHSM_USER=alice"s, "VHSM_PASSWORD_FILE=" + passwordFile})
    withBare.push_back(e);
  auto withConfig = [](const std::string& config) { return providerProcessEnv(config); };

  std::vector<Setup> setups = {
      {"no config, -provider vhsm -provider default",
       withBare,
       {"-provider-path", modules, "-provider", "vhsm", "-provider", "default"},
       "vhsm,default"},
      {"no config, -provider default -provider vhsm",
       withBare,
       {"-provider-path", modules, "-provider", "default", "-provider", "vhsm"},
       "default,vhsm"},
      {"config activates vhsm, no default_properties",
       withConfig(env.writeConfig(activateOnly, env.keyd().socket())),
       {},
       "config"},
      {"config activates vhsm with default_properties = ?provider=vhsm",
       withConfig(env.config()),
       {},
       "config"},
      {"config with default_properties processed before vhsm loads",
       withConfig(env.writeConfig(propertiesFirst, env.keyd().socket())),
       {},
       "config"},
  };

  // A plain key given as text: the same routes must compute it in-process, as before.
  std::string plainText = "plain-" + toHex(randomBytes(8));
  std::vector<Key> keys = {{"vhsm:h1", hmacKey, aesKey, aes128Key},
                           {plainText, Bytes(plainText.begin(), plainText.end()),
                            padded(plainText, 32), padded(plainText, 16)}};
  auto textHmac = toHex(referenceHmac("SHA256", Bytes{'v', 'h', 's', 'm', ':', 'h', '1'}, data));

  Bytes iv;
  for (uint8_t i = 1; i <= 12; ++i) iv.push_back(i);
  std::string aad = "route probe";
  Bytes aadBytes(aad.begin(), aad.end());
  aadBytes.push_back(0);  // sizeof of the literal: its terminating zero is part of the AAD

  for (const auto& setup : setups) {
    for (const auto& key : keys) {
      bool reference = key.text.rfind("vhsm:", 0) == 0;
      auto expectedMac = toHex(referenceHmac("SHA256", key.hmac, data));
      auto gcm = referenceGcmEncrypt(key.aes, iv, aadBytes, data);
      Bytes sealed = gcm.ciphertext;
      sealed.insert(sealed.end(), gcm.tag.begin(), gcm.tag.end());
      auto expectedGcm = toHex(sealed);
      auto gcm128 = referenceGcmEncrypt(key.aes128, iv, aadBytes, data);
      Bytes sealed128 = gcm128.ciphertext;
      sealed128.insert(sealed128.end(), gcm128.tag.begin(), gcm128.tag.end());
      std::string aesText = reference ? "vhsm:a1" : key.text;
      std::string aes128Text = reference ? "vhsm:a2" : key.text.substr(0, 16);

      auto check = [&](const std::string& route, const CommandResult& r,
                       const std::string& expected) {
        INFO(setup.name << " | " << route << " | key " << (reference ? "reference" : "plain"));
        INFO(r.err);
        if (r.status == 0) {
          CHECK(lowerHex(r) == expected);
        } else {
          CHECK(r.err.find("vhsm") != std::string::npos);  // failed, and says why
          FAIL_CHECK("no computation");  // every cell of this matrix is expected to work
        }
        CHECK(lowerHex(r) != textHmac);
      };

      auto cli = [&](std::vector<std::string> args) {
        args.insert(args.begin(), opensslBinary());
        args.insert(args.begin() + 2, setup.cliArgs.begin(), setup.cliArgs.end());
        return runCommand(args, "", setup.env);
      };
      check("openssl dgst -mac HMAC -macopt key:",
            cli({"dgst", "-sha256", "-r", "-mac", "HMAC", "-macopt", "key:" + key.text, file}),
            expectedMac);
      check("openssl dgst -hmac", cli({"dgst", "-sha256", "-r", "-hmac", key.text, file}),
            expectedMac);
      check("openssl mac",
            cli({"mac", "-digest", "SHA256", "-macopt", "key:" + key.text, "-in", file, "HMAC"}),
            expectedMac);
      for (const char* route : {"evp-mac", "pkey-hmac", "q-mac"})
        check(
            route,
            runCommand({ROUTE_PROBE_BINARY, setup.probeLoad, route, key.text, file}, "", setup.env),
            expectedMac);
      for (const char* route : {"gcm", "gcm-implicit"})
        check(
            route,
            runCommand({ROUTE_PROBE_BINARY, setup.probeLoad, route, aesText, file}, "", setup.env),
            expectedGcm);
    }
  }
}

TEST_CASE("preference = none leaves unqualified fetches to OpenSSL's own order") {
  // The documented opt-out, and the proof that the preference is what routes references: with
  // it off and no default_properties, OpenSSL's first provider by name ("default") keys its HMAC
  // with the reference's text; an explicit query still reaches vhsm.
  ProviderOptions none;
  none.globalPreference = false;
  none.extraSectionLines = "preference = none\n";
  ProviderEnv env(none);
  TempDir dir;
  auto hmacKey = randomBytes(20);
  env.alice().keyImport("h1", KeyType::HMAC, hmacKey);
  auto data = randomBytes(100);
  auto file = writeFile(dir, "data", data);
  auto mac = [&](std::vector<std::string> query) {
    std::vector<std::string> args = {"mac",         "-digest", "SHA256", "-macopt",
                                     "key:vhsm:h1", "-in",     file,     "HMAC"};
    args.insert(args.begin() + 1, query.begin(), query.end());
    return openssl(env.config(), args);
  };
  auto explicitQuery = mac({"-propquery", "provider=vhsm"});
  INFO(explicitQuery.err);
  CHECK(lowerHex(explicitQuery) == toHex(referenceHmac("SHA256", hmacKey, data)));
  auto unqualified = mac({});
  CHECK(lowerHex(unqualified) ==
        toHex(referenceHmac("SHA256", Bytes{'v', 'h', 's', 'm', ':', 'h', '1'}, data)));
}
