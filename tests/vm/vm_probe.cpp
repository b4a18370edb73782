// vm_probe: what the kernel-module test runs inside the guest besides the real binaries.
// Each mode prints one result line the guest script checks; none decides pass or fail itself.
//   forge-login USER PASSWORD CLAIM_NETNS   login over netlink with the header claiming to
//                                           come from CLAIM_NETNS; prints keyd's answer
//   forge-reply                             sends a frame typed as a reply; prints what came back
//   register                                asks the module to make this socket the server
//   hmac-wait USER KEY                      HMAC-SHA1 over netlink, waits for a line on stdin,
//                                           HMAC-SHA1 again on the same client (keyd restarted)
//   gcm KEY IVHEX                           AES-256-GCM of stdin through EVP (OPENSSL_CONF
//                                           decides the provider); prints hex ciphertext||tag
//   rtt unix|netlink USER KEY COUNT         HMAC-SHA1 64 B round trips; prints rate and latency
//   port-reuse USER PASSWORD                a socket logs in, sends requests and closes unread;
//                                           a new socket on its port asks whoami; prints what
//                                           the new socket received (steps on stdin lines)
//   idle-sessions COUNT SECONDS             COUNT sockets each hold a session (a ping), one more
//                                           pings; after SECONDS of silence it pings again
#include <linux/netlink.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <vhsm/client.hpp>
#include "client/client_impl.hpp"
#include "protocol/frame.hpp"
#include "protocol/identity.hpp"
#include "protocol/vhsm_netlink.h"

using namespace vhsm;

namespace {

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(uint8_t(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

Client netlinkClient(int timeoutMillis = 20000) {
  ClientOptions options;
  options.transport = Transport::netlink;
  options.timeout = std::chrono::milliseconds(timeoutMillis);
  return Client(options);
}

Bytes flatten(const proto::OutgoingFrame& frame) {
  Bytes raw;
  for (auto piece : frame.pieces())
    raw.insert(raw.end(), reinterpret_cast<const uint8_t*>(piece.data()),
               reinterpret_cast<const uint8_t*>(piece.data()) + piece.size());
  return raw;
}

int forgeLogin(const std::string& user, const std::string& password, const std::string& claim) {
  auto claimed = proto::netnsIdentity(claim);
  capnp::MallocMessageBuilder m;
  auto login = m.initRoot<proto::Request>().initLogin();
  login.setUser(user);
  login.setPassword(kj::StringPtr(password.c_str()).asBytes());
  proto::FrameHeader header;
  header.requestId = 7;
  header.clientPort = 1;
  header.containerInode = uint32_t(claimed.inode);
  header.containerId = claimed.cookie;
  auto client = netlinkClient();
  auto reply = client.exchangeRaw(flatten(proto::OutgoingFrame(header, m)));
  auto words = kj::heapArray<capnp::word>((reply.size() - proto::kHeaderSize) / 8);
  std::memcpy(words.begin(), reply.data() + proto::kHeaderSize, words.size() * 8);
  auto message = proto::openMessage(words);
  std::cout << "forged login answered: "
            << errorName(api(message->getRoot<proto::Response>().getError())) << "\n";
  return 0;
}

int forgeReply() {
  capnp::MallocMessageBuilder m;
  m.initRoot<proto::Response>().setError(proto::ErrorCode::OK);
  proto::FrameHeader header;
  header.type = proto::FrameType::response;
  header.requestId = 9;
  auto client = netlinkClient(1500);
  try {
    client.exchangeRaw(flatten(proto::OutgoingFrame(header, m)));
    std::cout << "forged reply answered\n";
  } catch (const Error& e) {
    std::cout << "forged reply: " << (e.kind() == ErrorKind::timeout ? "no answer" : e.what())
              << "\n";
  }
  return 0;
}

int registerServer() {
  int fd = socket(AF_NETLINK, SOCK_RAW, VHSM_NETLINK_PROTOCOL);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self);
  nlmsghdr request{};
  request.nlmsg_len = NLMSG_HDRLEN;
  request.nlmsg_type = VHSM_NL_REGISTER;
  request.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.nlmsg_seq = 1;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  sendto(fd, &request, request.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  alignas(nlmsghdr) char answer[256];
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 2000) <= 0 || recv(fd, answer, sizeof answer, 0) < 0) {
    std::cout << "register: no answer\n";
    return 0;
  }
  auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(reinterpret_cast<nlmsghdr*>(answer)));
  std::cout << "register: " << (err->error ? strerrorname_np(-err->error) : "accepted") << "\n";
  return 0;
}

Bytes hmacOnce(Client& client, const std::string& key) {
  std::string data = "abc";
  return client.hmac(key, HashAlgorithm::SHA1,
                     ByteView(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

int hmacWait(const std::string& user, const std::string& key) {
  auto client = netlinkClient();
  const char* password = std::getenv("VHSM_PASSWORD");
  client.login(user, password ? password : "");
  auto first = hmacOnce(client, key);
  std::cout << "first: " << hex(first.data(), first.size()) << std::endl;
  std::string line;
  std::getline(std::cin, line);
  try {
    auto second = hmacOnce(client, key);
    std::cout << "second: " << hex(second.data(), second.size()) << std::endl;
  } catch (const Error& e) {
    std::cout << "second failed: " << e.what() << std::endl;
  }
  return 0;
}

int gcm(const std::string& keyArg, const std::string& ivHex) {
  unsigned char key[32] = {0};
  if (keyArg.rfind("vhsm:", 0) == 0)
    std::memcpy(key, keyArg.data(), std::min<size_t>(keyArg.size(), 32));
  else
    std::memcpy(key, unhex(keyArg).data(), 32);
  auto iv = unhex(ivHex);
  std::vector<unsigned char> in(std::istreambuf_iterator<char>(std::cin), {});
  std::vector<unsigned char> out(in.size() + 16);
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int n = 0, m = 0;
  size_t ivLength = iv.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength),
                         OSSL_PARAM_construct_end()};
  bool ok = cipher && EVP_EncryptInit_ex2(c, cipher, key, iv.data(), params) &&
            EVP_EncryptUpdate(c, out.data(), &n, in.data(), int(in.size())) &&
            EVP_EncryptFinal_ex(c, out.data() + n, &m) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out.data() + n + m);
  EVP_CIPHER_CTX_free(c);
  EVP_CIPHER_free(cipher);
  if (!ok) {
    std::cout << "gcm failed\n";
    return 1;
  }
  std::cout << hex(out.data(), size_t(n + m) + 16) << "\n";
  return 0;
}

int rtt(const std::string& transport, const std::string& user, const std::string& key, int count) {
  ClientOptions options;
  options.transport = transportNamed(transport);
  options.socketPath = std::getenv("VHSM_SOCKET") ? std::getenv("VHSM_SOCKET") : "";
  Client client(options);
  const char* password = std::getenv("VHSM_PASSWORD");
  client.login(user, password ? password : "");
  std::vector<uint8_t> data(64, 0x5a);
  std::vector<double> micros;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    client.hmac(key, HashAlgorithm::SHA1, data);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(micros.begin(), micros.end());
  std::printf("%s: %d HMAC-SHA1 64 B round trips, %.0f/s, p50 %.0f us, p99 %.0f us\n",
              transport.c_str(), count, count / seconds, micros[micros.size() / 2],
              micros[micros.size() * 99 / 100]);
  return 0;
}

// A netlink client on a port of its own choosing, as any process in the namespace may bind.
class RawClient {
 public:
  explicit RawClient(uint32_t port) : fd_(socket(AF_NETLINK, SOCK_RAW, VHSM_NETLINK_PROTOCOL)) {
    sockaddr_nl self{};
    self.nl_family = AF_NETLINK;
    self.nl_pid = port;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0)
      throw std::runtime_error(std::string("bind to the port: ") + strerror(errno));
  }
  ~RawClient() { close(fd_); }
  void allowLargeFrames() {
    int bytes = 4 << 20;  // root in the guest may exceed wmem_max
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes);
  }
  void send(uint64_t requestId, capnp::MessageBuilder& m) {
    proto::FrameHeader header;
    header.requestId = requestId;
    auto frame = flatten(proto::OutgoingFrame(header, m));
    sendRaw(std::as_bytes(std::span(frame)));
  }
  void sendRaw(std::span<const std::byte> frame) {
    nlmsghdr nl{};
    nl.nlmsg_len = uint32_t(NLMSG_HDRLEN + frame.size());
    nl.nlmsg_type = VHSM_NL_FRAME;
    nl.nlmsg_flags = NLM_F_REQUEST;
    iovec iov[2] = {{&nl, NLMSG_HDRLEN}, {const_cast<std::byte*>(frame.data()), frame.size()}};
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    msghdr msg{};
    msg.msg_name = &kernel;
    msg.msg_namelen = sizeof kernel;
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (sendmsg(fd_, &msg, 0) < 0) throw std::runtime_error("sendmsg failed");
  }
  // The replies that arrive within the time, as (request id, error); stops after `most`.
  std::vector<std::pair<uint64_t, ErrorCode>> receive(int millis, size_t most) {
    std::vector<std::pair<uint64_t, ErrorCode>> out;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
    alignas(capnp::word) static std::byte buffer[NLMSG_HDRLEN + proto::kMaxFrame];
    while (out.size() < most) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) break;
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      auto* nl = reinterpret_cast<nlmsghdr*>(buffer);
      if (n < ssize_t(NLMSG_HDRLEN + proto::kHeaderSize) || nl->nlmsg_type != VHSM_NL_FRAME)
        continue;
      auto frame = std::span<const std::byte>(buffer + NLMSG_HDRLEN, size_t(n) - NLMSG_HDRLEN);
      proto::FrameHeader h;
      if (proto::decodeHeader(frame, h) != proto::FrameError::none) continue;
      auto words = kj::heapArray<capnp::word>(h.payloadLength / 8);
      std::memcpy(words.begin(), frame.data() + proto::kHeaderSize, h.payloadLength);
      auto message = proto::openMessage(words);
      out.emplace_back(h.requestId, api(message->getRoot<proto::Response>().getError()));
    }
    return out;
  }

 private:
  int fd_;
};

// The kernel frees a closed socket's port before it reports the close: whoever binds the port
// next must get neither the old socket's session nor the replies still on their way to it.
// The guest script stops keyd between the steps (a line on stdin each time), so that the old
// socket's requests are still queued when it closes, and keyd's queue is full when the module
// reports the close, which is then lost.
int portReuse(const std::string& user, const std::string& password) {
  const uint32_t port = 0x40000000u | uint32_t(getpid());
  constexpr int kUnread = 32;
  std::string line, first = "none";
  auto old = std::make_unique<RawClient>(port);
  capnp::MallocMessageBuilder login;
  auto l = login.initRoot<proto::Request>().initLogin();
  l.setUser(user);
  l.setPassword(kj::StringPtr(password.c_str()).asBytes());
  old->send(1, login);
  auto answer = old->receive(20000, 1);
  if (!answer.empty()) first = errorName(answer[0].second);
  std::cout << "logged in" << std::endl;
  std::getline(std::cin, line);  // keyd is stopped now
  for (int i = 0; i < kUnread; ++i) {
    capnp::MallocMessageBuilder whoami;
    whoami.initRoot<proto::Request>().setWhoami();
    old->send(uint64_t(100 + i), whoami);
  }
  {
    // Fills keyd's receive queue, so that the module's report of the close is dropped.
    RawClient filler(port + 1);
    filler.allowLargeFrames();
    std::vector<std::byte> junk(proto::kMaxFrame);
    proto::FrameHeader header;
    header.payloadLength = uint32_t(proto::kMaxPayload);
    proto::encodeHeader(header,
                        std::span<std::byte, proto::kHeaderSize>(junk.data(), proto::kHeaderSize));
    for (int i = 0; i < 200; ++i) filler.sendRaw(junk);
  }
  old.reset();  // closed with kUnread replies due
  RawClient next(port);
  std::cout << "closed" << std::endl;
  std::getline(std::cin, line);  // keyd runs again
  sleep(3);                      // and drains its queue
  capnp::MallocMessageBuilder whoami;
  whoami.initRoot<proto::Request>().setWhoami();
  next.send(1000, whoami);
  auto frames = next.receive(3000, kUnread + 1);
  std::string own = "none";
  int foreign = 0;
  for (auto [id, error] : frames) {
    if (id == 1000)
      own = errorName(error);
    else
      ++foreign;
  }
  std::cout << "port-reuse: old login " << first << ", new socket's whoami " << own
            << ", replies meant for the old socket " << foreign << std::endl;
  return 0;
}

// Sessions that never log in: all unregistered namespaces share a few, and one left idle past
// keyd's login timeout ends, so holding sessions without a login holds them only for so long.
int idleSessions(int count, int seconds) {
  auto ping = [](RawClient& c, uint64_t id) {
    capnp::MallocMessageBuilder m;
    m.initRoot<proto::Request>().setPing();
    c.send(id, m);
    auto answer = c.receive(20000, 1);
    return answer.empty() ? std::string("none") : errorName(answer[0].second);
  };
  std::vector<std::unique_ptr<RawClient>> held;
  int ok = 0, refused = 0;
  for (int i = 0; i < count; ++i) {
    held.push_back(std::make_unique<RawClient>(0));
    (ping(*held.back(), 1) == "ok" ? ok : refused)++;
  }
  RawClient extra(0);
  std::string first = ping(extra, 2);
  sleep(unsigned(seconds));
  std::string later = ping(extra, 3);
  std::cout << "idle-sessions: " << ok << " held, " << refused << " refused; one more: " << first
            << "; after " << seconds << " s idle: " << later << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 4 && a[0] == "forge-login") return forgeLogin(a[1], a[2], a[3]);
    if (a.size() == 1 && a[0] == "forge-reply") return forgeReply();
    if (a.size() == 1 && a[0] == "register") return registerServer();
    if (a.size() == 3 && a[0] == "hmac-wait") return hmacWait(a[1], a[2]);
    if (a.size() == 3 && a[0] == "gcm") return gcm(a[1], a[2]);
    if (a.size() == 3 && a[0] == "port-reuse") return portReuse(a[1], a[2]);
    if (a.size() == 3 && a[0] == "idle-sessions")
      return idleSessions(std::stoi(a[1]), std::stoi(a[2]));
    if (a.size() == 5 && a[0] == "rtt") return rtt(a[1], a[2], a[3], std::stoi(a[4]));
  } catch (const std::exception& e) {
    std::cout << a[0] << " failed: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: see the head of tests/vm/vm_probe.cpp\n";
  return 2;
}
