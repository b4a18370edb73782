// Unmodified TLS servers that only read key files, given the PEM file that names a vhsm key
// (`vhsm-admin key uri-pem`): Debian's nginx with a master and workers under parallel curl
// load, through a reload and a keyd restart; Python's ssl module. The key's private bytes
// never appear in the memory of nginx's workers.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/provider/provider_env.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kCurl = "/usr/bin/curl";

ProviderOptions noPreference() {
  ProviderOptions o;
  o.globalPreference = false;
  return o;
}

// A key imported from a file we made (so its private bytes are known to search for), its
// certificate, and the URI PEM vhsm-admin prints for it.
struct ServerKey {
  ReferenceKey key;
  std::string cert, uriPem;
};

ServerKey serverKey(ProviderEnv& env, const TempDir& dir) {
  ServerKey s;
  s.key = referenceKey("P-256");
  env.alice().keyImport("web", KeyType::EC_P256,
                        Bytes(s.key.privatePem.begin(), s.key.privatePem.end()));
  s.cert = (dir.path() / "web.crt").string();
  auto made = openssl(env.config(), {"req", "-new", "-x509", "-key", "vhsm:web", "-subj",
                                     "/CN=localhost", "-days", "2", "-out", s.cert});
  REQUIRE(made.status == 0);
  auto passwordFile = writeFile(dir, "alice.pw", std::string(ProviderEnv::kPassword) + "\n");
  auto pem = runCommand({adminBinary(), "--socket", env.keyd().socket(), "--user", "alice",
                         "--password-file", passwordFile, "key", "uri-pem", "web"});
  INFO(pem.err);
  REQUIRE(pem.status == 0);
  CHECK(pem.out.find("-----BEGIN VHSM KEY URI-----") == 0);
  s.uriPem = writeFile(dir, "web.uri.pem", pem.out);
  return s;
}

std::mutex failureMutex;
std::string firstFailure;  // what curl said, for the report

bool fetch(const std::string& cert, int port, std::string* body = nullptr) {
  auto r = runCommand({kCurl, "-sS", "--max-time", "10", "--cacert", cert, "--resolve",
                       "localhost:" + std::to_string(port) + ":127.0.0.1",
                       "https://localhost:" + std::to_string(port) + "/"});
  if (body) *body = r.out;
  bool ok = r.status == 0 && r.out == "vhsm\n";
  std::lock_guard lock(failureMutex);
  if (!ok && firstFailure.empty()) firstFailure = r.err + r.out;
  return ok;
}

// `loops` parallel loops of `each` requests; returns how many failed.
int parallelRequests(const std::string& cert, int port, int loops, int each) {
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < loops; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < each; ++i)
        if (!fetch(cert, port)) ++failed;
    });
  for (auto& t : threads) t.join();
  return failed;
}

uid_t uidOf(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Uid:", 0) == 0) return uid_t(std::stoul(line.substr(4)));
  return uid_t(-1);
}

// A worker is forked as root and drops to its user a moment later: waits up to 10 s for it.
bool runsAs(pid_t pid, uid_t uid) {
  for (int i = 0; i < 500 && uidOf(pid) != uid; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return uidOf(pid) == uid;
}

std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> pids;
  std::ifstream children("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                         "/children");
  for (pid_t pid; children >> pid;) pids.push_back(pid);
  return pids;
}

// nginx's first worker opens the port; the master may start the next a moment later (seen
// under ASan on a loaded machine). Waits up to 10 s for `count` workers.
std::vector<pid_t> workersOf(pid_t master, size_t count) {
  auto workers = childrenOf(master);
  for (int i = 0; i < 500 && workers.size() < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    workers = childrenOf(master);
  }
  return workers;
}

// Debian's nginx runs its workers as www-data: they reach keyd through a socket of group
// www-data (--socket-group).
constexpr const char* kWorkerUser = "www-data";

std::string nginxConfig(const TempDir& dir, const ServerKey& key, int port) {
  auto root = dir.path().string();
  return "daemon off;\nmaster_process on;\nworker_processes 2;\nuser " + std::string(kWorkerUser) +
         ";\n"
         "pid " +
         root + "/nginx.pid;\nerror_log " + root +
         "/nginx-error.log info;\n"
         "env OPENSSL_CONF;\nevents { worker_connections 256; }\n"
         "http {\n  access_log off;\n"
         "  client_body_temp_path " +
         root + "/body; proxy_temp_path " + root +
         "/proxy;\n"
         "  fastcgi_temp_path " +
         root + "/fastcgi; uwsgi_temp_path " + root +
         "/uwsgi;\n"
         "  scgi_temp_path " +
         root +
         "/scgi;\n"
         "  server {\n    listen 127.0.0.1:" +
         std::to_string(port) +
         " ssl;\n"
         "    ssl_certificate " +
         key.cert + ";\n    ssl_certificate_key " + key.uriPem +
         ";\n"
         "    ssl_protocols TLSv1.2 TLSv1.3;\n"
         "    location / { return 200 \"vhsm\\n\"; }\n  }\n}\n";
}

}  // namespace

TEST_CASE(
    "nginx serves with a vhsm key through reloads and keyd restarts, workers never holding it",
    "[system-openssl]") {
  const passwd* worker = getpwnam(kWorkerUser);
  REQUIRE(worker);
  auto options = noPreference();
  options.keydArgs = {"--socket-group", kWorkerUser};
  ProviderEnv env(options);
  // What the workers open after they dropped root: keyd's socket, by its group, through a
  // directory they may only search. The password file stays root's alone: the workers log in
  // with the credentials the master read.
  REQUIRE(chmod(std::filesystem::path(env.keyd().socket()).parent_path().c_str(), 0711) == 0);
  REQUIRE(chmod(env.passwordFile().c_str(), 0600) == 0);
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  auto key = serverKey(env, dir);
  int port = freePort();
  auto conf = writeFile(dir, "nginx.conf", nginxConfig(dir, key, port));
  BackgroundProcess nginx({kNginx, "-c", conf, "-p", dir.path().string()},
                          providerProcessEnv(env.config()), dir.path() / "nginx.out");
  REQUIRE(waitForPort(port));
  INFO(readFile((dir.path() / "nginx-error.log").string()));
  auto workers = workersOf(nginx.pid(), 2);
  CHECK(workers.size() == 2);
  for (pid_t w : workers) CHECK(runsAs(w, worker->pw_uid));

  CHECK(parallelRequests(key.cert, port, 2, 100) == 0);

  // The workers have signed ~200 handshakes: the private scalar is in none of them.
  for (pid_t worker : workers) {
    auto scan = scanProcessMemory(worker, {key.key.secret});
    CHECK(scan.scannedBytes > 1000000);
    CHECK_FALSE(scan.found[0]);
  }

  // Reload: new workers, which connect to keyd afresh.
  nginx.signal(SIGHUP);
  for (int i = 0; i < 200 && childrenOf(nginx.pid()) == workers; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(childrenOf(nginx.pid()) != workers);
  CHECK(parallelRequests(key.cert, port, 2, 20) == 0);

  // keyd restarts while two loops run: the workers reconnect and log in again.
  auto logins = [&] {
    int n = 0;
    for (const auto& r : env.keyd().root()->auditList())
      n += r.action == "login" && r.target == "alice" && r.result == ErrorCode::OK;
    return n;
  };
  int loginsBefore = logins();
  std::atomic<int> failed{-1};
  std::thread load([&] { failed = parallelRequests(key.cert, port, 2, 60); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  env.keyd().stop();
  env.keyd().start();
  load.join();
  INFO("curl: " << firstFailure);
  INFO("nginx: " << readFile((dir.path() / "nginx-error.log").string()));
  CHECK(failed == 0);
  CHECK(parallelRequests(key.cert, port, 2, 10) == 0);
  CHECK(logins() >= loginsBefore + 2);  // both workers logged in again
}

TEST_CASE("Python's ssl module serves HTTPS with the URI PEM as its key file", "[system-openssl]") {
  ProviderEnv env(noPreference());
  TempDir dir;
  auto key = serverKey(env, dir);
  int port = freePort();
  auto script = writeFile(dir, "server.py", std::string(R"(
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"vhsm\n")
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[3])), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
)"));
  BackgroundProcess python({kPython, script, key.cert, key.uriPem, std::to_string(port)},
                           providerProcessEnv(env.config()), dir.path() / "python.out");
  REQUIRE(waitForPort(port));
  std::string body;
  for (int i = 0; i < 5; ++i) {
    INFO(readFile((dir.path() / "python.out").string()));
    CHECK(fetch(key.cert, port, &body));
  }
}
