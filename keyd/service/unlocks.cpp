#include "keyd/service/unlocks.hpp"

namespace vhsm::keyd {

void Unlocks::grant(const std::string& user, const std::string& container, Grant grant) {
  std::lock_guard lock(mutex_);
  grants_[{user, container}] = std::move(grant);
}

namespace {

bool madeFor(const Unlocks::Grant& grant, const Unlocks::Holder& holder) {
  return grant.userId == holder.userId && grant.wrappedSecret == holder.wrappedSecret &&
         grant.netnsCookie == holder.netnsCookie;
}

}  // namespace

std::optional<Unlocks::Grant> Unlocks::use(const std::string& user, const std::string& container,
                                           const Holder& holder) {
  std::lock_guard lock(mutex_);
  auto it = grants_.find({user, container});
  if (it == grants_.end()) return std::nullopt;
  if (it->second.expires <= Clock::now() || !madeFor(it->second, holder)) {
    grants_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

bool Unlocks::holds(const std::string& user, const std::string& container, const Holder& holder) {
  std::lock_guard lock(mutex_);
  auto it = grants_.find({user, container});
  return it != grants_.end() && madeFor(it->second, holder);
}

size_t Unlocks::end(const std::string& user, const std::function<bool(const std::string&)>& keep) {
  std::lock_guard lock(mutex_);
  return std::erase_if(grants_, [&](const auto& entry) {
    return entry.first.first == user && !keep(entry.first.second);
  });
}

void Unlocks::retain(
    const std::function<bool(const std::string&, const std::string&, const Grant&)>& keep) {
  std::lock_guard lock(mutex_);
  std::erase_if(grants_, [&](const auto& entry) {
    return !keep(entry.first.first, entry.first.second, entry.second);
  });
}

void Unlocks::endContainer(const std::string& container) {
  std::lock_guard lock(mutex_);
  std::erase_if(grants_, [&](const auto& entry) { return entry.first.second == container; });
}

}  // namespace vhsm::keyd
