#include "keyd/service/audit_requests.hpp"

#include <algorithm>

#include "protocol/frame.hpp"

namespace vhsm::keyd {

namespace {

// One oversized record (from before client text was bounded) must still fit in a reply; the
// chain keeps it whole, so `audit verify` is unaffected.
constexpr size_t kMaxFieldBytes = 64 * 1024;

}  // namespace

AuditRequests::AuditRequests(store::Store& store, Access& access, Auditor& auditor)
    : store_(store), access_(access), auditor_(auditor) {}

void AuditRequests::list(Session& s, proto::Request::AuditList::Reader r, Response out) {
  access_.requireSo(s, 0);
  // Bounded so that a reply always fits in one frame; callers page with fromSequence.
  constexpr uint32_t kMaxRecords = 1000;
  uint32_t limit = r.getLimit() == 0 ? kMaxRecords : std::min(r.getLimit(), kMaxRecords);
  auditor_.flush();  // every login answered so far
  auto entries =
      store_.read([&](const store::ReadTxn& t) { return t.audit(r.getFromSequence(), limit); });
  // ...and by size: records written before client text was bounded may be large. The caller
  // pages on from the last sequence it got.
  constexpr size_t kMaxReplyBytes = proto::kMaxPayload / 2;
  size_t bytes = 0, count = 0;
  while (count < entries.size() && (count == 0 || bytes < kMaxReplyBytes)) {
    const auto& e = entries[count++];
    bytes += 64 + e.actor.size() + e.container.size() + e.action.size() + e.target.size() +
             e.detail.size() + e.host.size();
  }
  auto list = out.initAudit(unsigned(count));
  for (unsigned i = 0; i < list.size(); ++i) {
    const auto& e = entries[i];
    auto o = list[i];
    o.setSequence(e.sequence);
    o.setUnixMillis(e.unixMillis);
    o.setActor(e.actor);
    o.setContainer(e.container);
    o.setAction(e.action);
    o.setTarget(e.target.substr(0, kMaxFieldBytes));
    o.setResult(proto::ErrorCode(e.result));
    o.setDetail(e.detail.substr(0, kMaxFieldBytes));
    o.setHost(e.host);
  }
}

void AuditRequests::verify(Session& s, Response out) {
  access_.requireSo(s, 0);
  auditor_.flush();
  auto verdict = store_.read([](const store::ReadTxn& t) { return verifyAudit(t); });
  auto o = out.initAuditVerify();
  o.setRecords(verdict.records);
  o.setOk(verdict.ok);
  o.setFirstBadSequence(verdict.firstBadSequence);
}

}  // namespace vhsm::keyd
