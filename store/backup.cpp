#include "store/backup.hpp"

#include <openssl/sha.h>

#include <cctype>
#include <cstring>
#include <initializer_list>

#include "store/record_codec.hpp"

namespace vhsm::store {
namespace {

constexpr char kMagic[] = "VHSMBK01";  // the version is its last two digits
constexpr size_t kMagicSize = sizeof kMagic - 1;
constexpr size_t kBatch = 100;

enum Tag : char {
  kSettings = 'S',
  kUser = 'U',
  kContainer = 'C',
  kKey = 'K',
  kAudit = 'A',
};

void putNumber(std::string& out, uint64_t n, int bytes) {
  for (int i = 0; i < bytes; ++i) out += char(uint8_t(n >> (8 * i)));
}

uint64_t getNumber(std::string_view in, size_t at, int bytes) {
  uint64_t n = 0;
  for (int i = bytes - 1; i >= 0; --i) n = n << 8 | uint8_t(in[at + size_t(i)]);
  return n;
}

void entry(std::string& out, Tag tag, std::string_view data) {
  out += char(tag);
  putNumber(out, data.size(), 4);
  out += data;
}

std::string sha256(std::string_view data) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

// Names keyd accepts (keyd/service/names.hpp): a restored record can name nothing else, so a
// name can never carry a separator into etcd's keys.
bool isName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

void requireNames(std::initializer_list<std::string_view> names) {
  for (auto name : names)
    if (!isName(name)) throw StoreError("backup damaged: a record has an invalid name");
}

}  // namespace

// magic ‖ u64 length of the whole file ‖ entries (tag, u32 length, record) ‖ SHA-256 of all
// before it. The length says "truncated" apart from "altered" before anything is parsed.
std::string writeBackup(const ReadTxn& txn) {
  std::string out(kMagic, kMagicSize);
  putNumber(out, 0, 8);  // the length, once known
  std::string settings;
  putNumber(settings, txn.kdfIterations(), 4);
  entry(out, kSettings, settings);
  auto users = txn.users();
  for (const auto& u : users) entry(out, kUser, encodeUser(u));
  for (const auto& c : txn.containers()) entry(out, kContainer, encodeContainer(c));
  for (const auto& u : users)
    for (const auto& k : txn.keys(u.name)) entry(out, kKey, encodeKey(k));
  for (const auto& a : txn.audit(0, 0)) entry(out, kAudit, encodeAudit(a));
  std::string length;
  putNumber(length, out.size() + SHA256_DIGEST_LENGTH, 8);
  out.replace(kMagicSize, 8, length);
  out += sha256(out);
  return out;
}

BackupContents readBackup(std::string_view file) {
  if (file.size() < 6 || file.substr(0, 6) != std::string_view(kMagic, 6))
    throw StoreError("not a vhsm backup");
  if (file.size() < kMagicSize + 8 + SHA256_DIGEST_LENGTH)
    throw StoreError("backup truncated: " + std::to_string(file.size()) + " bytes");
  if (file.substr(0, kMagicSize) != std::string_view(kMagic, kMagicSize))
    throw StoreError("backup format " + std::string(file.substr(6, 2)) +
                     " is not supported (this build reads " + std::string(kMagic + 6) + ")");
  uint64_t length = getNumber(file, kMagicSize, 8);
  if (file.size() < length)
    throw StoreError("backup truncated: " + std::to_string(file.size()) + " of " +
                     std::to_string(length) + " bytes");
  if (file.size() > length)
    throw StoreError("backup has " + std::to_string(file.size() - length) + " bytes after its end");
  size_t body = file.size() - SHA256_DIGEST_LENGTH;
  if (file.substr(body) != sha256(file.substr(0, body)))
    throw StoreError("backup altered: its SHA-256 does not match its contents");
  BackupContents out;
  bool settings = false;
  for (size_t at = kMagicSize + 8; at < body;) {
    if (body - at < 5 || body - at - 5 < getNumber(file, at + 1, 4))
      throw StoreError("backup damaged: record at byte " + std::to_string(at) + " overruns it");
    char tag = file[at];
    size_t size = getNumber(file, at + 1, 4);
    std::string_view data = file.substr(at + 5, size);
    switch (tag) {
      case kSettings:
        if (size != 4) throw StoreError("backup damaged: bad settings record");
        out.kdfIterations = uint32_t(getNumber(data, 0, 4));
        settings = true;
        break;
      case kUser: out.users.push_back(decodeUser(data)); break;
      case kContainer: out.containers.push_back(decodeContainer(data)); break;
      case kKey: out.keys.push_back(decodeKey(data)); break;
      case kAudit: out.audit.push_back(decodeAudit(data)); break;
      default:
        throw StoreError("backup damaged: unknown record kind at byte " + std::to_string(at));
    }
    at += 5 + size;
  }
  if (!settings) throw StoreError("backup damaged: no settings record");
  for (const auto& u : out.users) {
    requireNames({u.name});
    for (const auto& c : u.containers) requireNames({c});
  }
  for (const auto& c : out.containers) requireNames({c.name});
  for (const auto& k : out.keys) requireNames({k.owner, k.id});
  return out;
}

void restoreBackup(const BackupContents& b, Store& into) {
  into.write([&](WriteTxn& txn) {
    if (!txn.users().empty() || txn.lastAudit())
      throw StoreError("the store to restore into is not empty");
    txn.setKdfIterations(b.kdfIterations);
  });
  // Keys before users and the audit chain last: a restore cut short leaves no user without
  // the keys it had, and a chain that ends early (audit verify says so) rather than a gap.
  auto inBatches = [&](const auto& records, auto put) {
    for (size_t i = 0; i < records.size(); i += kBatch)
      into.write([&](WriteTxn& txn) {
        for (size_t j = i; j < std::min(records.size(), i + kBatch); ++j) put(txn, records[j]);
      });
  };
  inBatches(b.keys, [](WriteTxn& t, const Key& k) { t.putKey(k, true); });
  inBatches(b.containers, [](WriteTxn& t, const Container& c) { t.putContainer(c); });
  inBatches(b.users, [](WriteTxn& t, const User& u) { t.putUser(u); });
  inBatches(b.audit, [](WriteTxn& t, const AuditEntry& a) { t.putAudit(a); });
}

}  // namespace vhsm::store
