// keyd on a shared etcd store (docs/cluster.md): three real etcd members on loopback with
// client certificates, two keyds as two hosts. What one host changes reaches the other; the
// audit chain stays one; members die and come back; nothing in etcd is usable without keyd.
#include <signal.h>

#include <openssl/evp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/refusal_of.hpp"
#include "tests/support/etcd_cluster.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;
using namespace std::chrono_literals;

namespace {

// Polls until fn holds (a change travelling between hosts), up to a generous bound: this
// asserts that it arrives, not how fast (bench/cluster.sh measures that).
bool eventually(const std::function<bool()>& fn, std::chrono::seconds bound = 15s) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (fn()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return fn();
}

std::unique_ptr<Client> loggedIn(const Keyd& keyd, const std::string& user,
                                 const std::string& password) {
  auto c = keyd.client();
  c->login(user, password);
  return c;
}

void createUser(Client& so, const std::string& name, const std::string& password) {
  UserInfo info;
  info.name = name;
  info.flags = {true, true, true, true, false};
  info.containers = {"host"};
  so.userCreate(info, password);
}

// Every file under dir (and the extra files), searched for each needle.
bool anyFileHolds(const std::vector<std::filesystem::path>& roots,
                  const std::vector<Bytes>& needles) {
  for (const auto& root : roots) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(root)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(root))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.push_back(root);
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (const auto& n : needles)
        if (data.find(std::string(n.begin(), n.end())) != std::string::npos) return true;
    }
  }
  return false;
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  out.resize(size_t(n));
  return out;
}

// etcd's JSON gateway as a holder of a client certificate would use it, with curl.
nlohmann::json etcdCall(const EtcdCluster& etcd, const std::string& path,
                        const nlohmann::json& body) {
  auto d = etcd.directory();
  auto r =
      runCommand({"/usr/bin/curl", "-sf", "--cacert", (d / "ca.pem").string(), "--cert",
                  (d / "client.pem").string(), "--key", (d / "client.key").string(), "-X", "POST",
                  "https://127.0.0.1:" + std::to_string(etcd.port(0)) + path, "-d", body.dump()});
  if (r.status != 0) throw std::runtime_error("curl to etcd failed: " + r.err);
  return nlohmann::json::parse(r.out);
}

std::string etcdValue(const EtcdCluster& etcd, const std::string& key) {
  auto reply = etcdCall(etcd, "/v3/kv/range", {{"key", base64(key)}});
  std::string b64 = reply.at("kvs").at(0).at("value");
  std::string out(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), int(b64.size()));
  out.resize(size_t(n) - std::count(b64.begin(), b64.end(), '='));
  return out;
}

void etcdPut(const EtcdCluster& etcd, const std::string& key, const std::string& value) {
  etcdCall(etcd, "/v3/kv/put", {{"key", base64(key)}, {"value", base64(value)}});
}

}  // namespace

TEST_CASE("two keyds on one etcd cluster share users, keys and one audit chain", "[etcd]") {
  EtcdCluster etcd;
  Keyd a(etcd.keydArgs("/vhsm", "host-a"), true);
  Keyd b(etcd.keydArgs("/vhsm", "host-b"), false);
  auto rootA = a.root();
  createUser(*rootA, "alice", "alice-pw");
  createUser(*rootA, "bob", "bob-pw");

  // A key made through A is usable from B at once, with A's bytes.
  auto aliceA = loggedIn(a, "alice", "alice-pw");
  auto aliceB = loggedIn(b, "alice", "alice-pw");
  auto material = randomBytes(32);
  aliceA->keyImport("shared", KeyType::HMAC, material);
  auto data = randomBytes(64);
  CHECK(aliceB->hmac("shared", HashAlgorithm::SHA256, data) ==
        referenceHmac("SHA256", material, data));

  // Deleted on A: B's session, which holds the key, stops using it.
  aliceA->keyDelete("shared");
  CHECK(eventually([&] {
    return refusalOf([&] { aliceB->hmac("shared", HashAlgorithm::SHA256, data); }) ==
           ErrorCode::UNKNOWN_KEY;
  }));

  // A flag revoked on A ends B's use of a key it holds.
  aliceA->keyImport("second", KeyType::HMAC, material);
  CHECK(aliceB->hmac("second", HashAlgorithm::SHA1, data) == referenceHmac("SHA1", material, data));
  rootA->userModify("alice", UserFlags{false, true, true, true, false}, std::nullopt);
  CHECK(eventually([&] {
    return refusalOf([&] { aliceB->hmac("second", HashAlgorithm::SHA1, data); }) ==
           ErrorCode::PERMISSION_DENIED;
  }));

  // An unlock granted on B ends when the user's password changes through A (B's own lock is
  // not needed): the grant was made with the old password.
  auto rootB0 = b.root();
  rootB0->unlock("alice", "alice-pw", "host", 600);
  CHECK(refusalOf([&] { loggedIn(b, "alice", ""); }) == ErrorCode::OK);
  aliceA->userPasswd("alice", "alice-pw", "alice-pw-2");
  CHECK(eventually(
      [&] { return refusalOf([&] { loggedIn(b, "alice", ""); }) == ErrorCode::NOT_UNLOCKED; }));

  // A user removed on A: the session it has on B ends.
  auto bobB = loggedIn(b, "bob", "bob-pw");
  bobB->keyImport("bobs", KeyType::HMAC, material);
  CHECK(bobB->hmac("bobs", HashAlgorithm::SHA1, data) == referenceHmac("SHA1", material, data));
  rootA->userDelete("bob");
  CHECK(eventually([&] {
    return refusalOf([&] { bobB->hmac("bobs", HashAlgorithm::SHA1, data); }) != ErrorCode::OK;
  }));
  // As for a name that never was (keyd does not tell which users exist).
  CHECK(refusalOf([&] { loggedIn(b, "bob", "bob-pw"); }) ==
        refusalOf([&] { loggedIn(b, "nobody", "bob-pw"); }));

  // Container registrations are per host: a namespace exists on one host only.
  TempDir scratch;
  BackgroundProcess inNetns({"/usr/bin/unshare", "-n", "/bin/sleep", "60"}, {},
                            scratch.path() / "out");
  std::this_thread::sleep_for(200ms);  // until unshare has made the namespace and exec'd sleep
  rootA->containerAddPid("web", inNetns.pid());
  auto rootB = b.root();
  auto names = [](const std::vector<ContainerInfo>& list) {
    std::set<std::string> out;
    for (const auto& c : list) out.insert(c.name);
    return out;
  };
  CHECK(names(rootA->containerList()).count("web") == 1);
  CHECK(names(rootB->containerList()).count("web") == 0);
  rootB->containerAddPid("web", inNetns.pid());  // B's own registration of the same name
  rootA->containerRemove("web");
  CHECK(names(rootB->containerList()).count("web") == 1);

  // One chain: records from both hosts, each naming its host, verified from either.
  std::set<std::string> hosts;
  for (const auto& r : rootB->auditList()) hosts.insert(r.host);
  CHECK(hosts == std::set<std::string>{"host-a", "host-b"});
  CHECK(rootA->auditVerify().ok);
  auto verdict = rootB->auditVerify();
  CHECK(verdict.ok);
  CHECK(verdict.records > 10);
  CHECK(rootB->status().host == "host-b");
  CHECK(rootB->status().ready);
}

TEST_CASE("the same change made on two hosts at once has one outcome", "[etcd]") {
  EtcdCluster etcd;
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  Keyd b(etcd.keydArgs("/vhsm", "b"), false);
  createUser(*a.root(), "alice", "pw");
  auto onA = loggedIn(a, "alice", "pw");
  auto onB = loggedIn(b, "alice", "pw");
  auto data = randomBytes(64);
  for (int round = 0; round < 20; ++round) {
    std::string id = "race" + std::to_string(round);
    auto materialA = randomBytes(32), materialB = randomBytes(32);
    ErrorCode fromA{}, fromB{};
    std::string why;
    auto attempt = [&](Client& c, const Bytes& m, ErrorCode& code) {
      try {
        c.keyImport(id, KeyType::HMAC, m);
        code = ErrorCode::OK;
      } catch (const Error& e) {
        code = e.code();
        why += e.what();
      }
    };
    std::thread ta([&] { attempt(*onA, materialA, fromA); });
    std::thread tb([&] { attempt(*onB, materialB, fromB); });
    ta.join();
    tb.join();
    INFO("round " << round << ": " << errorName(fromA) << " on A, " << errorName(fromB) << " on B "
                  << why);
    REQUIRE(((fromA == ErrorCode::OK && fromB == ErrorCode::KEY_EXISTS) ||
             (fromB == ErrorCode::OK && fromA == ErrorCode::KEY_EXISTS)));
    const auto& winner = fromA == ErrorCode::OK ? materialA : materialB;
    CHECK(onA->hmac(id, HashAlgorithm::SHA256, data) == referenceHmac("SHA256", winner, data));
    CHECK(onB->hmac(id, HashAlgorithm::SHA256, data) == referenceHmac("SHA256", winner, data));
  }
  // Two officers creating one user name: one user, one refusal.
  ErrorCode fromA{}, fromB{};
  auto rootA = a.root(), rootB = b.root();
  UserInfo carol;
  carol.name = "carol";
  carol.flags = {true, true, true, true, false};
  carol.containers = {"host"};
  std::thread ta([&] { fromA = refusalOf([&] { rootA->userCreate(carol, "from-a"); }); });
  std::thread tb([&] { fromB = refusalOf([&] { rootB->userCreate(carol, "from-b"); }); });
  ta.join();
  tb.join();
  CHECK(((fromA == ErrorCode::OK && fromB == ErrorCode::USER_EXISTS) ||
         (fromB == ErrorCode::OK && fromA == ErrorCode::USER_EXISTS)));
  // The chain took every append from both hosts in one order.
  CHECK(rootA->auditVerify().ok);
}

TEST_CASE("etcd members failing: nothing acknowledged is lost, keys in use keep working",
          "[etcd]") {
  EtcdCluster etcd;
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  Keyd b(etcd.keydArgs("/vhsm", "b"), false);
  createUser(*a.root(), "alice", "pw");
  auto material = randomBytes(32), data = randomBytes(64);
  auto expected = referenceHmac("SHA1", material, data);
  loggedIn(a, "alice", "pw")->keyImport("held", KeyType::HMAC, material);
  auto user = loggedIn(b, "alice", "pw");
  REQUIRE(user->hmac("held", HashAlgorithm::SHA1, data) == expected);
  auto officer = b.root();  // logged in while etcd answers

  // A mixed workload: key use on B, key creation on A, while the leader dies.
  std::atomic<bool> stop{false};
  std::atomic<int> useFailures{0}, uses{0};
  std::mutex ackedMutex;
  std::vector<std::string> acknowledged;
  std::thread use([&] {
    while (!stop) {
      try {
        if (user->hmac("held", HashAlgorithm::SHA1, data) != expected) ++useFailures;
        ++uses;
      } catch (const Error&) {
        ++useFailures;
      }
    }
  });
  std::thread manage([&] {
    auto creator = loggedIn(a, "alice", "pw");
    for (int i = 0; !stop; ++i) {
      std::string id = "m" + std::to_string(i);
      if (refusalOf([&] { creator->keyImport(id, KeyType::HMAC, material); }) == ErrorCode::OK) {
        std::lock_guard lock(ackedMutex);
        acknowledged.push_back(id);
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
  });
  auto ackedCount = [&] {
    std::lock_guard lock(ackedMutex);
    return acknowledged.size();
  };
  CHECK(eventually([&] { return ackedCount() >= 5; }));
  int leader = etcd.leader();
  REQUIRE(leader >= 0);
  etcd.kill(leader);
  size_t atKill = ackedCount();
  // Management resumes once the two left have elected a leader.
  CHECK(eventually([&] { return ackedCount() >= atKill + 5; }, 30s));
  stop = true;
  use.join();
  manage.join();
  CHECK(useFailures == 0);
  CHECK(uses > 0);
  std::set<std::string> listed;
  for (const auto& k : loggedIn(b, "alice", "pw")->keyList()) listed.insert(k.id);
  for (const auto& id : acknowledged) {
    INFO("acknowledged key " << id);
    CHECK(listed.count(id) == 1);
  }

  // Every member down: the key a session holds keeps working; anything needing the store
  // fails at once with storeUnavailable; keyd says it is not ready.
  for (int i = 0; i < etcd.size(); ++i)
    if (etcd.running(i)) etcd.kill(i);
  for (int i = 0; i < 20; ++i) CHECK(user->hmac("held", HashAlgorithm::SHA1, data) == expected);
  CHECK(refusalOf([&] { loggedIn(b, "alice", "pw"); }) == ErrorCode::STORE_UNAVAILABLE);
  CHECK(refusalOf([&] { user->keyImport("during-outage", KeyType::HMAC, material); }) ==
        ErrorCode::STORE_UNAVAILABLE);
  CHECK(eventually([&] { return !officer->status().ready; }));
  auto status = runCommand({adminBinary(), "--socket", b.socket(), "status"}, "",
                           {"VHSM_USER=root", std::string("VHSM_PASSWORD=") + Keyd::kRootPassword});
  CHECK(status.status == 3);
  CHECK(status.out.find("not ready") != std::string::npos);
  CHECK(status.out.find("etcd") != std::string::npos);  // and why

  // A keyd started while etcd is down starts, and says it is not ready.
  b.stop();
  b.start();
  status = runCommand({adminBinary(), "--socket", b.socket(), "status"}, "",
                      {"VHSM_USER=root", std::string("VHSM_PASSWORD=") + Keyd::kRootPassword});
  CHECK(status.status == 3);
  CHECK(status.out.find("not ready") != std::string::npos);

  // A client from a namespace of its own, while keyd cannot read the registrations: refused
  // or served, never a crash.
  int child = inNewNetns([&] {
    try {
      b.client()->ping();
    } catch (const Error&) {
    }
    return 0;
  });
  CHECK(child == 0);
  CHECK(refusalOf([&] { b.client()->ping(); }) == ErrorCode::OK);

  // etcd back: both keyds serve again, without a restart.
  for (int i = 0; i < etcd.size(); ++i) etcd.start(i);
  etcd.waitHealthy();
  CHECK(eventually([&] {
    return refusalOf([&] { loggedIn(b, "alice", "pw"); }) == ErrorCode::OK &&
           refusalOf([&] { loggedIn(a, "alice", "pw"); }) == ErrorCode::OK;
  }));
  CHECK(eventually([&] { return b.root()->status().ready; }));
  CHECK(user->hmac("held", HashAlgorithm::SHA1, data) == expected);
  CHECK(a.root()->auditVerify().ok);
}

TEST_CASE("etcd holds nothing usable without keyd, and admits only certified clients", "[etcd]") {
  EtcdCluster etcd;
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  const std::string password = "alice-cluster-password";
  createUser(*a.root(), "alice", password);
  auto alice = loggedIn(a, "alice", password);
  auto hmacKey = randomBytes(32), aesKey = randomBytes(32);
  alice->keyImport("mac", KeyType::HMAC, hmacKey);
  alice->keyImport("aes", KeyType::AES, aesKey);
  alice->keyGenerate("sig", KeyType::EC_P256);
  // The records are there (wrapped), in the members' data and in a snapshot.
  auto listed = etcd.etcdctl({"get", "--prefix", "/vhsm/keys/alice/", "--keys-only"});
  CHECK(listed.out.find("/vhsm/keys/alice/mac") != std::string::npos);
  auto snapshot = etcd.directory() / "snapshot.db";
  REQUIRE(etcd.etcdctl({"snapshot", "save", snapshot.string()}, etcd.leader()).status == 0);
  std::vector<std::filesystem::path> places = {snapshot};
  for (int i = 0; i < etcd.size(); ++i) places.push_back(etcd.dataDir(i));
  CHECK_FALSE(anyFileHolds(places, {hmacKey, aesKey, bytesOf(password)}));

  // No client certificate, no store: the member refuses the TLS handshake.
  std::string url = "https://127.0.0.1:" + std::to_string(etcd.port(0)) + "/v3/kv/range";
  std::string body = R"({"key":"L3Zoc20v","range_end":"L3Zoc20w"})";
  auto ca = (etcd.directory() / "ca.pem").string();
  CHECK(
      runCommand({"/usr/bin/curl", "-sf", "--cacert", ca, "-X", "POST", url, "-d", body}).status !=
      0);
  auto withCert = runCommand(
      {"/usr/bin/curl", "-sf", "--cacert", ca, "--cert", (etcd.directory() / "client.pem").string(),
       "--key", (etcd.directory() / "client.key").string(), "-X", "POST", url, "-d", body});
  CHECK(withCert.status == 0);
  CHECK(withCert.out.find("kvs") != std::string::npos);
}

TEST_CASE("a backup taken under load restores into LMDB and into etcd", "[etcd]") {
  Keyd source;
  auto alice = source.newUser("alice", "pw");
  auto materialOf = [](int i) { return Bytes(32, uint8_t(i)); };
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::thread load([&] {
    auto c = loggedIn(source, "alice", "pw");
    for (int i = 0; !stop && i < 250; ++i) {
      c->keyImport("k" + std::to_string(i), KeyType::HMAC, materialOf(i));
      acknowledged = i + 1;
    }
  });
  while (acknowledged < 20) std::this_thread::sleep_for(5ms);
  int before = acknowledged;  // acknowledged before the backup began: all must be in it
  TempDir out;
  auto file = out.path() / "vhsm.backup";
  std::vector<std::string> asRoot = {"VHSM_USER=root",
                                     std::string("VHSM_PASSWORD=") + Keyd::kRootPassword};
  auto made = runCommand(
      {adminBinary(), "--socket", source.socket(), "backup", "--out", file.string()}, "", asRoot);
  stop = true;
  load.join();
  REQUIRE(made.status == 0);
  INFO(made.err);

  auto data = randomBytes(64);
  auto check = [&](Keyd& restored, size_t generations) {
    auto c = loggedIn(restored, "alice", "pw");
    for (int i = 0; i < before; ++i) {
      INFO("key k" << i);
      REQUIRE(c->hmac("k" + std::to_string(i), HashAlgorithm::SHA256, data) ==
              referenceHmac("SHA256", materialOf(i), data));
    }
    CHECK(restored.root()->auditVerify().ok);
    size_t backups = 0, restores = 0;
    for (const auto& r : restored.root()->auditList()) {
      backups += r.action == "backup";
      restores += r.action == "restore";
    }
    CHECK(backups == generations);
    CHECK(restores == generations);
  };

  source.stop();  // the store is gone: only the backup is left
  std::filesystem::remove_all(source.store());

  auto lmdb = out.path() / "restored";
  auto r = runCommand({adminBinary(), "restore", "--in", file.string(), "--store", lmdb.string()});
  REQUIRE(r.status == 0);
  {
    Keyd restored({"--store", lmdb.string()}, false);
    check(restored, 1);
  }

  // The same file migrates the store onto etcd.
  EtcdCluster etcd(1);
  auto args = etcd.keydArgs("/migrated", "host-a");
  std::vector<std::string> restore = {adminBinary(), "restore", "--in", file.string()};
  restore.insert(restore.end(), args.begin(), args.end());
  r = runCommand(restore);
  REQUIRE(r.status == 0);
  INFO(r.err);
  {
    Keyd restored(args, false);
    check(restored, 1);
    // And back: a backup of the etcd store (one revision) restored into LMDB.
    auto again = out.path() / "from-etcd.backup";
    REQUIRE(runCommand(
                {adminBinary(), "--socket", restored.socket(), "backup", "--out", again.string()},
                "", asRoot)
                .status == 0);
    auto lmdb2 = out.path() / "restored-from-etcd";
    REQUIRE(
        runCommand({adminBinary(), "restore", "--in", again.string(), "--store", lmdb2.string()})
            .status == 0);
    Keyd back({"--store", lmdb2.string()}, false);
    check(back, 2);
  }
  // Never over a store that is there.
  r = runCommand(restore);
  CHECK(r.status != 0);
  CHECK(r.err.find("already exists") != std::string::npos);

  // A damaged backup is refused before anything is made.
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto truncated = out.path() / "truncated.backup", altered = out.path() / "altered.backup";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  bytes[bytes.size() / 3] ^= 1;
  std::ofstream(altered, std::ios::binary) << bytes;
  for (auto [damaged, word] : {std::pair{truncated, "truncated"}, std::pair{altered, "altered"}}) {
    auto target = out.path() / ("from-" + damaged.filename().string());
    r = runCommand(
        {adminBinary(), "restore", "--in", damaged.string(), "--store", target.string()});
    CHECK(r.status != 0);
    CHECK(r.err.find(word) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(target));
  }
}

TEST_CASE("etcd write access alone cannot grant rights: records are authenticated", "[etcd]") {
  EtcdCluster etcd;
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  auto root = a.root();
  createUser(*root, "alice", "alice-pw");
  createUser(*root, "mallory", "mallory-pw");
  loggedIn(a, "alice", "alice-pw")->keyImport("k", KeyType::HMAC, randomBytes(32));
  auto malloryBefore = etcdValue(etcd, "/vhsm/users/mallory");

  // Root's record under another name: mallory with root's rights and password. Refused, as is
  // any edit of a record (here alice's, a byte of it).
  etcdPut(etcd, "/vhsm/users/mallory", etcdValue(etcd, "/vhsm/users/root"));
  std::string alice = etcdValue(etcd, "/vhsm/users/alice");
  alice[alice.size() / 2] ^= 1;
  etcdPut(etcd, "/vhsm/users/alice", alice);
  auto refused = [&](const std::string& user, const std::string& password) {
    try {
      loggedIn(a, user, password);
      return std::string("logged in");
    } catch (const Error& e) {
      return std::string(e.what());
    }
  };
  CHECK(refused("mallory", Keyd::kRootPassword).find("fails authentication") != std::string::npos);
  CHECK(refused("alice", "alice-pw").find("fails authentication") != std::string::npos);
  // A key record moved to another owner: not alice's key under mallory's name.
  etcdPut(etcd, "/vhsm/users/mallory", malloryBefore);
  etcdPut(etcd, "/vhsm/keys/mallory/k", etcdValue(etcd, "/vhsm/keys/alice/k"));
  auto mallory = loggedIn(a, "mallory", "mallory-pw");
  CHECK(refusalOf([&] { mallory->hmac("k", HashAlgorithm::SHA256, randomBytes(8)); }) ==
        ErrorCode::STORE_ERROR);

  // A keyd with another cluster's record key does not start on this store.
  TempDir other;
  auto wrongKey = other.path() / "record.key";
  std::ofstream(wrongKey, std::ios::binary) << std::string(32, 'x');
  std::filesystem::permissions(wrongKey, std::filesystem::perms::owner_read);
  auto args = etcd.keydArgs("/vhsm", "b");
  *(std::find(args.begin(), args.end(), "--etcd-record-key") + 1) = wrongKey.string();
  args.insert(args.begin(), keydBinary());
  args.insert(args.end(), {"--socket", (other.path() / "s").string()});
  auto r = runCommand(args);
  CHECK(r.status == 1);
  CHECK(r.err.find("fails authentication") != std::string::npos);
  // Nor one without TLS to etcd.
  auto plain = args;
  plain.erase(std::find(plain.begin(), plain.end(), "--etcd-cacert"),
              std::find(plain.begin(), plain.end(), "--etcd-cacert") + 2);
  r = runCommand(plain);
  CHECK(r.status == 1);
  CHECK(r.err.find("--etcd-cacert") != std::string::npos);
  // Nor one whose key file others may read.
  std::filesystem::permissions(wrongKey, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  r = runCommand(args);
  CHECK(r.status == 1);
  CHECK(r.err.find("chmod 600") != std::string::npos);
}

TEST_CASE("a burst of audited requests on etcd keeps every record", "[etcd]") {
  EtcdCluster etcd(1);
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  createUser(*a.root(), "alice", "pw");
  // Logins are recorded by the audit writer in batches; a batch larger than one etcd
  // transaction may hold is written in several.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 40; ++i) loggedIn(a, "alice", "pw");
    });
  for (auto& t : threads) t.join();
  auto root = a.root();
  size_t logins = 0;
  for (const auto& r : root->auditList())
    if (r.action == "login" && r.actor == "alice") ++logins;
  CHECK(logins == 320);
  CHECK(root->auditVerify().ok);

  // A user with more keys than one etcd transaction has operations is deleted whole.
  createUser(*root, "bob", "pw");
  auto bob = loggedIn(a, "bob", "pw");
  for (int i = 0; i < 150; ++i)
    bob->keyImport("k" + std::to_string(i), KeyType::HMAC, randomBytes(16));
  root->userDelete("bob");
  createUser(*root, "bob", "pw");
  CHECK(loggedIn(a, "bob", "pw")->keyList().empty());
  auto left = etcd.etcdctl({"get", "--prefix", "/vhsm/keys/bob/", "--keys-only"});
  CHECK(left.status == 0);
  CHECK(left.out.find("/vhsm/keys/bob/") == std::string::npos);
}

TEST_CASE("one container name, a namespace of its own on each host", "[etcd]") {
  EtcdCluster etcd(1);
  Keyd a(etcd.keydArgs("/vhsm", "a"), true);
  Keyd b(etcd.keydArgs("/vhsm", "b"), false);
  auto rootA = a.root(), rootB = b.root();
  UserInfo alice;
  alice.name = "alice";
  alice.flags = {true, true, true, true, false};
  alice.containers = {"web"};
  auto material = randomBytes(32), data = randomBytes(64);
  auto expected = referenceHmac("SHA256", material, data);
  // Host A's "web": the key is made there; the same namespace is nothing on host B.
  int onA = inNewNetns(
      [&] {
        auto c = loggedIn(a, "alice", "pw");
        c->keyImport("k", KeyType::HMAC, material);
        if (c->hmac("k", HashAlgorithm::SHA256, data) != expected) return 1;
        if (refusalOf([&] { loggedIn(b, "alice", "pw"); }) != ErrorCode::CONTAINER_NOT_ALLOWED)
          return 2;
        return 0;
      },
      [&](pid_t pid) {
        rootA->containerAddPid("web", pid);
        rootA->userCreate(alice, "pw");  // binding a user needs the name registered here
      });
  CHECK(onA == 0);
  // Host B's "web", another namespace: the same user and key; host A does not know it.
  int onB = inNewNetns(
      [&] {
        if (loggedIn(b, "alice", "pw")->hmac("k", HashAlgorithm::SHA256, data) != expected)
          return 3;
        if (refusalOf([&] { loggedIn(a, "alice", "pw"); }) != ErrorCode::CONTAINER_NOT_ALLOWED)
          return 4;
        return 0;
      },
      [&](pid_t pid) { rootB->containerAddPid("web", pid); });
  CHECK(onB == 0);
}
