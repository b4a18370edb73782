// vhsm-bench-cluster: what a shared etcd store costs, next to the embedded one and to etcd's own
// latency, measured in the same run (bench/cluster.sh starts the keyds and the cluster).
//   - HMAC-SHA1 64 B with a key the session holds, etcd-backed keyd against LMDB-backed, in
//     alternating blocks: the hot path must not touch etcd;
//   - first use on host B of a key just made on host A (p50/p99), against first use on LMDB;
//   - key creation per second, and login time, on each store;
//   - etcd's own linearizable read and transaction latency, through the same client keyd uses.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vhsm/client.hpp>

#include "bench/measure.hpp"
#include "store/etcd_client.hpp"

using namespace vhsm;
using namespace vhsm::bench;

namespace {

struct Percentiles {
  double p50, p99, perSecond;
};

Percentiles timeEach(int n, const std::function<void(int)>& op) {
  std::vector<double> us;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    op(i);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], n / seconds};
}

std::unique_ptr<Client> session(const std::string& socket, const std::string& user,
                                const std::string& password) {
  ClientOptions o;
  o.socketPath = socket;
  auto c = std::make_unique<Client>(o);
  c->login(user, password);
  return c;
}

void row(const char* what, const char* lmdb, const char* etcd, const std::string& note = {}) {
  std::printf("| %s | %s | %s | %s |\n", what, lmdb, etcd, note.c_str());
}

std::string fmt(const char* format, double a, double b = 0) {
  char out[96];
  std::snprintf(out, sizeof out, format, a, b);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-bench-cluster: an etcd-backed keyd against an LMDB-backed one"};
  std::string lmdbSocket, socketA, socketB, user = "bench", password = "bench-password";
  std::string endpoint, ca, cert, key;
  double seconds = 2;
  int samples = 200;
  app.add_option("--lmdb-socket", lmdbSocket)->required();
  app.add_option("--etcd-socket-a", socketA, "keyd on etcd, host A")->required();
  app.add_option("--etcd-socket-b", socketB, "keyd on etcd, host B")->required();
  app.add_option("--user", user);
  app.add_option("--password", password);
  app.add_option("--etcd-endpoint", endpoint, "HOST:PORT of a member")->required();
  app.add_option("--etcd-cacert", ca);
  app.add_option("--etcd-cert", cert);
  app.add_option("--etcd-key", key);
  app.add_option("--seconds", seconds, "HMAC comparison time");
  app.add_option("--samples", samples, "keys made, first uses and logins timed");
  CLI11_PARSE(app, argc, argv);

  auto lmdb = session(lmdbSocket, user, password);
  auto a = session(socketA, user, password);
  auto b = session(socketB, user, password);
  Bytes material(20, 0x0b), data(64, 0x61);
  for (auto* c : {lmdb.get(), a.get()}) c->keyImport("hot", KeyType::HMAC, material);
  std::printf("| case | LMDB keyd | etcd keyd | note |\n|---|---|---|---|\n");

  auto hot = pairedRates(
      seconds, 200, [&] { lmdb->hmac("hot", HashAlgorithm::SHA1, data); },
      [&] { a->hmac("hot", HashAlgorithm::SHA1, data); });
  row("HMAC-SHA1 64 B, key held (ops/s)", fmt("%.0f", hot.a).c_str(), fmt("%.0f", hot.b).c_str(),
      fmt("etcd / LMDB = %.3f (alternating blocks)", hot.b / hot.a));

  auto createL = timeEach(
      samples, [&](int i) { lmdb->keyImport("c" + std::to_string(i), KeyType::HMAC, material); });
  auto createE = timeEach(
      samples, [&](int i) { a->keyImport("c" + std::to_string(i), KeyType::HMAC, material); });
  row("key creation (keys/s)", fmt("%.0f", createL.perSecond).c_str(),
      fmt("%.0f", createE.perSecond).c_str(),
      fmt("p50 %.0f µs LMDB, %.0f µs etcd", createL.p50, createE.p50));

  // First use: a new key on host A, then its first HMAC from a session on host B (keyd B reads
  // it from etcd and unwraps it); on LMDB, a key made and then used by a second session.
  auto other = session(lmdbSocket, user, password);
  auto firstL = timeEach(
      samples, [&](int i) { other->hmac("c" + std::to_string(i), HashAlgorithm::SHA1, data); });
  auto firstE = timeEach(
      samples, [&](int i) { b->hmac("c" + std::to_string(i), HashAlgorithm::SHA1, data); });
  row("first use of a key (p50 / p99 µs)", fmt("%.0f / %.0f", firstL.p50, firstL.p99).c_str(),
      fmt("%.0f / %.0f", firstE.p50, firstE.p99).c_str(),
      "etcd: made on host A, first used on host B");

  // A deletion on host A reaching a session on host B that holds the key: from keyDelete's
  // answer to B's first refusal (the watch's delivery; B polls every 100 µs).
  std::vector<double> reach;
  for (int i = 0; i < std::max(5, samples / 10); ++i) {
    std::string id = "r" + std::to_string(i);
    a->keyImport(id, KeyType::HMAC, material);
    b->hmac(id, HashAlgorithm::SHA1, data);
    a->keyDelete(id);
    auto t0 = Clock::now();
    for (;;) {
      try {
        b->hmac(id, HashAlgorithm::SHA1, data);
      } catch (const Error&) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    reach.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(reach.begin(), reach.end());
  row("key deleted on A refused on B (p50 / max ms)", "—",
      fmt("%.1f / %.1f", reach[reach.size() / 2], reach.back()).c_str(),
      "a session on B holding the key; etcd watch");

  auto loginL = timeEach(samples / 4, [&](int) { session(lmdbSocket, user, password); });
  auto loginE = timeEach(samples / 4, [&](int) { session(socketB, user, password); });
  row("login incl. connect (p50 / p99 µs)", fmt("%.0f / %.0f", loginL.p50, loginL.p99).c_str(),
      fmt("%.0f / %.0f", loginE.p50, loginE.p99).c_str(), "PBKDF2 of the store's iterations");

  store::EtcdOptions options;
  options.endpoints = {endpoint};
  options.caFile = ca;
  options.certFile = cert;
  options.keyFile = key;
  store::EtcdClient etcd(options);
  auto reads = timeEach(samples, [&](int) { etcd.range("/bench-probe", ""); });
  auto txns = timeEach(samples, [&](int i) {
    etcd.txn({}, {{"/bench-probe", std::to_string(i), false, ""}});
  });
  row("etcd alone: read / txn (p50 µs)", "—", fmt("%.0f / %.0f", reads.p50, txns.p50).c_str(),
      fmt("p99 %.0f / %.0f µs", reads.p99, txns.p99));
  for (int i = 0; i < samples; ++i) {
    lmdb->keyDelete("c" + std::to_string(i));
    a->keyDelete("c" + std::to_string(i));
  }
  return 0;
}
