// Reading and verifying the audit chain (security officers only).
#include <algorithm>

#include "service.hpp"

namespace vhsm::keyd {

void Service::auditList(Session& s, Request::AuditList::Reader r, Response out) {
  requireSo(s, 0);
  // Bounded so that a reply always fits in one frame; callers page with fromSequence.
  constexpr uint32_t kMaxRecords = 1000;
  uint32_t limit = r.getLimit() == 0 ? kMaxRecords : std::min(r.getLimit(), kMaxRecords);
  auditWriter_.flush();  // every login answered so far
  auto entries =
      store_.read([&](const store::ReadTxn& t) { return t.audit(r.getFromSequence(), limit); });
  auto list = out.initAudit(unsigned(entries.size()));
  for (unsigned i = 0; i < list.size(); ++i) {
    const auto& e = entries[i];
    auto o = list[i];
    o.setSequence(e.sequence);
    o.setUnixMillis(e.unixMillis);
    o.setActor(e.actor);
    o.setContainer(e.container);
    o.setAction(e.action);
    o.setTarget(e.target);
    o.setResult(proto::ErrorCode(e.result));
    o.setDetail(e.detail);
  }
}

void Service::auditVerify(Session& s, Response out) {
  requireSo(s, 0);
  auditWriter_.flush();
  auto verdict = store_.read([](const store::ReadTxn& t) { return verifyAudit(t); });
  auto o = out.initAuditVerify();
  o.setRecords(verdict.records);
  o.setOk(verdict.ok);
  o.setFirstBadSequence(verdict.firstBadSequence);
}

}  // namespace vhsm::keyd
