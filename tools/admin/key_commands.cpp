// `key generate|import|list|info|delete` for the acting user's own keys.
#include <fstream>
#include <iterator>

#include "context.hpp"

namespace vhsm::admin {
namespace {

struct KeyArgs {
  std::string id, type, in, hex;
  uint32_t bits = 0;
};

KeyType parseType(const std::string& type) {
  if (type == "hmac") return KeyType::HMAC;
  if (type == "aes") return KeyType::AES;
  throw std::runtime_error("unknown key type " + type + " (hmac, aes)");
}

const char* typeText(KeyType type) {
  return type == KeyType::HMAC ? "hmac" : "aes";
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
          {"created", timeText(k.createdUnixSeconds)},
          {"owner", k.owner}};
}

std::vector<std::string> keyRow(const KeyInfo& k) {
  return {k.id, typeText(k.type), std::to_string(k.bits), timeText(k.createdUnixSeconds)};
}

}  // namespace

void addKeyCommands(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "manage your keys");
  key->require_subcommand(1);
  auto a = std::make_shared<KeyArgs>();

  auto* generate = key->add_subcommand("generate", "create a key inside keyd");
  generate->add_option("ID", a->id)->required();
  generate->add_option("--type", a->type, "hmac or aes")->required();
  generate->add_option("--bits", a->bits, "key length (default 256)");
  generate->callback([&ctx, a] {
    ctx.session().keyGenerate(a->id, parseType(a->type), a->bits);
    printDone(ctx, "generated " + a->type + " key " + a->id);
  });

  auto* import = key->add_subcommand("import", "store an existing key");
  import->add_option("ID", a->id)->required();
  import->add_option("--type", a->type, "hmac or aes")->required();
  auto* in = import->add_option("--in", a->in, "file holding the raw key bytes");
  auto* hex = import->add_option("--hex", a->hex, "the key in hex");
  in->excludes(hex);
  import->callback([&ctx, a, in, hex] {
    Bytes material;
  if (in->count()) {
    std::ifstream f(a->in, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + a->in);
    material.assign(std::istreambuf_iterator<char>(f), {});
  } else if (hex->count()) {
    material = parseHex(a->hex);
  } else {
    throw std::runtime_error("give --in FILE or --hex HEX");
  }
  ctx.session().keyImport(a->id, parseType(a->type), material);
  std::fill(material.begin(), material.end(), 0);
  printDone(ctx, "imported " + a->type + " key " + a->id);
});

auto* list = key->add_subcommand("list", "list your keys");
list->callback([&ctx] {
  std::vector<std::vector<std::string>> rows;
  auto json = nlohmann::json::array();
  for (const auto& k : ctx.session().keyList()) {
    rows.push_back(keyRow(k));
    json.push_back(keyJson(k));
  }
  printTable(ctx, {"ID", "TYPE", "BITS", "CREATED"}, rows, json);
});

auto* info = key->add_subcommand("info", "show one key");
info->add_option("ID", a->id)->required();
info->callback([&ctx, a] {
  auto k = ctx.session().keyInfo(a->id);
  printTable(ctx, {"ID", "TYPE", "BITS", "CREATED"}, {keyRow(k)}, keyJson(k));
});

auto* remove = key->add_subcommand("delete", "delete a key");
remove->add_option("ID", a->id)->required();
remove->callback([&ctx, a] {
  ctx.session().keyDelete(a->id);
  printDone(ctx, "deleted key " + a->id);
});
}  // namespace vhsm::admin

}  // namespace vhsm::admin
