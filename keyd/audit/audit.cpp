#include "keyd/audit/audit.hpp"

#include <cryptopp/sha.h>

#include <capnp/schema.h>

#include <chrono>
#include <cstdio>

namespace vhsm::keyd {
namespace {

constexpr size_t kHashBytes = CryptoPP::SHA256::DIGESTSIZE;

class ChainHash {
 public:
  void field(std::string_view s) {
    number(s.size());
    sha_.Update(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void number(uint64_t n) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(n >> (8 * i));
    sha_.Update(b, sizeof b);
  }
  std::vector<uint8_t> final() {
    std::vector<uint8_t> out(kHashBytes);
    sha_.Final(out.data());
    return out;
  }

 private:
  CryptoPP::SHA256 sha_;
};

std::vector<uint8_t> chainHash(const store::AuditEntry& e) {
  ChainHash h;
  h.number(e.sequence);
  h.number(uint64_t(e.unixMillis));
  h.field(e.actor);
  h.field(e.container);
  h.field(e.action);
  h.field(e.target);
  h.number(e.result);
  h.field(e.detail);
  h.field({reinterpret_cast<const char*>(e.prevHash.data()), e.prevHash.size()});
  // Records of a store of one host have none, and hash as they always did.
  if (!e.host.empty()) h.field(e.host);
  return h.final();
}

}  // namespace

store::AuditEntry appendAudit(store::WriteTxn& txn, const AuditEvent& event) {
  store::AuditEntry e;
  auto last = txn.lastAudit();
  e.sequence = last ? last->sequence + 1 : 1;
  e.prevHash = last ? last->hash : std::vector<uint8_t>(kHashBytes, 0);
  e.unixMillis = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  e.actor = event.actor;
  e.container = event.container;
  e.action = event.action;
  e.target = event.target;
  e.result = uint16_t(event.result);
  e.detail = event.detail;
  e.host = txn.host();
  e.hash = chainHash(e);
  txn.putAudit(e);
  return e;
}

namespace {

// Client text reaches records (bounded): nothing in it may forge a second syslog line.
std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);
    }
  }
  return out;
}

std::string codeName(uint16_t code) {
  for (auto e : capnp::Schema::from<proto::ErrorCode>().getEnumerants())
    if (e.getOrdinal() == code) return e.getProto().getName();
  return std::to_string(code);
}

}  // namespace

std::string auditLine(const store::AuditEntry& e) {
  std::string hash;
  for (size_t i = 0; i < e.hash.size() && i < 8; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", e.hash[i]);
    hash += hex;
  }
  return "audit seq=" + std::to_string(e.sequence) + " actor=\"" + escaped(e.actor) +
         "\" container=\"" + escaped(e.container) + "\" action=" + escaped(e.action) +
         " target=\"" + escaped(e.target) + "\" result=" + codeName(e.result) + " detail=\"" +
         escaped(e.detail) + "\" hash=" + hash;
}

AuditVerdict verifyAudit(const store::ReadTxn& txn) {
  AuditVerdict verdict;
  std::vector<uint8_t> expectedPrev(kHashBytes, 0);
  uint64_t expectedSequence = 1;
  for (const auto& e : txn.audit(0, 0)) {
    ++verdict.records;
    if (verdict.ok &&
        (e.sequence != expectedSequence || e.prevHash != expectedPrev || e.hash != chainHash(e))) {
      verdict.ok = false;
      verdict.firstBadSequence = e.sequence;
    }
    expectedSequence = e.sequence + 1;
    expectedPrev = e.hash;
  }
  return verdict;
}

}  // namespace vhsm::keyd
