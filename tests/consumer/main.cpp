// A program outside vhsm's tree: it sees only the installed <vhsm/client.hpp>. As root it
// makes a key user, who imports RFC 2202's first HMAC-SHA1 key and MACs its message in keyd.
// Usage: consumer SOCKET ROOT_PASSWORD
#include <vhsm/client.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  vhsm::ClientOptions options;
  options.socketPath = argv[1];
  try {
    vhsm::Client root(options);
    root.login("root", argv[2]);
    vhsm::UserInfo alice;
    alice.name = "alice";
    alice.flags.read = alice.flags.create = true;
    alice.containers = {"host"};
    root.userCreate(alice, "alice-password");
    vhsm::Client client(options);
    client.login("alice", "alice-password");
    client.keyImport("rfc2202", vhsm::KeyType::HMAC, vhsm::Bytes(20, 0x0b));
    std::string message = "Hi There";
    auto mac = client.hmac(
        "rfc2202", vhsm::HashAlgorithm::SHA1,
        vhsm::ByteView(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
    for (auto b : mac) std::printf("%02x", b);
    std::printf("\n");
    return 0;
  } catch (const vhsm::Error& e) {
    std::fprintf(stderr, "consumer: %s (%s)\n", e.what(), vhsm::errorName(e.code()).c_str());
    return 1;
  }
}
