// `container add|remove|list`: names for network namespaces.
#include <filesystem>

#include "tools/admin/context.hpp"

namespace vhsm::admin {
namespace {

struct ContainerArgs {
  std::string name, netns;
  int pid = 0;
};

}  // namespace

void addContainerCommands(CLI::App& app, Context& ctx) {
  auto* container = app.add_subcommand("container", "manage containers (security officers)");
  container->require_subcommand(1);
  auto a = std::make_shared<ContainerArgs>();

  auto* add = container->add_subcommand("add", "name a network namespace");
  add->add_option("NAME", a->name)->required();
  auto* netns = add->add_option("--netns", a->netns, "namespace file, e.g. /run/netns/NAME");
  auto* pid = add->add_option("--pid", a->pid, "a process inside the namespace");
  netns->excludes(pid);
  add->callback([&ctx, a, netns, pid] {
    if (!netns->count() && !pid->count())
      throw std::runtime_error("give --netns PATH or --pid PID");
    // keyd opens the namespace itself (and reads its cookie), in its own pid and mount
    // namespaces: a relative path is made absolute here.
    auto identity = netns->count() ? ctx.session().containerAddPath(
                                         a->name, std::filesystem::absolute(a->netns).string())
                                   : ctx.session().containerAddPid(a->name, a->pid);
    printDone(ctx, "added container " + a->name + " (netns inode " +
                       std::to_string(identity.inode) + ", cookie " +
                       std::to_string(identity.cookie) + ")");
  });

  auto* bind = container->add_subcommand(
      "bind", "name the namespace of a process, replacing what the name named (OCI hooks)");
  bind->add_option("NAME", a->name)->required();
  bind->add_option("--pid", a->pid, "a process inside the namespace")->required();
  bind->callback([&ctx, a] {
    auto identity = ctx.session().containerBindPid(a->name, a->pid);
    printDone(ctx, "bound container " + a->name + " to netns inode " +
                       std::to_string(identity.inode) + ", cookie " +
                       std::to_string(identity.cookie));
  });

  auto* unbind = container->add_subcommand(
      "unbind", "keep a name but let it name no namespace (a stopped container)");
  unbind->add_option("NAME", a->name)->required();
  unbind->callback([&ctx, a] {
    ctx.session().containerUnbind(a->name);
    printDone(ctx, "unbound container " + a->name);
  });

  auto* remove = container->add_subcommand("remove", "forget a container");
  remove->add_option("NAME", a->name)->required();
  remove->callback([&ctx, a] {
    ctx.session().containerRemove(a->name);
    printDone(ctx, "removed container " + a->name);
  });

  auto* list = container->add_subcommand("list", "list containers");
  list->callback([&ctx] {
    std::vector<std::vector<std::string>> rows;
    auto json = nlohmann::json::array();
    for (const auto& c : ctx.session().containerList()) {
      rows.push_back({c.name, std::to_string(c.netns.inode), std::to_string(c.netns.cookie)});
      json.push_back(
          {{"name", c.name}, {"netns_inode", c.netns.inode}, {"netns_cookie", c.netns.cookie}});
    }
    printTable(ctx, {"NAME", "NETNS_INODE", "NETNS_COOKIE"}, rows, json);
  });
}

}  // namespace vhsm::admin
