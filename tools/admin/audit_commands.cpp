// `audit list|verify`.
#include "tools/admin/context.hpp"

namespace vhsm::admin {

void addAuditCommands(CLI::App& app, Context& ctx) {
  auto* audit = app.add_subcommand("audit", "read and check the audit chain (security officers)");
  audit->require_subcommand(1);

  auto* list = audit->add_subcommand("list", "print every audit record");
  list->callback([&ctx] {
    auto& client = ctx.session();
    std::vector<std::vector<std::string>> rows;
    auto json = nlohmann::json::array();
    uint64_t from = 0;
    for (;;) {
      auto page = client.auditList(from, 1000);
      for (const auto& r : page) {
        std::string result = r.result == ErrorCode::OK ? "ok" : errorName(r.result);
        rows.push_back({std::to_string(r.sequence), std::to_string(r.unixMillis), r.actor,
                        r.container, r.action, r.target, result, r.detail, r.host});
        json.push_back({{"sequence", r.sequence},
                        {"unix_millis", r.unixMillis},
                        {"actor", r.actor},
                        {"container", r.container},
                        {"action", r.action},
                        {"target", r.target},
                        {"result", result},
                        {"detail", r.detail},
                        {"host", r.host}});
      }
      if (page.empty()) break;
      from = page.back().sequence + 1;
    }
    printTable(
        ctx,
        {"SEQ", "UNIX_MS", "ACTOR", "CONTAINER", "ACTION", "TARGET", "RESULT", "DETAIL", "HOST"},
        rows, json);
  });

  auto* verify = audit->add_subcommand("verify", "check the hash chain");
  verify->callback([&ctx] {
    auto v = ctx.session().auditVerify();
    if (ctx.json)
      std::cout << nlohmann::json{{"records", v.records},
                                  {"ok", v.ok},
                                  {"first_bad_sequence", v.firstBadSequence}}
                       .dump()
                << "\n";
    else if (v.ok)
      // Says what it checked: the records and their order, not the users, containers or keys
      // tables, which a store writer could edit without touching the chain.
      std::cout << "audit chain intact: " << v.records
                << " records (the audit records only: users, containers and keys are not "
                   "covered)\n";
    if (!v.ok) {
      if (!ctx.json)
        std::cerr << "vhsm-admin: audit chain broken at record " << v.firstBadSequence << " of "
                  << v.records << "\n";
      std::exit(1);
    }
  });
}

}  // namespace vhsm::admin
