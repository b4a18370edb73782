// Unmodified programs of Debian 12 that speak PKCS#11, each loading libvhsm-pkcs11.so as its
// users would configure it: p11-kit (a module file), GnuTLS (p11tool, gnutls-serv serving a
// pkcs11: key to gnutls-cli), OpenSSH (ssh-keygen -D, ssh -I to a loopback sshd, ssh-agent),
// NSS (modutil, certutil) and Java (keytool with SunPKCS11). The keys are keyd's; the same
// key serves through the OpenSSL provider at the same time.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <thread>

#include "tests/provider/provider_env.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

constexpr const char* kPin = ProviderEnv::kPassword;  // alice's password is her PIN

// alice's keys through the module, for programs run as a user runs them.
struct Programs {
  mutable ProviderEnv env;
  TempDir dir;

  // The environment of a program loading the module; withPassword: logged in without a PIN.
  std::vector<std::string> moduleEnv(bool withPassword = true) const {
    std::vector<std::string> e = {"VHSM_SOCKET=" + env.keyd().socket(), "VHSM_USER=alice",
                                  "HOME=" + dir.path().string()};
    if (withPassword) e.push_back(std::string("VHSM_PASSWORD=") + kPin);
#ifdef SANITIZER_PRELOAD
    // These programs are not instrumented: a sanitized module needs the runtimes first. The
    // JVM handles SIGSEGV itself.
    e.push_back("LD_PRELOAD=" SANITIZER_PRELOAD);
    e.push_back(
        "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:handle_segv=0:"
        "allow_user_segv_handler=1");
#endif
    return e;
  }
  CommandResult run(const std::vector<std::string>& argv, bool withPassword = true,
                    const std::vector<std::string>& more = {}) const {
    auto e = moduleEnv(withPassword);
    e.insert(e.end(), more.begin(), more.end());
    return runCommand(argv, "", e);
  }
  std::string path(const std::string& name) const {
    return (dir.path() / name).string();
  }
};

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("p11-kit loads the module from a module file, and p11tool lists its objects") {
  Programs t;
  t.env.alice().keyGenerate("web", KeyType::EC_P256);
  t.env.alice().keyGenerate("mac", KeyType::HMAC);
  std::filesystem::create_directories(t.dir.path() / ".config/pkcs11/modules");
  std::ofstream(t.dir.path() / ".config/pkcs11/modules/vhsm.module")
      << "module: " VHSM_PKCS11_MODULE "\n";
  // p11-kit reads a user's module files only when not run as root: the test runs it as uid
  // 1000 of a user namespace, as an ordinary user would.
  auto listed = t.run({"/usr/bin/unshare", "-U", "--map-user=1000", "--map-group=1000",
                       "/usr/bin/p11-kit", "list-modules"});
  INFO(listed.out << listed.err);
  CHECK(listed.status == 0);
  CHECK(contains(listed.out, "vhsm: " VHSM_PKCS11_MODULE));
  CHECK(contains(listed.out, "token: alice"));

  auto all = t.run(
      {"/usr/bin/p11tool", "--provider", VHSM_PKCS11_MODULE, "--list-all", "pkcs11:token=alice"});
  INFO(all.out << all.err);
  CHECK(all.status == 0);
  CHECK(contains(all.out, "object=web;type=private"));
  CHECK(contains(all.out, "Type: Private key (EC/ECDSA-SECP256R1)"));
  CHECK(contains(all.out, "object=web;type=public"));
  CHECK(contains(all.out, "object=mac;type=secret-key"));
  CHECK(contains(all.out, "CKA_SENSITIVE"));
}

TEST_CASE("gnutls-serv serves TLS with a pkcs11: key while the provider uses the same key") {
  Programs t;
  t.env.alice().keyGenerate("web", KeyType::EC_P256);
  // The certificate is made through the OpenSSL provider, signed by the key in keyd.
  auto cert = t.path("web.crt");
  auto made = openssl(t.env.config(), {"req", "-x509", "-key", "vhsm:web", "-subj", "/CN=localhost",
                                       "-days", "2", "-out", cert});
  INFO(made.err);
  REQUIRE(made.status == 0);

  // The key's URI as vhsm-admin prints it.
  auto uri = runCommand({adminBinary(), "--socket", t.env.keyd().socket(), "--user", "alice",
                         "--password-file", t.env.passwordFile().string(), "key", "uri", "--pkcs11",
                         "web"});
  INFO(uri.err);
  REQUIRE(uri.status == 0);
  CHECK(uri.out == "pkcs11:manufacturer=vhsm;token=alice;id=%77%65%62;object=web;type=private\n");
  uri.out.pop_back();

  int port = freePort();
  BackgroundProcess gnutls(
      {"/usr/bin/gnutls-serv", "--port", std::to_string(port), "--x509certfile", cert,
       "--x509keyfile", uri.out, "--provider", VHSM_PKCS11_MODULE},
      t.moduleEnv(), t.path("gnutls-serv.log"));
  REQUIRE(waitForPort(port));
  // The provider serves the same key from another process at the same time.
  int opensslPort = freePort();
  auto env = providerProcessEnv(t.env.config());
  BackgroundProcess server({opensslBinary(), "s_server", "-accept", std::to_string(opensslPort),
                            "-cert", cert, "-key", "vhsm:web", "-www"},
                           env, t.path("s_server.log"));
  REQUIRE(waitForPort(opensslPort));

  for (int p : {port, opensslPort}) {
    INFO("port " << p);
    auto client = runCommand(
        {"/usr/bin/gnutls-cli", "--port", std::to_string(p), "--x509cafile", cert, "localhost"},
        "GET / HTTP/1.0\r\n\r\n");
    INFO(client.out << client.err << readFile(t.path("gnutls-serv.log")));
    CHECK(contains(client.out + client.err, "Status: The certificate is trusted."));
    CHECK(contains(client.out + client.err, "Handshake was completed"));
    CHECK(contains(client.out, "200"));
  }
}

TEST_CASE("OpenSSH: ssh-keygen -D, ssh -I to a loopback sshd, and ssh-agent with ssh-add -s") {
  Programs t;
  t.env.alice().keyGenerate("ssh", KeyType::EC_P256);
  // OpenSSH 9.2 (Debian 12) takes EC and RSA keys from PKCS#11, not Ed25519 ones.
  t.env.alice().keyGenerate("rsa", KeyType::RSA);

  auto listed = t.run({"/usr/bin/ssh-keygen", "-D", VHSM_PKCS11_MODULE});
  INFO(listed.out << listed.err);
  REQUIRE(listed.status == 0);
  // The line for "ssh" is keyd's public key in OpenSSH's form.
  auto pem = t.path("ssh.pub.der");
  std::ofstream(pem, std::ios::binary)
      .write(reinterpret_cast<const char*>(t.env.alice().keyPublic("ssh").data()),
             std::streamsize(t.env.alice().keyPublic("ssh").size()));
  auto spki = openssl(t.env.config(), {"pkey", "-pubin", "-inform", "DER", "-in", pem, "-out",
                                       t.path("ssh.pub.pem")});
  REQUIRE(spki.status == 0);
  auto expected =
      runCommand({"/usr/bin/ssh-keygen", "-i", "-m", "PKCS8", "-f", t.path("ssh.pub.pem")});
  REQUIRE(expected.status == 0);
  auto key = expected.out.substr(0, expected.out.find('\n'));
  CHECK(contains(listed.out, key + " ssh\n"));

  // A loopback sshd that accepts that key for root.
  std::ofstream(t.path("authorized_keys")) << key << "\n";
  REQUIRE(
      runCommand({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", t.path("host_key")})
          .status == 0);
  std::filesystem::create_directories("/run/sshd");  // sshd's privilege separation directory
  int port = freePort();
  std::ofstream(t.path("sshd_config"))
      << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << t.path("host_key")
      << "\nAuthorizedKeysFile " << t.path("authorized_keys")
      << "\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
         "UsePAM no\nPidFile none\n";
  BackgroundProcess sshd({"/usr/sbin/sshd", "-D", "-e", "-f", t.path("sshd_config")}, {},
                         t.path("sshd.log"));
  REQUIRE(waitForPort(port));
  const std::vector<std::string> ssh = {"/usr/bin/ssh",
                                        "-o",
                                        "BatchMode=yes",
                                        "-o",
                                        "StrictHostKeyChecking=no",
                                        "-o",
                                        "UserKnownHostsFile=/dev/null",
                                        "-F",
                                        "/dev/null",
                                        "-p",
                                        std::to_string(port)};
  auto direct = ssh;
  direct.insert(direct.end(), {"-I", VHSM_PKCS11_MODULE, "root@127.0.0.1", "echo", "in-by-I"});
  auto login = t.run(direct);
  INFO(login.err << readFile(t.path("sshd.log")));
  CHECK(login.status == 0);
  CHECK(login.out == "in-by-I\n");

  // ssh-agent loads the module in its helper; ssh-add -s asks for the PIN (askpass here).
  auto agentSocket = t.path("agent.sock");
  BackgroundProcess agent({"/usr/bin/ssh-agent", "-D", "-a", agentSocket, "-P",
                           std::filesystem::path(VHSM_PKCS11_MODULE).parent_path().string() + "/*"},
                          t.moduleEnv(false), t.path("agent.log"));
  for (int i = 0; i < 500 && !std::filesystem::exists(agentSocket); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(std::filesystem::exists(agentSocket));
  std::ofstream(t.path("askpass")) << "#!/bin/sh\necho " << kPin << "\n";
  std::filesystem::permissions(t.path("askpass"), std::filesystem::perms::owner_all);
  const std::vector<std::string> agentEnv = {"SSH_AUTH_SOCK=" + agentSocket,
                                             "SSH_ASKPASS=" + t.path("askpass"),
                                             "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"};
  auto added = t.run({"/usr/bin/ssh-add", "-s", VHSM_PKCS11_MODULE}, false, agentEnv);
  INFO(added.out << added.err << readFile(t.path("agent.log")));
  REQUIRE(added.status == 0);
  auto keys = t.run({"/usr/bin/ssh-add", "-L"}, false, agentEnv);
  CHECK(contains(keys.out, key));
  CHECK(contains(keys.out, "ssh-rsa "));
  auto viaAgent = ssh;
  viaAgent.insert(viaAgent.end(),
                  {"-o", "IdentityAgent=" + agentSocket, "root@127.0.0.1", "echo", "in-by-agent"});
  auto agentLogin = t.run(viaAgent, false, agentEnv);
  INFO(agentLogin.err << readFile(t.path("sshd.log")));
  CHECK(agentLogin.status == 0);
  CHECK(agentLogin.out == "in-by-agent\n");
}

TEST_CASE("NSS: modutil adds the module and certutil lists the token's keys and certificates") {
  Programs t;
  t.env.alice().keyGenerate("web", KeyType::EC_P256);
  t.env.alice().keyCertificateSet(
      "web", referenceCertificate(t.env.alice().keyPublic("web"), "web.example"));
  t.env.alice().keyGenerate("rsa", KeyType::RSA);
  auto db = "sql:" + t.path("nssdb");
  std::filesystem::create_directories(t.path("nssdb"));
  REQUIRE(t.run({"/usr/bin/certutil", "-N", "-d", db, "--empty-password"}).status == 0);
  auto added = t.run(
      {"/usr/bin/modutil", "-dbdir", db, "-add", "vhsm", "-libfile", VHSM_PKCS11_MODULE, "-force"});
  INFO(added.out << added.err);
  REQUIRE(added.status == 0);
  auto modules = t.run({"/usr/bin/modutil", "-dbdir", db, "-list"});
  CHECK(contains(modules.out, "token: alice"));
  std::ofstream(t.path("pin")) << kPin << "\n";
  auto keys =
      t.run({"/usr/bin/certutil", "-d", db, "-K", "-h", "alice", "-f", t.path("pin")}, false);
  INFO(keys.out << keys.err);
  CHECK(keys.status == 0);
  CHECK(contains(keys.out, "ec       \"web\""));
  CHECK(contains(keys.out, "rsa      \"rsa\""));
  auto certificates =
      t.run({"/usr/bin/certutil", "-d", db, "-L", "-h", "alice", "-f", t.path("pin")}, false);
  INFO(certificates.out << certificates.err);
  CHECK(certificates.status == 0);
  CHECK(contains(certificates.out, "alice:web"));
}

TEST_CASE("Java: keytool lists the token through SunPKCS11, and a Java signature verifies") {
  Programs t;
  t.env.alice().keyGenerate("mac", KeyType::HMAC);
  t.env.alice().keyGenerate("aes", KeyType::AES);
  // Java shows a private key only with its certificate.
  t.env.alice().keyGenerate("web", KeyType::EC_P256);
  t.env.alice().keyCertificateSet(
      "web", referenceCertificate(t.env.alice().keyPublic("web"), "web.example"));
  std::ofstream(t.path("java.cfg")) << "name = vhsm\nlibrary = " VHSM_PKCS11_MODULE "\nslot = 0\n";
  auto listed =
      t.run({"/usr/bin/keytool", "-list", "-keystore", "NONE", "-storetype", "PKCS11",
             "-addprovider", "SunPKCS11", "-providerArg", t.path("java.cfg"), "-storepass", kPin},
            false);
  INFO(listed.out << listed.err);
  CHECK(listed.status == 0);
  CHECK(contains(listed.out, "Keystore provider: SunPKCS11-vhsm"));
  CHECK(contains(listed.out, "mac, SecretKeyEntry"));
  CHECK(contains(listed.out, "aes, SecretKeyEntry"));
  CHECK(contains(listed.out, "web, PrivateKeyEntry"));

  // An unmodified Java program signs through SunPKCS11; OpenSSL verifies with keyd's key.
  auto message = randomBytes(3000);
  std::ofstream(t.path("message"), std::ios::binary)
      .write(reinterpret_cast<const char*>(message.data()), std::streamsize(message.size()));
  auto signed_ = t.run({"/usr/bin/java", JAVA_SIGN_SOURCE, t.path("java.cfg"), kPin, "web",
                        "SHA256withECDSA", t.path("message"), t.path("signature")},
                       false);
  INFO(signed_.out << signed_.err);
  REQUIRE(signed_.status == 0);
  std::ifstream in(t.path("signature"), std::ios::binary);
  Bytes signature{std::istreambuf_iterator<char>(in), {}};
  CHECK(referenceVerify(t.env.alice().keyPublic("web"), {"SHA256"}, message, signature));
}
