// `user create|modify|delete|list|passwd`.
#include <sstream>

#include "tools/admin/context.hpp"

namespace vhsm::admin {
namespace {

UserFlags parseFlags(const std::string& text) {
  UserFlags f;
  std::stringstream in(text);
  std::string flag;
  while (std::getline(in, flag, ',')) {
    if (flag == "read")
      f.read = true;
    else if (flag == "create")
      f.create = true;
    else if (flag == "modify")
      f.modify = true;
    else if (flag == "delete")
      f.remove = true;
    else if (flag == "create_extended")
      f.createExtended = true;
    else if (!flag.empty())
      throw std::runtime_error("unknown flag " + flag +
                               " (read, create, modify, delete, create_extended)");
  }
  return f;
}

std::string flagText(const UserFlags& f) {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(f.read, "read");
  add(f.create, "create");
  add(f.modify, "modify");
  add(f.remove, "delete");
  add(f.createExtended, "create_extended");
  return out.empty() ? "-" : out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

struct UserArgs {
  std::string name, flags, newPasswordFile, oldPasswordFile;
  std::vector<std::string> containers;
  bool so = false;
};

}  // namespace

void addUserCommands(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "manage users (security officers)");
  user->require_subcommand(1);
  auto a = std::make_shared<UserArgs>();

  auto* create = user->add_subcommand("create", "create a user");
  create->add_option("NAME", a->name)->required();
  create->add_flag("--so", a->so, "a security officer instead of a key user");
  create->add_option("--flags", a->flags,
                     "read,create,modify,delete[,create_extended] (default: read,create,delete "
                     "for users; create,modify,delete for SOs)");
  create->add_option("--container", a->containers,
                     "container it may be used from (repeat; "
                     "default host)");
  create->add_option("--new-password-file", a->newPasswordFile, "the new user's password");
  create->callback([&ctx, a] {
    UserInfo info;
    info.name = a->name;
    info.isSo = a->so;
    info.flags = parseFlags(
        a->flags.empty() ? (a->so ? "create,modify,delete" : "read,create,delete") : a->flags);
    info.containers = a->containers.empty() ? std::vector<std::string>{"host"} : a->containers;
    auto& client = ctx.session();
    auto password = secretFromFileOrPrompt(a->newPasswordFile, "New password for " + a->name, true);
    client.userCreate(info, password);
    printDone(ctx, "created " + std::string(a->so ? "security officer " : "user ") + a->name);
  });

  auto* modify = user->add_subcommand("modify", "change a user's flags or containers");
  modify->add_option("NAME", a->name)->required();
  auto* flagsOption = modify->add_option("--flags", a->flags, "new flags (replace the old)");
  auto* containersOption =
      modify->add_option("--container", a->containers, "new containers (replace the old)");
  modify->callback([&ctx, a, flagsOption, containersOption] {
    std::optional<UserFlags> flags;
    std::optional<std::vector<std::string>> containers;
    if (flagsOption->count()) flags = parseFlags(a->flags);
    if (containersOption->count()) containers = a->containers;
    if (!flags && !containers)
      throw std::runtime_error("nothing to change: give --flags or --container");
    ctx.session().userModify(a->name, flags, containers);
    printDone(ctx, "modified user " + a->name);
  });

  auto* remove = user->add_subcommand("delete", "delete a user and all its keys");
  remove->add_option("NAME", a->name)->required();
  remove->callback([&ctx, a] {
    ctx.session().userDelete(a->name);
    printDone(ctx, "deleted user " + a->name);
  });

  auto* list = user->add_subcommand("list", "list users");
  list->callback([&ctx] {
    auto users = ctx.session().userList();
    std::vector<std::vector<std::string>> rows;
    auto json = nlohmann::json::array();
    for (const auto& u : users) {
      rows.push_back({u.name, u.isSo ? "so" : "user", flagText(u.flags), join(u.containers)});
      json.push_back({{"name", u.name},
                      {"type", u.isSo ? "so" : "user"},
                      {"flags", flagText(u.flags)},
                      {"containers", u.containers}});
    }
    printTable(ctx, {"NAME", "TYPE", "FLAGS", "CONTAINERS"}, rows, json);
  });

  auto* passwd = user->add_subcommand("passwd", "change a password (your own by default)");
  passwd->add_option("NAME", a->name, "another user (security officers)");
  passwd->add_option("--new-password-file", a->newPasswordFile, "the new password");
  passwd->add_option("--old-password-file", a->oldPasswordFile,
                     "the user's current password, when NAME is another user");
  passwd->callback([&ctx, a] {
    bool self = a->name.empty() || a->name == ctx.user;
    std::string name = self ? ctx.user : a->name;
    auto& client = ctx.session();
    std::string old =
        self ? actingPassword(ctx)
             : secretFromFileOrPrompt(a->oldPasswordFile, "Current password for " + name, false);
    auto fresh = secretFromFileOrPrompt(a->newPasswordFile, "New password for " + name, true);
    client.userPasswd(name, old, fresh);
    printDone(ctx, "changed the password of " + name);
  });
}

}  // namespace vhsm::admin
