#include "tests/support/etcd_cluster.hpp"

#include "tests/support/openssl_reference.hpp"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace vhsm::test {
namespace {

void run(const std::vector<std::string>& argv) {
  auto r = runCommand(argv);
  if (r.status != 0) throw std::runtime_error(argv[0] + " failed: " + r.err);
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, with the openssl CLI.
void makeCertificates(const std::filesystem::path& d) {
  auto p = [&](const char* name) { return (d / name).string(); };
  run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj",
       "/CN=vhsm test etcd CA"});
  for (auto [name, ext] : {std::pair{"server", "subjectAltName=IP:127.0.0.1,DNS:localhost"},
                           std::pair{"client", "extendedKeyUsage=clientAuth"}}) {
    std::string n = name;
    run({"/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", p((n + ".key").c_str()), "-out", p((n + ".csr").c_str()), "-subj",
         "/CN=" + n});
    std::ofstream(d / (n + ".ext")) << ext << "\n";
    run({"/usr/bin/openssl", "x509", "-req", "-in", p((n + ".csr").c_str()), "-CA", p("ca.pem"),
         "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile",
         p((n + ".ext").c_str()), "-out", p((n + ".pem").c_str())});
  }
}

}  // namespace

EtcdCluster::EtcdCluster(int members) {
  makeCertificates(dir_.path());
  {
    auto key = randomBytes(32);
    std::ofstream(dir_.path() / "record.key", std::ios::binary)
        .write(reinterpret_cast<const char*>(key.data()), std::streamsize(key.size()));
    std::filesystem::permissions(
        dir_.path() / "record.key",
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  for (int i = 0; i < members; ++i) {
    ports_.push_back(freePort());
    peerPorts_.push_back(freePort());
  }
  members_.resize(size_t(members));
  for (int i = 0; i < members; ++i) start(i);
  waitHealthy();
}

EtcdCluster::~EtcdCluster() {
  members_.clear();
}

std::filesystem::path EtcdCluster::dataDir(int member) const {
  return dir_.path() / ("member" + std::to_string(member));
}

void EtcdCluster::start(int member) {
  std::string cluster;
  for (int i = 0; i < size(); ++i)
    cluster += (i ? "," : "") + ("e" + std::to_string(i)) +
               "=http://127.0.0.1:" + std::to_string(peerPorts_[size_t(i)]);
  std::string name = "e" + std::to_string(member);
  std::string client = "https://127.0.0.1:" + std::to_string(ports_[size_t(member)]);
  std::string peer = "http://127.0.0.1:" + std::to_string(peerPorts_[size_t(member)]);
  auto d = dir_.path();
  members_[size_t(member)] =
      std::make_unique<BackgroundProcess>(std::vector<std::string>{"/usr/bin/etcd",
                                                                   "--name",
                                                                   name,
                                                                   "--data-dir",
                                                                   dataDir(member).string(),
                                                                   "--listen-client-urls",
                                                                   client,
                                                                   "--advertise-client-urls",
                                                                   client,
                                                                   "--listen-peer-urls",
                                                                   peer,
                                                                   "--initial-advertise-peer-urls",
                                                                   peer,
                                                                   "--initial-cluster",
                                                                   cluster,
                                                                   "--initial-cluster-state",
                                                                   "new",
                                                                   "--client-cert-auth",
                                                                   "--trusted-ca-file",
                                                                   (d / "ca.pem").string(),
                                                                   "--cert-file",
                                                                   (d / "server.pem").string(),
                                                                   "--key-file",
                                                                   (d / "server.key").string(),
                                                                   "--log-level",
                                                                   "warn"},
                                          std::vector<std::string>{}, d / (name + ".log"));
}

void EtcdCluster::kill(int member) {
  members_[size_t(member)]->signal(SIGKILL);
  members_[size_t(member)].reset();
}

std::string EtcdCluster::endpoints(int member) const {
  std::string out;
  for (int i = 0; i < size(); ++i)
    if (running(i) && (member < 0 || member == i))
      out += (out.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(ports_[size_t(i)]));
  return out;
}

std::string EtcdCluster::uri(const std::string& prefix) const {
  std::string out = "etcd://";
  for (int i = 0; i < size(); ++i)
    out += (i ? "," : "") + ("127.0.0.1:" + std::to_string(ports_[size_t(i)]));
  return out + prefix;
}

std::vector<std::string> EtcdCluster::keydArgs(const std::string& prefix,
                                               const std::string& host) const {
  auto d = dir_.path();
  return {"--store",           uri(prefix),
          "--etcd-cacert",     (d / "ca.pem").string(),
          "--etcd-cert",       (d / "client.pem").string(),
          "--etcd-key",        (d / "client.key").string(),
          "--etcd-record-key", (d / "record.key").string(),
          "--host-name",       host};
}

CommandResult EtcdCluster::etcdctl(const std::vector<std::string>& args, int member) const {
  auto d = dir_.path();
  std::vector<std::string> argv = {"/usr/bin/etcdctl",
                                   "--endpoints",
                                   endpoints(member),
                                   "--cacert",
                                   (d / "ca.pem").string(),
                                   "--cert",
                                   (d / "client.pem").string(),
                                   "--key",
                                   (d / "client.key").string(),
                                   "--dial-timeout",
                                   "2s",
                                   "--command-timeout",
                                   "3s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, "", {"ETCDCTL_API=3"});
}

int EtcdCluster::leader() {
  auto r = etcdctl({"endpoint", "status", "--write-out", "json"});
  auto statuses = nlohmann::json::parse(r.out, nullptr, false);
  if (!statuses.is_array()) return -1;
  for (const auto& s : statuses) {
    const auto& status = s["Status"];
    if (status["header"]["member_id"] != status["leader"]) continue;
    std::string endpoint = s["Endpoint"];
    for (int i = 0; i < size(); ++i)
      if (endpoint.find(":" + std::to_string(ports_[size_t(i)])) != std::string::npos) return i;
  }
  return -1;
}

void EtcdCluster::waitHealthy() {
  for (int attempt = 0; attempt < 150; ++attempt) {
    if (etcdctl({"endpoint", "health"}).status == 0 && leader() >= 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("etcd cluster did not become healthy (logs in " + dir_.path().string() +
                           ")");
}

}  // namespace vhsm::test
