// `key generate|import|list|info|delete|public|certificate|uri|uri-pem` for the acting user's
// own keys.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include <vhsm/pem.hpp>
#include "tools/admin/context.hpp"

namespace vhsm::admin {
namespace {

struct KeyArgs {
  std::string id, type, in, hex;
  uint32_t bits = 0;
  bool pkcs11 = false, remove = false;
};

struct TypeName {
  KeyType type;
  const char* name;
};
constexpr TypeName kTypes[] = {{KeyType::HMAC, "hmac"},       {KeyType::AES, "aes"},
                               {KeyType::EC_P256, "ec-p256"}, {KeyType::EC_P384, "ec-p384"},
                               {KeyType::ED25519, "ed25519"}, {KeyType::RSA, "rsa"}};

// RFC 7512's percent-encoding: everything but its unreserved characters.
std::string percentEncoded(const std::string& text, bool all) {
  std::string out;
  for (unsigned char c : text) {
    if (!all && (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')) {
      out += char(c);
    } else {
      char code[4];
      std::snprintf(code, sizeof code, "%%%02X", c);
      out += code;
    }
  }
  return out;
}

// The key's objects as libvhsm-pkcs11.so shows them: the token is the user, CKA_ID and
// CKA_LABEL the key id; a key pair is named by its private key.
std::string pkcs11Uri(const std::string& user, const KeyInfo& key) {
  bool secret = key.type == KeyType::HMAC || key.type == KeyType::AES;
  return "pkcs11:manufacturer=vhsm;token=" + percentEncoded(user, false) +
         ";id=" + percentEncoded(key.id, true) + ";object=" + percentEncoded(key.id, false) +
         ";type=" + (secret ? "secret-key" : "private");
}

KeyType parseType(const std::string& type) {
  for (const auto& t : kTypes)
    if (type == t.name) return t.type;
  throw std::runtime_error("unknown key type " + type +
                           " (hmac, aes, ec-p256, ec-p384, ed25519, rsa)");
}

const char* typeText(KeyType type) {
  for (const auto& t : kTypes)
    if (type == t.type) return t.name;
  return "unknown";
}

const char* usageText(KeyUsage usage) {
  switch (usage) {
    case KeyUsage::MAC: return "mac";
    case KeyUsage::ENCRYPT: return "encrypt";
    case KeyUsage::SIGN: return "sign";
  }
  return "unknown";
}

Bytes parseHex(const std::string& hex) {
  if (hex.size() % 2) throw std::runtime_error("--hex needs an even number of digits");
  Bytes out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto digit = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      throw std::runtime_error("--hex holds a non-hex character");
    };
    out.push_back(uint8_t(digit(hex[i]) * 16 + digit(hex[i + 1])));
  }
  return out;
}

Bytes readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

std::string timeText(int64_t unixSeconds) {
  char buf[32];
  time_t t = unixSeconds;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json keyJson(const KeyInfo& k) {
  return {{"id", k.id},
          {"type", typeText(k.type)},
          {"bits", k.bits},
          {"usage", usageText(k.usage)},
          {"created", timeText(k.createdUnixSeconds)},
          {"owner", k.owner},
          {"certificate", k.hasCertificate}};
}

const std::vector<std::string> kKeyHeader = {"ID", "TYPE", "BITS", "USAGE", "CREATED"};

std::vector<std::string> keyRow(const KeyInfo& k) {
  return {k.id, typeText(k.type), std::to_string(k.bits), usageText(k.usage),
          timeText(k.createdUnixSeconds)};
}

// "ec" leaves the curve to the file: keyd checks each supported curve in turn.
void importKey(Client& client, const std::string& id, const std::string& type,
               const Bytes& material) {
  if (type != "ec") return client.keyImport(id, parseType(type), material);
  for (KeyType curve : {KeyType::EC_P256, KeyType::EC_P384}) {
    try {
      return client.keyImport(id, curve, material);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::KEY_TYPE_MISMATCH) throw;
    }
  }
  throw std::runtime_error("the key given is not an EC P-256 or P-384 key");
}

void addGenerate(CLI::App* key, Context& ctx, std::shared_ptr<KeyArgs> a) {
  auto* generate = key->add_subcommand("generate", "create a key inside keyd");
  generate->add_option("ID", a->id)->required();
  generate->add_option("--type", a->type, "hmac, aes, ec-p256, ec-p384, ed25519 or rsa")
      ->required();
  generate->add_option("--bits", a->bits, "hmac/aes length (256), rsa modulus (2048)");
  generate->callback([&ctx, a] {
    ctx.session().keyGenerate(a->id, parseType(a->type), a->bits);
    printDone(ctx, "generated " + a->type + " key " + a->id);
  });
}

void addImport(CLI::App* key, Context& ctx, std::shared_ptr<KeyArgs> a) {
  auto* importCommand = key->add_subcommand("import", "store an existing key");
  importCommand->add_option("ID", a->id)->required();
  importCommand
      ->add_option("--type", a->type,
                   "hmac, aes, ec (the file's curve), ec-p256, ec-p384, ed25519 or rsa")
      ->required();
  auto* in = importCommand->add_option(
      "--in", a->in, "raw key bytes (hmac, aes) or a PEM/DER private key (the other types)");
  auto* hex = importCommand->add_option("--hex", a->hex, "the key in hex (hmac, aes)");
  in->excludes(hex);
  importCommand->callback([&ctx, a, in, hex] {
    Bytes material;
    if (in->count())
      material = readFile(a->in);
    else if (hex->count())
      material = parseHex(a->hex);
    else
      throw std::runtime_error("give --in FILE or --hex HEX");
    importKey(ctx.session(), a->id, a->type, material);
    std::fill(material.begin(), material.end(), 0);
    printDone(ctx, "imported " + a->type + " key " + a->id);
  });
}

}  // namespace

void addKeyCommands(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "manage your keys");
  key->require_subcommand(1);
  auto a = std::make_shared<KeyArgs>();
  addGenerate(key, ctx, a);
  addImport(key, ctx, a);

  auto* list = key->add_subcommand("list", "list your keys");
  list->callback([&ctx] {
    std::vector<std::vector<std::string>> rows;
    auto json = nlohmann::json::array();
    for (const auto& k : ctx.session().keyList()) {
      rows.push_back(keyRow(k));
      json.push_back(keyJson(k));
    }
    printTable(ctx, kKeyHeader, rows, json);
  });

  auto* info = key->add_subcommand("info", "show one key");
  info->add_option("ID", a->id)->required();
  info->callback([&ctx, a] {
    auto k = ctx.session().keyInfo(a->id);
    printTable(ctx, kKeyHeader, {keyRow(k)}, keyJson(k));
  });

  auto* remove = key->add_subcommand("delete", "delete a key");
  remove->add_option("ID", a->id)->required();
  remove->callback([&ctx, a] {
    ctx.session().keyDelete(a->id);
    printDone(ctx, "deleted key " + a->id);
  });

  auto* pub = key->add_subcommand("public", "print a signing key's public key (PEM)");
  pub->add_option("ID", a->id)->required();
  pub->callback(
      [&ctx, a] { std::cout << pemEncode("PUBLIC KEY", ctx.session().keyPublic(a->id)); });

  auto* cert = key->add_subcommand(
      "certificate", "keep a certificate beside a key pair (for PKCS#11 programs), or print it");
  cert->add_option("ID", a->id)->required();
  auto* certIn = cert->add_option("--in", a->in, "the certificate, PEM or DER");
  cert->add_flag("--remove", a->remove, "remove the key's certificate")->excludes(certIn);
  cert->callback([&ctx, a] {
    if (a->remove) {
      ctx.session().keyCertificateSet(a->id, {});
      return printDone(ctx, "removed the certificate of key " + a->id);
    }
    if (a->in.empty()) {
      std::cout << pemEncode("CERTIFICATE", ctx.session().keyCertificate(a->id));
      return;
    }
    auto given = readFile(a->in);
    auto der = pemDecode(
        std::string_view(reinterpret_cast<const char*>(given.data()), given.size()), "CERTIFICATE");
    ctx.session().keyCertificateSet(a->id, der ? *der : given);
    printDone(ctx, "set the certificate of key " + a->id);
  });

  auto* uri = key->add_subcommand("uri", "print the key's reference: vhsm:ID, or its pkcs11: URI");
  uri->add_option("ID", a->id)->required();
  uri->add_flag("--pkcs11", a->pkcs11, "the RFC 7512 URI of the key in libvhsm-pkcs11.so");
  uri->callback([&ctx, a] {
    auto info = ctx.session().keyInfo(a->id);  // only a key that exists gets a reference
    std::cout << (a->pkcs11 ? pkcs11Uri(ctx.session().whoami().name, info) : "vhsm:" + info.id)
              << "\n";
  });

  auto* uriPem = key->add_subcommand(
      "uri-pem", "print a PEM file naming the key, for programs that only read key files");
  uriPem->add_option("ID", a->id)->required();
  uriPem->callback([&ctx, a] {
    ctx.session().keyPublic(a->id);  // only a signing key that exists gets a file
    std::cout << keyUriPem(a->id);
  });
}

}  // namespace vhsm::admin
