// vhsm-admin: manage a vhsm store through vhsm-keyd (README, "Using it").
#include <cstdlib>
#include <iostream>

#include "tools/admin/context.hpp"

using namespace vhsm;
using namespace vhsm::admin;

namespace {

std::string envOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  ctx.socket = envOr("VHSM_SOCKET", "/run/vhsm/keyd.sock");
  ctx.transport = envOr("VHSM_TRANSPORT", "unix");
  ctx.user = envOr("VHSM_USER", "root");
  CLI::App app{"vhsm-admin: manage users, containers, keys and the audit log of a vhsm store"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command too
  app.add_option("--socket", ctx.socket, "keyd's socket (env VHSM_SOCKET)")->capture_default_str();
  app.add_option("--transport", ctx.transport, "unix or netlink (env VHSM_TRANSPORT)")
      ->check(CLI::IsMember({"unix", "netlink"}))
      ->capture_default_str();
  app.add_option("--user", ctx.user, "acting user (env VHSM_USER)")->capture_default_str();
  app.add_option("--password-file", ctx.passwordFile,
                 "acting user's password (else env VHSM_PASSWORD, else a prompt)");
  app.add_flag("--unlocked", ctx.unlocked, "log in with no password, through an unlock");
  app.add_flag("--json", ctx.json, "JSON output");
  for (auto* option : app.get_options())
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  addStoreCommands(app, ctx);
  addUserCommands(app, ctx);
  addContainerCommands(app, ctx);
  addUnlockCommands(app, ctx);
  addKeyCommands(app, ctx);
  addAuditCommands(app, ctx);
  addStatusCommand(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::cerr << "vhsm-admin: " << e.what();
    if (e.kind() == ErrorKind::refused) std::cerr << " (" << errorName(e.code()) << ")";
    std::cerr << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "vhsm-admin: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
