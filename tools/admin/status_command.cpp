// `status`: what keyd is doing, for operators (security officers).
#include "tools/admin/context.hpp"

namespace vhsm::admin {

void addStatusCommand(CLI::App& app, Context& ctx) {
  auto* status = app.add_subcommand(
      "status", "version, uptime, store, load per container, requests and refusals (SOs)");
  status->callback([&ctx] {
    ServiceStatus s;
    try {
      s = ctx.session().status();
    } catch (const Error& e) {
      // A keyd whose shared store is out of reach cannot check an officer's login: that is
      // the answer, not a failure of the command.
      if (e.kind() != ErrorKind::refused || e.code() != ErrorCode::STORE_UNAVAILABLE) throw;
      if (ctx.json)
        std::cout << nlohmann::json{{"ready", false}, {"store_problem", e.what()}}.dump() << "\n";
      else
        std::cout << "vhsm-keyd not ready: " << e.what() << "\n";
      std::exit(3);
    }
    auto counts = [](const std::vector<std::pair<std::string, uint64_t>>& list) {
      auto out = nlohmann::json::object();
      for (const auto& [name, n] : list) out[name] = n;
      return out;
    };
    if (ctx.json) {
      auto containers = nlohmann::json::array();
      for (const auto& c : s.containers)
        containers.push_back(
            {{"name", c.name}, {"connections", c.connections}, {"sessions", c.sessions}});
      std::cout << nlohmann::json{{"version", s.version},
                                  {"uptime_seconds", s.uptimeSeconds},
                                  {"store", s.store},
                                  {"containers", containers},
                                  {"requests", counts(s.requests)},
                                  {"refusals", counts(s.refusals)},
                                  {"audit_queued", s.auditQueued},
                                  {"ready", s.ready},
                                  {"store_problem", s.storeProblem},
                                  {"host", s.host}}
                       .dump()
                << "\n";
      if (!s.ready) std::exit(3);
      return;
    }
    std::cout << "vhsm-keyd " << s.version << ", up " << s.uptimeSeconds << " s, store " << s.store
              << (s.host.empty() ? "" : " as host " + s.host) << ", " << s.auditQueued
              << " audit records queued\n";
    if (!s.ready) std::cout << "not ready: " << s.storeProblem << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : s.containers)
      rows.push_back({c.name, std::to_string(c.connections), std::to_string(c.sessions)});
    printTable(ctx, {"CONTAINER", "CONNECTIONS", "SESSIONS"}, rows, nullptr);
    for (const auto& [title, list] :
         {std::pair{"requests", &s.requests}, std::pair{"refusals", &s.refusals}}) {
      std::cout << title << ":";
      for (const auto& [name, n] : *list) std::cout << " " << name << "=" << n;
      std::cout << "\n";
    }
    if (!s.ready) std::exit(3);
  });
}

}  // namespace vhsm::admin
