// Fuzz target: sequences of PKCS#11 calls on libvhsm-pkcs11.so, as a careless or hostile
// application makes them, against a real vhsm-keyd (started once, on a temporary store, with a
// user alice holding HMAC, AES, EC and Ed25519 keys). Each input is a program for a small
// machine: its first byte picks the configuration (the user named, logged in by a configured
// password, or the users keyd names, logged in by C_Login), then every byte pair picks a call
// and its arguments — sessions opened and closed, logins and logouts, objects found and read
// with short and null buffers, every mechanism with good and malformed parameters, operations
// begun and abandoned, keys and certificates made and destroyed. The module must return a
// code for all of it: no crash, no sanitizer report, no leak. Keys the input makes are
// deleted after it, so every input starts alike. No wrong PIN is ever sent: keyd's login
// throttle would outlast the input and shut later ones out of every logged-in path (wrong PINs
// are the unit tests').
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <vhsm/client.hpp>
#include "pkcs11/cryptoki.hpp"

namespace fs = std::filesystem;

namespace {

constexpr const char* kRootPassword = "root-pw";
constexpr const char* kPin = "alice-pw";
const char* const kFuzzIds[] = {"f0", "f1", "f2", "f3"};

fs::path dir;
pid_t keyd = -1;
CK_FUNCTION_LIST* p = nullptr;
vhsm::Client* alice = nullptr;  // deletes what an input made

void stopKeyd() {
  if (keyd > 0) {
    kill(keyd, SIGTERM);
    waitpid(keyd, nullptr, 0);
  }
  fs::remove_all(dir);
}

// keyd --init with root's password on its standard input, then keyd serving, dying with us.
void startKeyd() {
  char pattern[] = "/tmp/vhsm-fuzz-pkcs11-XXXXXX";
  if (!mkdtemp(pattern)) std::abort();
  dir = pattern;
  auto store = (dir / "store").string(), socket = (dir / "keyd.sock").string();
  int in[2];
  if (pipe(in) != 0) std::abort();
  pid_t init = fork();
  if (init == 0) {
    dup2(in[0], 0);
    close(in[1]);
    execl(VHSM_KEYD_BIN, VHSM_KEYD_BIN, "--init", "--store", store.c_str(), "--kdf-iterations",
          "1000", "--log-level", "error", nullptr);
    _exit(127);
  }
  close(in[0]);
  std::string password = std::string(kRootPassword) + "\n";
  if (write(in[1], password.data(), password.size()) != ssize_t(password.size())) std::abort();
  close(in[1]);
  int status = 0;
  waitpid(init, &status, 0);
  if (status != 0) std::abort();
  keyd = fork();
  if (keyd == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(VHSM_KEYD_BIN, VHSM_KEYD_BIN, "--store", store.c_str(), "--socket", socket.c_str(),
          "--log-level", "error", "--host-netns", "/proc/self/ns/net", nullptr);
    _exit(127);
  }
  std::atexit(stopKeyd);
  vhsm::ClientOptions options;
  options.socketPath = socket;
  vhsm::Client root(options);
  // Serving once it answers (the socket file exists a moment before keyd listens).
  for (int i = 0;; ++i) try {
      root.ping();
      break;
    } catch (const vhsm::Error&) {
      if (i == 500 || waitpid(keyd, nullptr, WNOHANG) != 0) std::abort();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  root.login("root", kRootPassword);
  root.userCreate({"alice", false, {true, true, true, true, false}, {"host"}}, kPin);
  alice = new vhsm::Client(options);
  alice->login("alice", kPin);
  alice->keyImport("mac", vhsm::KeyType::HMAC, vhsm::Bytes(32, 0x0b));
  alice->keyImport("aes", vhsm::KeyType::AES, vhsm::Bytes(32, 0x0c));
  alice->keyGenerate("ec", vhsm::KeyType::EC_P256);
  alice->keyGenerate("ed", vhsm::KeyType::ED25519);
  setenv("VHSM_SOCKET", socket.c_str(), 1);
}

// The input, read a byte at a time; zeros once it runs out.
struct Input {
  const uint8_t* data;
  size_t size;
  uint8_t byte() {
    if (!size) return 0;
    --size;
    return *data++;
  }
  template <typename T>
  const T& pick(const std::vector<T>& from) {
    return from[byte() % from.size()];
  }
};

const std::vector<CK_ATTRIBUTE_TYPE> kAttributes = {CKA_CLASS,
                                                    CKA_KEY_TYPE,
                                                    CKA_ID,
                                                    CKA_LABEL,
                                                    CKA_VALUE,
                                                    CKA_VALUE_LEN,
                                                    CKA_EC_POINT,
                                                    CKA_EC_PARAMS,
                                                    CKA_MODULUS,
                                                    CKA_SENSITIVE,
                                                    CKA_SUBJECT,
                                                    CKA_PRIVATE,
                                                    CKA_ALLOWED_MECHANISMS,
                                                    CKA_CHECK_VALUE,
                                                    0x80000001};
const std::vector<CK_OBJECT_CLASS> kClasses = {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
                                               CKO_CERTIFICATE, CKO_DATA};
const std::vector<CK_MECHANISM_TYPE> kMechanisms = {
    CKM_SHA_1_HMAC,      CKM_SHA256_HMAC, CKM_SHA512_HMAC, CKM_ECDSA,  CKM_ECDSA_SHA256,
    CKM_EDDSA,           CKM_AES_GCM,     CKM_SHA256,      CKM_SHA224, CKM_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS, CKM_AES_KEY_GEN, 0x80000001};

struct Machine {
  explicit Machine(Input input) : in(input) {}
  Input in;
  std::vector<CK_SESSION_HANDLE> sessions;
  std::vector<CK_OBJECT_HANDLE> objects;
  bool madeKeys = false;
  // Parameters kept alive while an operation may point at them.
  uint8_t iv[32] = {};
  uint8_t aad[16] = {};
  CK_GCM_PARAMS gcm{};
  CK_RSA_PKCS_PSS_PARAMS pss{};
  uint8_t buffer[1024] = {};

  CK_SESSION_HANDLE session() {
    uint8_t b = in.byte();
    if (sessions.empty() || b == 0xff) return b;  // an unknown handle now and then
    return sessions[b % sessions.size()];
  }
  CK_OBJECT_HANDLE object() {
    uint8_t b = in.byte();
    if (objects.empty() || b == 0xff) return CK_OBJECT_HANDLE(b) << 24;
    return objects[b % objects.size()];
  }
  // An output buffer: null (a length query), too short, or enough.
  std::pair<uint8_t*, CK_ULONG> output() {
    uint8_t b = in.byte();
    if (b % 3 == 0) return {nullptr, 0};
    return {buffer, b % 3 == 1 ? CK_ULONG(b % 16) : sizeof buffer};
  }
  CK_ULONG length() { return in.byte() % 200; }

  CK_MECHANISM mechanism() {
    CK_MECHANISM m = {in.pick(kMechanisms), nullptr, 0};
    uint8_t variant = in.byte();
    if (m.mechanism == CKM_AES_GCM) {
      gcm = {iv,
             CK_ULONG(variant % 20),
             CK_ULONG(variant % 20) * 8,
             variant & 0x40 ? aad : nullptr,
             CK_ULONG(variant & 0x40 ? sizeof aad : 0),
             CK_ULONG(in.byte())};
      m.pParameter = &gcm;
      m.ulParameterLen = variant & 0x80 ? sizeof gcm - 1 : sizeof gcm;
    } else if (m.mechanism == CKM_RSA_PKCS_PSS || variant & 0x80) {
      pss = {CKM_SHA256, CKG_MGF1_SHA256, CK_ULONG(in.byte())};
      m.pParameter = &pss;
      m.ulParameterLen = sizeof pss;
    }
    return m;
  }

  void step() {
    CK_ULONG n = 0;
    switch (in.byte() % 20) {
      case 0: {
        CK_SESSION_HANDLE s = 0;
        CK_FLAGS flags = CKF_SERIAL_SESSION | (in.byte() & 1 ? CKF_RW_SESSION : 0);
        if (p->C_OpenSession(in.byte() % 2, flags, nullptr, nullptr, &s) == CKR_OK &&
            sessions.size() < 8)
          sessions.push_back(s);
        break;
      }
      case 1: p->C_CloseSession(session()); break;
      case 2: {
        std::string pin = kPin;
        p->C_Login(session(), in.byte() & 1 ? CKU_USER : CKU_SO,
                   reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size());
        break;
      }
      case 3: p->C_Logout(session()); break;
      case 4: {
        CK_SESSION_HANDLE s = session();
        CK_OBJECT_CLASS cls = in.pick(kClasses);
        CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof cls};
        if (p->C_FindObjectsInit(s, &t, in.byte() & 1) != CKR_OK) break;
        CK_OBJECT_HANDLE found[8];
        if (p->C_FindObjects(s, found, in.byte() % 8, &n) == CKR_OK)
          for (CK_ULONG i = 0; i < n && objects.size() < 32; ++i) objects.push_back(found[i]);
        p->C_FindObjectsFinal(s);
        break;
      }
      case 5: {
        auto [out, room] = output();
        CK_ATTRIBUTE a = {in.pick(kAttributes), out, room};
        p->C_GetAttributeValue(session(), object(), &a, 1);
        break;
      }
      case 6: {
        CK_MECHANISM m = mechanism();
        CK_SESSION_HANDLE s = session();
        CK_OBJECT_HANDLE key = object();
        switch (in.byte() % 4) {
          case 0: p->C_SignInit(s, &m, key); break;
          case 1: p->C_VerifyInit(s, &m, key); break;
          case 2: p->C_EncryptInit(s, &m, key); break;
          default: p->C_DecryptInit(s, &m, key); break;
        }
        break;
      }
      case 7: {
        CK_MECHANISM m = mechanism();
        p->C_DigestInit(session(), &m);
        break;
      }
      case 8: {
        auto [out, room] = output();
        CK_SESSION_HANDLE s = session();
        CK_ULONG data = length();
        n = room;
        switch (in.byte() % 4) {
          case 0: p->C_Sign(s, buffer, data, out, out ? &n : nullptr); break;
          case 1: p->C_Encrypt(s, buffer, data, out, &n); break;
          case 2: p->C_Decrypt(s, buffer, data, out, &n); break;
          default: p->C_Digest(s, buffer, data, out, &n); break;
        }
        break;
      }
      case 9: {
        CK_SESSION_HANDLE s = session();
        CK_ULONG data = length();
        auto [out, room] = output();
        n = room;
        switch (in.byte() % 5) {
          case 0: p->C_SignUpdate(s, buffer, data); break;
          case 1: p->C_VerifyUpdate(s, buffer, data); break;
          case 2: p->C_DigestUpdate(s, buffer, data); break;
          case 3: p->C_EncryptUpdate(s, buffer, data, out, &n); break;
          default: p->C_DecryptUpdate(s, buffer, data, out, &n); break;
        }
        break;
      }
      case 10: {
        CK_SESSION_HANDLE s = session();
        auto [out, room] = output();
        n = room;
        switch (in.byte() % 5) {
          case 0: p->C_SignFinal(s, out, &n); break;
          case 1: p->C_VerifyFinal(s, buffer, length()); break;
          case 2: p->C_DigestFinal(s, out, &n); break;
          case 3: p->C_EncryptFinal(s, out, &n); break;
          default: p->C_DecryptFinal(s, out, &n); break;
        }
        break;
      }
      case 11: p->C_Verify(session(), buffer, length(), buffer, length()); break;
      case 12: {
        const char* id = kFuzzIds[in.byte() % 4];
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE type = in.byte() & 1 ? CKK_AES : CKK_GENERIC_SECRET;
        CK_ULONG bytes = in.byte() % 40;
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_VALUE_LEN, &bytes, sizeof bytes},
                            {CKA_ID, const_cast<char*>(id), 2}};
        CK_MECHANISM m = {type == CKK_AES ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, nullptr,
                          0};
        CK_OBJECT_HANDLE made = 0;
        if (p->C_GenerateKey(session(), &m, t, 1 + in.byte() % 4, &made) == CKR_OK) {
          madeKeys = true;
          if (objects.size() < 32) objects.push_back(made);
        }
        break;
      }
      case 13: {
        const char* id = kFuzzIds[in.byte() % 4];
        CK_OBJECT_CLASS cls = in.byte() & 1 ? CKO_SECRET_KEY : CKO_CERTIFICATE;
        CK_KEY_TYPE type = CKK_GENERIC_SECRET;
        CK_CERTIFICATE_TYPE x509 = CKC_X_509;
        CK_ULONG bytes = length();
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_ID, const_cast<char*>(id), 2},
                            {CKA_VALUE, buffer, bytes},
                            cls == CKO_SECRET_KEY
                                ? CK_ATTRIBUTE{CKA_KEY_TYPE, &type, sizeof type}
                                : CK_ATTRIBUTE{CKA_CERTIFICATE_TYPE, &x509, sizeof x509}};
        CK_OBJECT_HANDLE made = 0;
        if (p->C_CreateObject(session(), t, 4, &made) == CKR_OK) {
          madeKeys = true;
          if (objects.size() < 32) objects.push_back(made);
        }
        break;
      }
      case 14: {
        CK_OBJECT_HANDLE o = object();
        // Only what an input made: the keys every input starts with stay.
        CK_ATTRIBUTE id = {CKA_ID, buffer, 2};
        CK_SESSION_HANDLE s = session();
        if (p->C_GetAttributeValue(s, o, &id, 1) == CKR_OK && id.ulValueLen == 2 &&
            buffer[0] == 'f')
          p->C_DestroyObject(s, o);
        break;
      }
      case 15: p->C_GenerateRandom(session(), buffer, length()); break;
      case 16: {
        auto [out, room] = output();
        n = room / sizeof(CK_MECHANISM_TYPE);
        p->C_GetMechanismList(in.byte() % 3, reinterpret_cast<CK_MECHANISM_TYPE*>(out), &n);
        break;
      }
      case 17: {
        for (auto& b : buffer) b = in.byte();  // data for the calls that follow
        break;
      }
      case 18: {
        CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
        const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
        const char* id = kFuzzIds[in.byte() % 4];
        CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, const_cast<uint8_t*>(p256), sizeof p256},
                              {CKA_ID, const_cast<char*>(id), 2}};
        CK_ATTRIBUTE priv[] = {{CKA_ID, const_cast<char*>(id), 2}};
        CK_OBJECT_HANDLE a = 0, b = 0;
        madeKeys |=
            p->C_GenerateKeyPair(session(), &m, pub, 1 + in.byte() % 2, priv, 1, &a, &b) == CKR_OK;
        break;
      }
      default: {
        CK_SESSION_INFO info;
        p->C_GetSessionInfo(session(), in.byte() & 1 ? &info : nullptr);
        break;
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  startKeyd();
  void* module = dlopen(VHSM_PKCS11_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (!module) std::abort();
  auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(module, "C_GetFunctionList"));
  if (!get || get(&p) != CKR_OK) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, std::min<size_t>(size, 4096)};
  uint8_t configuration = in.byte();
  if (configuration & 1)
    setenv("VHSM_USER", "alice", 1);
  else
    unsetenv("VHSM_USER");  // the users keyd has bound to the container: alice
  if (configuration & 2)
    setenv("VHSM_PASSWORD", kPin, 1);
  else
    unsetenv("VHSM_PASSWORD");
  if (p->C_Initialize(nullptr) != CKR_OK) std::abort();
  Machine m(in);
  while (m.in.size) m.step();
  if (p->C_Finalize(nullptr) != CKR_OK) std::abort();
  // What the input made goes, so that the next one starts as this one did.
  if (m.madeKeys)
    for (const char* id : kFuzzIds) try {
        alice->keyDelete(id);
      } catch (const vhsm::Error&) {
      }
  return 0;
}
