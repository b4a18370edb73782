#include "keyd/service/auditor.hpp"

#include "keyd/base/log.hpp"

namespace vhsm::keyd {

namespace {
constexpr size_t kMaxRefusalDetail = 512;
}  // namespace

Auditor::Auditor(store::Store& store, ContainerDirectory& containers)
    : containers_(containers), writer_(store) {}

AuditEvent Auditor::eventFor(Session& s, const char* action, const std::string& target) {
  AuditEvent e;
  e.actor = s.user ? s.user->name : "";
  e.container = containers_.of(s);
  e.action = action;
  e.target = target;
  return e;
}

void Auditor::audited(Session& s, const char* action, const std::string& target,
                      const std::function<void(store::WriteTxn&)>& change, std::string detail) {
  auto event = eventFor(s, action, target);
  event.detail = std::move(detail);
  writer_.writeNow(event, change);
}

void Auditor::refusal(Session& s, const char* action, const std::string& target,
                      proto::ErrorCode code, const std::string& detail, bool queued) {
  try {
    auto event = eventFor(s, action, target);
    // Namespaces cost nothing to make: the unregistered ones share one budget. A budget per
    // kind of refusal (a small, fixed set) keeps one kind from hiding the others.
    auto leftOut = limiter_.admit((ContainerDirectory::isUnregisteredName(event.container)
                                       ? std::string("unregistered namespaces")
                                       : event.container) +
                                  "/" + std::to_string(int(code)));
    if (!leftOut) return;
    event.result = code;
    // Refusal texts are keyd's own, but may quote a parser's description of client bytes.
    event.detail = detail.substr(0, kMaxRefusalDetail);
    if (*leftOut)
      event.detail += " (" + std::to_string(*leftOut) +
                      " earlier refusals like this from this container not recorded: over the "
                      "rate limit)";
    if (queued)
      writer_.enqueue(std::move(event));
    else
      writer_.writeNow(event);
  } catch (const std::exception& e) {
    logError(std::string("cannot audit a refusal: ") + e.what());
  }
}

}  // namespace vhsm::keyd
