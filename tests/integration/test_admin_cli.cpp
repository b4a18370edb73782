// vhsm-admin as a user runs it: commands, --json, passwords from files and the environment,
// exit codes and one-line errors.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

struct Admin {
  const Keyd& keyd;
  TempDir files;

  std::string file(const std::string& name, const std::string& content) {
    auto path = files.path() / name;
    std::ofstream(path) << content << "\n";
    return path.string();
  }
  CommandResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), {adminBinary(), "--socket", keyd.socket()});
    return runCommand(args, "", env);
  }
};

bool oneLine(const std::string& s) {
  return !s.empty() && s.back() == '\n' && s.find('\n') == s.size() - 1;
}

}  // namespace

TEST_CASE("init creates a store that keyd serves; a second init refuses") {
  TempDir dir;
  std::ofstream(dir.path() / "pw") << "secret\n";
  auto store = (dir.path() / "store").string();
  auto pw = (dir.path() / "pw").string();
  auto r = runCommand(
      {adminBinary(), "init", "--store", store, "--password-file", pw, "--kdf-iterations", "1000"});
  CHECK(r.status == 0);
  CHECK(r.out.find("created store") != std::string::npos);
  CHECK(r.err.find("only for tests") != std::string::npos);  // the low iteration count warns
  auto again = runCommand({adminBinary(), "init", "--store", store, "--password-file", pw});
  CHECK(again.status == 1);
  CHECK(again.err.find("already exists") != std::string::npos);
}

TEST_CASE("the admin flow: users, keys, listings in JSON, audit") {
  Keyd keyd;
  Admin admin{keyd, {}};
  auto rootPw = admin.file("root", Keyd::kRootPassword);
  auto alicePw = admin.file("alice", "alice-pw");

  auto r = admin.run({"--password-file", rootPw, "user", "create", "alice", "--flags",
                      "read,create,delete", "--container", "host", "--new-password-file", alicePw});
  INFO(r.err);
  REQUIRE(r.status == 0);

  r = admin.run({"--password-file", rootPw, "--json", "user", "list"});
  REQUIRE(r.status == 0);
  auto users = nlohmann::json::parse(r.out);
  REQUIRE(users.size() == 2);
  CHECK(users[0]["name"] == "alice");
  CHECK(users[0]["type"] == "user");
  CHECK(users[0]["flags"] == "read,create,delete");
  CHECK(users[1]["type"] == "so");

  auto as = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--user", "alice"});
    return admin.run(args, {"VHSM_PASSWORD=alice-pw"});  // the password from the environment
  };
  CHECK(as({"key", "generate", "h1", "--type", "hmac"}).status == 0);
  CHECK(as({"key", "generate", "a1", "--type", "aes", "--bits", "128"}).status == 0);
  CHECK(as({"key", "import", "h2", "--type", "hmac", "--hex", "0b0b0b0b"}).status == 0);
  r = as({"--json", "key", "list"});
  REQUIRE(r.status == 0);
  auto keys = nlohmann::json::parse(r.out);
  REQUIRE(keys.size() == 3);
  CHECK(keys[0]["id"] == "a1");
  CHECK(keys[0]["bits"] == 128);
  CHECK(keys[2]["id"] == "h2");
  CHECK(keys[2]["bits"] == 32);
  r = as({"key", "info", "h1"});
  CHECK(r.status == 0);
  CHECK(r.out.find("h1") != std::string::npos);
  CHECK(as({"key", "delete", "h1"}).status == 0);

  r = admin.run({"--password-file", rootPw, "audit", "verify"});
  CHECK(r.status == 0);
  CHECK(r.out.find("audit chain intact") != std::string::npos);
  r = admin.run({"--password-file", rootPw, "--json", "audit", "list"});
  REQUIRE(r.status == 0);
  auto audit = nlohmann::json::parse(r.out);
  CHECK(audit.size() > 5);
}

TEST_CASE("errors are one line on stderr with a non-zero exit") {
  Keyd keyd;
  Admin admin{keyd, {}};
  auto wrong = admin.file("wrong", "nope");
  auto rootPw = admin.file("root", Keyd::kRootPassword);

  auto r = admin.run({"--password-file", wrong, "user", "list"});
  CHECK(r.status == 1);
  CHECK(oneLine(r.err));
  CHECK(r.err.find("wrongPassword") != std::string::npos);

  r = admin.run({"--password-file", rootPw, "key", "list"});
  CHECK(r.status == 1);
  CHECK(oneLine(r.err));
  CHECK(r.err.find("permissionDenied") != std::string::npos);

  r = admin.run({"--password-file", rootPw, "key", "import", "x", "--type", "des", "--hex", "00"});
  CHECK(r.status == 1);
  CHECK(r.err.find("unknown key type") != std::string::npos);

  r = runCommand({adminBinary(), "--socket", "/nonexistent/keyd.sock", "--password-file", rootPw,
                  "user", "list"});
  CHECK(r.status == 1);
  CHECK(oneLine(r.err));
  CHECK(r.err.find("cannot reach vhsm-keyd") != std::string::npos);

  r = admin.run({"user", "frobnicate"});
  CHECK(r.status != 0);
}

TEST_CASE("containers, unlock and lock from the command line") {
  Keyd keyd;
  Admin admin{keyd, {}};
  auto rootPw = admin.file("root", Keyd::kRootPassword);
  auto alicePw = admin.file("alice", "alice-pw");
  auto r = admin.run(
      {"--password-file", rootPw, "container", "add", "self", "--pid", std::to_string(getpid())});
  CHECK(r.status == 1);  // the test's own namespace is the host's
  CHECK(r.err.find("containerExists") != std::string::npos);

  REQUIRE(admin
              .run({"--password-file", rootPw, "user", "create", "alice", "--new-password-file",
                    alicePw})
              .status == 0);
  r = admin.run({"--password-file", rootPw, "unlock", "alice", "--container", "host", "--ttl",
                 "10m", "--user-password-file", alicePw});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("600 s") != std::string::npos);
  // Now alice needs no password on the host.
  r = admin.run({"--user", "alice", "--unlocked", "key", "generate", "k", "--type", "hmac"});
  CHECK(r.status == 0);
  CHECK(admin.run({"--password-file", rootPw, "lock", "alice"}).status == 0);
  r = admin.run({"--user", "alice", "--unlocked", "key", "list"});
  CHECK(r.status == 1);
  CHECK(r.err.find("notUnlocked") != std::string::npos);

  r = admin.run({"--password-file", rootPw, "--json", "container", "list"});
  REQUIRE(r.status == 0);
  CHECK(nlohmann::json::parse(r.out)[0]["name"] == "host");
}

TEST_CASE("a password changed from the command line works at once") {
  Keyd keyd;
  Admin admin{keyd, {}};
  auto rootPw = admin.file("root", Keyd::kRootPassword);
  auto newPw = admin.file("new", "new-root-pw");
  auto r = admin.run({"--password-file", rootPw, "user", "passwd", "--new-password-file", newPw});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(admin.run({"--password-file", rootPw, "user", "list"}).status == 1);
  CHECK(admin.run({"--password-file", newPw, "user", "list"}).status == 0);
}

TEST_CASE("signing keys from the command line: generate, import, public, uri-pem") {
  Keyd keyd;
  keyd.newUser("alice", "alice-pw");
  Admin admin{keyd, {}};
  auto pw = admin.file("alice", "alice-pw");
  auto as = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--user", "alice", "--password-file", pw});
    return admin.run(args);
  };
  CHECK(as({"key", "generate", "ed", "--type", "ed25519"}).status == 0);
  // A P-384 key made by openssl, imported with the curve left to the file.
  auto keyFile = (admin.files.path() / "p384.pem").string();
  REQUIRE(runCommand({"/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-384", "-out", keyFile})
              .status == 0);
  auto imported = as({"key", "import", "p384", "--type", "ec", "--in", keyFile});
  INFO(imported.err);
  CHECK(imported.status == 0);
  auto info = as({"--json", "key", "info", "p384"});
  auto json = nlohmann::json::parse(info.out);
  CHECK(json["type"] == "ec-p384");
  CHECK(json["usage"] == "sign");
  CHECK(json["bits"] == 384);

  auto pub = as({"key", "public", "p384"});
  auto expected = runCommand({"/usr/bin/openssl", "pkey", "-in", keyFile, "-pubout"});
  CHECK(pub.status == 0);
  CHECK(pub.out == expected.out);
  auto uri = as({"key", "uri-pem", "ed"});
  CHECK(uri.out == "-----BEGIN VHSM KEY URI-----\ndmhzbTplZA==\n-----END VHSM KEY URI-----\n");

  auto wrong = as({"key", "import", "x", "--type", "rsa", "--in", keyFile});
  CHECK(wrong.status == 1);
  CHECK(oneLine(wrong.err));
  CHECK(wrong.err.find("keyTypeMismatch") != std::string::npos);
  auto noKey = as({"key", "uri-pem", "missing"});
  CHECK(noKey.status == 1);
  CHECK(noKey.out.empty());
  CHECK(noKey.err.find("unknownKey") != std::string::npos);
}
