// `unlock USER --container C [--ttl 8h]` and `lock USER [--container C]`.
#include "tools/admin/context.hpp"

namespace vhsm::admin {
namespace {

struct UnlockArgs {
  std::string user, container, ttl = "8h", passwordFile;
};

uint32_t parseDuration(const std::string& text) {
  size_t used = 0;
  unsigned long value = 0;
  try {
    value = std::stoul(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  unsigned long scale = unit.empty() || unit == "s" ? 1
                        : unit == "m"               ? 60
                        : unit == "h"               ? 3600
                        : unit == "d"               ? 86400
                                                    : 0;
  if (used == 0 || scale == 0 || value == 0 || value > 0xffffffffUL / scale)
    throw std::runtime_error("bad duration " + text + " (e.g. 90s, 30m, 8h, 2d)");
  return uint32_t(value * scale);
}

}  // namespace

void addUnlockCommands(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<UnlockArgs>();
  auto* unlock = app.add_subcommand(
      "unlock", "let USER's keys be used from a container with no password there");
  unlock->add_option("USER", a->user)->required();
  unlock->add_option("--container", a->container)->required();
  unlock->add_option("--ttl", a->ttl, "how long (90s, 30m, 8h, 2d)")->capture_default_str();
  unlock->add_option("--user-password-file", a->passwordFile, "USER's password (else a prompt)");
  unlock->callback([&ctx, a] {
    uint32_t ttl = parseDuration(a->ttl);
    auto& client = ctx.session();
    auto password = secretFromFileOrPrompt(a->passwordFile, "Password for " + a->user, false);
    client.unlock(a->user, password, a->container, ttl);
    printDone(ctx, "unlocked " + a->user + " for container " + a->container + " for " +
                       std::to_string(ttl) + " s");
  });

  auto* lock = app.add_subcommand("lock", "withdraw USER's unlocks");
  lock->add_option("USER", a->user)->required();
  lock->add_option("--container", a->container, "only this container");
  lock->callback([&ctx, a] {
    ctx.session().lock(a->user, a->container);
    printDone(ctx, "locked " + a->user);
  });
}

}  // namespace vhsm::admin
