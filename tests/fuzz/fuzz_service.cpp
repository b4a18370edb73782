// Fuzz target: keyd's whole request handling — frame checks, Cap'n Proto, authentication,
// authorisation, every operation, audit — on a temporary store, for an arbitrary sequence of
// frames from one connection (the host's). Each input starts from the same store: a root SO,
// a key user alice (password "alice-pw") with HMAC, AES, EC and Ed25519 keys.
//
// Input: records of [kind: 1 byte][length: 2 bytes LE][bytes]. Kinds with bit 2 set (4-7): the
// bytes are [slot: 1 byte][record], written over one record of the store before any frame runs
// (kStoreSlots: users, keys, audit): whoever can write the store is trusted, but keyd must not
// crash or misbehave on anything it reads there. Other even kinds: the bytes are a Cap'n Proto
// message, sent with a valid header (kind & 2: the no-reply flag). Other odd kinds: a whole raw
// frame. VHSM_FUZZ_WRITE_SEEDS=DIR writes the seed inputs and exits.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <lmdb.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keyd/base/log.hpp"
#include "keyd/service/init_store.hpp"
#include "keyd/transport/frame_handler.hpp"

namespace fs = std::filesystem;
using namespace vhsm;
using Builder = std::function<void(proto::Request::Builder)>;

namespace {

const proto::NetnsIdentity kHost{1, 1};
fs::path templateDir, workDir;

// Records an input may overwrite: (database, key) as lmdb_store/lmdb_store.cpp lays them out.
struct StoreSlot {
  const char* db;
  std::string key;
};
const StoreSlot kStoreSlots[] = {
    {"users", "alice"},
    {"users", "root"},
    {"keys", std::string("alice\0h", 7)},
    {"keys", std::string("alice\0a", 7)},
    {"keys", std::string("alice\0e", 7)},
    {"keys", std::string("alice\0d", 7)},
    {"audit", std::string("\0\0\0\0\0\0\0\1", 8)},
    {"audit", std::string("\0\0\0\0\0\0\0\2", 8)},
};
constexpr uint8_t kStoreRecordKind = 4;

// Reads (value empty) or writes one record with LMDB itself, the store being closed.
std::vector<uint8_t> rawRecord(const fs::path& dir, const StoreSlot& slot,
                               const std::vector<uint8_t>* value) {
  std::vector<uint8_t> out;
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
      mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) == 0 &&
      mdb_txn_begin(env, nullptr, value ? 0 : MDB_RDONLY, &txn) == 0) {
    MDB_val k{slot.key.size(), const_cast<char*>(slot.key.data())}, v;
    if (mdb_dbi_open(txn, slot.db, 0, &dbi) == 0) {
      if (value) {
        v = {value->size(), const_cast<uint8_t*>(value->data())};
        if (mdb_put(txn, dbi, &k, &v, 0) == 0) mdb_txn_commit(txn), txn = nullptr;
      } else if (mdb_get(txn, dbi, &k, &v) == 0) {
        out.assign(static_cast<uint8_t*>(v.mv_data), static_cast<uint8_t*>(v.mv_data) + v.mv_size);
      }
    }
    if (txn) mdb_txn_abort(txn);
  }
  if (env) mdb_env_close(env);
  return out;
}

// Writes the input's store records; false when the input is to be skipped: a user record
// asking for more PBKDF2 iterations than a fuzzer can afford is slow, not wrong.
bool applyStoreRecords(const uint8_t* data, size_t size) {
  for (size_t at = 0; at + 3 <= size;) {
    uint8_t kind = data[at];
    size_t length = std::min(size_t(data[at + 1] | data[at + 2] << 8), size - at - 3);
    at += 3;
    if ((kind & kStoreRecordKind) && length > 0) {
      std::vector<uint8_t> value(data + at + 1, data + at + length);
      rawRecord(workDir, kStoreSlots[data[at] % std::size(kStoreSlots)], &value);
    }
    at += length;
  }
  try {
    auto store = store::Store::open(workDir);
    return store->read([](const store::ReadTxn& t) {
      for (const auto& user : t.users())
        if (user.kdfIterations > 10000) return false;
      return true;
    });
  } catch (...) {
    return true;  // an unreadable record: keyd's to handle
  }
}

kj::ArrayPtr<const kj::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

// One request as an input record (kind 0 or, with noReply, 2).
void append(std::vector<uint8_t>& input, const Builder& build, bool noReply = false) {
  capnp::MallocMessageBuilder message;
  build(message.initRoot<proto::Request>());
  auto words = capnp::messageToFlatArray(message);
  auto body = words.asBytes();
  // The flat message (segment table, segments) is a frame's payload; run() adds the header.
  input.push_back(noReply ? 2 : 0);
  input.push_back(uint8_t(body.size()));
  input.push_back(uint8_t(body.size() >> 8));
  input.insert(input.end(), body.begin(), body.end());
}

Builder login(const char* user, const char* password) {
  return [=](proto::Request::Builder r) {
    auto l = r.initLogin();
    l.setUser(user);
    l.setPassword(bytes(password));
  };
}

// Sends one frame (header + flat message) through the frame handler.
void deliver(keyd::Service& service, keyd::Session& session, std::vector<std::byte>& frame) {
  capnp::MallocMessageBuilder reply;
  auto outcome = keyd::handleFrame(service, session, frame, frame.size(), reply);
  if (outcome.replyDue) {
    proto::FrameHeader header;
    header.type = proto::FrameType::response;
    proto::OutgoingFrame out(header, reply);
    (void)out.size();
  }
}

// Runs one input against a fresh copy of the template store.
void run(const uint8_t* data, size_t size) {
  fs::remove_all(workDir);
  fs::copy(templateDir, workDir, fs::copy_options::recursive);
  if (!applyStoreRecords(data, size)) return;
  auto store = store::Store::open(workDir);
  keyd::Service service(*store, kHost);
  keyd::Session session(keyd::Peer{kHost, 1, 0});
  size_t at = 0;
  while (at + 3 <= size) {
    uint8_t kind = data[at];
    size_t length = data[at + 1] | size_t(data[at + 2]) << 8;
    at += 3;
    length = std::min(length, size - at);
    if (kind & kStoreRecordKind) {
      at += length;
      continue;
    }
    std::vector<std::byte> frame;
    if (kind & 1) {
      frame.assign(reinterpret_cast<const std::byte*>(data + at),
                   reinterpret_cast<const std::byte*>(data + at + length));
    } else {
      // A flat message: segment table then segments, as the client library sends it.
      proto::FrameHeader header;
      header.requestId = at;
      header.flags = (kind & 2) ? proto::kFlagNoReply : 0;
      header.payloadLength = uint32_t(length);
      frame.resize(proto::kHeaderSize + length);
      proto::encodeHeader(
          header, std::span<std::byte, proto::kHeaderSize>(frame.data(), proto::kHeaderSize));
      std::memcpy(frame.data() + proto::kHeaderSize, data + at, length);
    }
    at += length;
    deliver(service, session, frame);
  }
}

std::vector<std::vector<uint8_t>> seeds() {
  std::vector<std::vector<uint8_t>> out;
  auto hmac = [](proto::Request::Builder r) {
    auto h = r.initHmac();
    h.setKeyId("h");
    h.setData(bytes("data"));
  };
  {
    std::vector<uint8_t> s;
    append(s, login("alice", "alice-pw"));
    append(s, hmac);
    append(s, [](auto r) {
      auto g = r.initGcmEncrypt();
      g.setKeyId("a");
      g.setIv(bytes("123456789012"));
      g.setPlaintext(bytes("plaintext"));
    });
    append(s, [](auto r) {
      auto g = r.initSign();
      g.setKeyId("e");
      g.setData(bytes("0123456789abcdef0123456789abcdef"));
    });
    append(s, [](auto r) {
      auto g = r.initSign();
      g.setKeyId("d");
      g.setData(bytes("message"));
    });
    append(s, [](auto r) { r.setKeyList(); });
    append(s, [](auto r) { r.setKeyPublic("e"); });
    append(s, [](auto r) { r.setLogout(); });
    out.push_back(s);
  }
  {
    std::vector<uint8_t> s;
    append(s, login("alice", "alice-pw"));
    append(s, [](auto r) {
      auto h = r.initStreamInit().initHmac();
      h.setKeyId("h");
    });
    append(
        s,
        [](auto r) {
          auto u = r.initStreamUpdate();
          u.setHandle(1);
          u.setData(bytes("more data"));
        },
        true);
    append(s, [](auto r) { r.setStreamClone(1); });
    append(s, [](auto r) { r.initStreamFinal().setHandle(2); });
    append(s, [](auto r) { r.setStreamAbort(1); });
    append(s, [](auto r) {
      auto g = r.initStreamInit().initGcmDecrypt();
      g.setKeyId("a");
      g.setIv(bytes("123456789012"));
    });
    append(s, [](auto r) {
      r.setPing();
      auto gone = r.initAbandonedStreams(2);
      gone.set(0, 3);
      gone.set(1, 7);
    });
    append(s, [](auto r) { r.initStreamFinal().setHandle(3); });
    out.push_back(s);
  }
  {
    std::vector<uint8_t> s;
    append(s, login("root", "root-pw"));
    append(s, [](auto r) {
      auto u = r.initUserCreate();
      auto info = u.initInfo();
      info.setName("bob");
      info.initFlags().setRead(true);
      info.initContainers(1).set(0, "host");
      u.setPassword(bytes("bob-pw"));
    });
    append(s, [](auto r) {
      auto c = r.initContainerAdd();
      c.setName("web");
      c.setNetnsInode(77);
      c.setNetnsCookie(78);
    });
    append(s, [](auto r) {
      auto u = r.initUnlock();
      u.setUser("alice");
      u.setPassword(bytes("alice-pw"));
      u.setContainer("host");
      u.setTtlSeconds(60);
    });
    append(s, [](auto r) { r.initAuditList().setLimit(5); });
    append(s, [](auto r) { r.setAuditVerify(); });
    append(s, [](auto r) { r.setUserList(); });
    append(s, [](auto r) { r.setUserDelete("bob"); });
    out.push_back(s);
  }
  // Each store record as it is, then alice's and root's usual requests: a start for mutations.
  for (size_t slot = 0; slot < std::size(kStoreSlots); ++slot) {
    auto value = rawRecord(templateDir, kStoreSlots[slot], nullptr);
    if (value.empty()) continue;
    std::vector<uint8_t> s = {kStoreRecordKind, uint8_t(value.size() + 1),
                              uint8_t((value.size() + 1) >> 8), uint8_t(slot)};
    s.insert(s.end(), value.begin(), value.end());
    const auto& then = slot == 1 || std::string(kStoreSlots[slot].db) == "audit" ? out[2] : out[0];
    s.insert(s.end(), then.begin(), then.end());
    out.push_back(s);
  }
  {
    std::vector<uint8_t> s;
    append(s, [](auto r) { r.setPing(); });
    append(s, [](auto r) {
      auto d = r.initDigest();
      d.setData(bytes("abc"));
    });
    append(s, login("alice", ""));
    append(s, login("alice", "wrong"));
    append(s, [](auto r) { r.setWhoami(); });
    s.insert(s.end(), {1, 8, 0, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'});
    out.push_back(s);
  }
  return out;
}

void prepareTemplate() {
  // On tmpfs where there is one: every audited request is a durable write.
  fs::path tmp = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  static const fs::path base = tmp / ("vhsm-fuzz-" + std::to_string(getpid()));
  std::atexit([] { fs::remove_all(base); });
  templateDir = base / "template";
  workDir = base / "work";
  fs::remove_all(base);
  std::string rootPassword = "root-pw";
  keyd::initStore(templateDir,
                  {reinterpret_cast<const uint8_t*>(rootPassword.data()), rootPassword.size()},
                  1000);
  std::vector<uint8_t> setup;
  append(setup, login("root", "root-pw"));
  append(setup, [](auto r) {
    auto u = r.initUserCreate();
    auto info = u.initInfo();
    info.setName("alice");
    auto f = info.initFlags();
    f.setRead(true);
    f.setCreate(true);
    f.setModify(true);
    f.setDelete(true);
    info.initContainers(1).set(0, "host");
    u.setPassword(bytes("alice-pw"));
  });
  append(setup, [](auto r) { r.setLogout(); });
  append(setup, login("alice", "alice-pw"));
  append(setup, [](auto r) {
    auto k = r.initKeyImport();
    k.setId("h");
    k.setType(proto::KeyType::HMAC);
    k.setMaterial(bytes("0123456789abcdefghij"));
  });
  for (auto [id, type] : {std::pair{"a", proto::KeyType::AES},
                          {"e", proto::KeyType::EC_P256},
                          {"d", proto::KeyType::ED25519}})
    append(setup, [id = id, type = type](auto r) {
      auto k = r.initKeyGenerate();
      k.setId(id);
      k.setType(type);
    });
  run(setup.data(), setup.size());  // on a copy in workDir, which becomes the template
  fs::remove_all(templateDir);
  fs::rename(workDir, templateDir);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keyd::setLogLevel(keyd::LogLevel::error);
  prepareTemplate();
  if (const char* dir = std::getenv("VHSM_FUZZ_WRITE_SEEDS")) {
    int n = 0;
    for (const auto& s : seeds())
      std::ofstream(fs::path(dir) / ("seed-" + std::to_string(++n)), std::ios::binary)
          .write(reinterpret_cast<const char*>(s.data()), std::streamsize(s.size()));
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(data, size);
  return 0;
}
