// vhsm-oci-hook: an OCI runtime hook that binds a container's network namespace to its vhsm
// container name while the container runs. A restarted container has a new namespace, and a
// dead one's inode is reused by the kernel; so the name is bound again at each start
// (createRuntime: the namespace exists, the container's process has not started) and unbound
// at each stop (poststop), keeping the name, so that users stay bound to it. The runtime passes the
// container's state (pid, annotations) as JSON on standard input; the name is the annotation
// io.vhsm.container (podman
// --annotation, a Kubernetes pod annotation under CRI-O or containerd).
//
// The hook logs in to keyd as a security officer whose password file only root can read
// (/etc/vhsm/oci-hook.conf names it); `containers` there lists the names it may bind, since
// whoever can start a container with the hook can choose its annotation.
//
// Binding is conditional (compare and swap in keyd): a container binds its name only if the
// name names no namespace, or the one this hook bound for the same container before (a
// restart that missed its poststop; the hook keeps container id and cookie per name in
// state-dir). It unbinds only the namespace it bound. So a second container with the same
// annotation can neither take the name from a running one nor unbind it.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <vhsm/client.hpp>

namespace {

constexpr const char* kAnnotation = "io.vhsm.container";
constexpr size_t kMaxState = 1 << 20;

struct HookConfig {
  std::string socket = "/run/vhsm/keyd.sock";
  std::string user = "oci-hook";
  std::string passwordFile = "/etc/vhsm/oci-hook.pw";
  std::string stateDir = "/run/vhsm-oci-hook";
  std::set<std::string> containers;
};

// A file that steers where the SO password goes, or holds it, must be root's and written by
// root alone; the password file must be unreadable to others too.
void requireRootOnly(const std::string& path, mode_t forbidden) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot read " + path);
  if (st.st_uid != 0 || (st.st_mode & forbidden))
    throw std::runtime_error(path + " must belong to root, mode " +
                             (forbidden == 077 ? "0600" : "0644") + " or stricter");
}

std::string trimmed(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  auto last = s.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

HookConfig readConfig(const std::string& path) {
  requireRootOnly(path, 022);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  HookConfig config;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = trimmed(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected key = value");
    auto key = trimmed(line.substr(0, eq)), value = trimmed(line.substr(eq + 1));
    if (key == "socket") {
      config.socket = value;
    } else if (key == "user") {
      config.user = value;
    } else if (key == "password-file") {
      config.passwordFile = value;
    } else if (key == "state-dir") {
      config.stateDir = value;
    } else if (key == "containers") {
      std::istringstream names(value);
      for (std::string name; names >> name;) config.containers.insert(name);
    } else {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": unknown key " + key);
    }
  }
  if (config.containers.empty())
    throw std::runtime_error(path + ": no containers = NAME... line: the hook binds no name");
  return config;
}

std::string readPassword(const std::string& path) {
  requireRootOnly(path, 077);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the password file " + path);
  std::string password;
  std::getline(in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

// What this hook bound for a name: the container's id and the namespace's cookie.
struct Bound {
  std::string id;
  uint64_t cookie = 0;
};

std::optional<Bound> readBound(const std::string& file) {
  std::ifstream in(file);
  Bound b;
  if (!(in >> b.id >> b.cookie)) return std::nullopt;
  return b;
}

void writeBound(const std::string& dir, const std::string& file, const Bound& b) {
  mkdir(dir.c_str(), 0700);
  std::string tmp = file + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << b.id << " " << b.cookie << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (rename(tmp.c_str(), file.c_str()) != 0) throw std::runtime_error("cannot write " + file);
}

nlohmann::json readState() {
  std::string text(kMaxState + 1, '\0');
  std::cin.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(std::cin.gcount()));
  if (text.size() > kMaxState) throw std::runtime_error("the container state is over 1 MiB");
  return nlohmann::json::parse(text);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-oci-hook: bind a container's network namespace to its vhsm name"};
  std::string stage, configPath = "/etc/vhsm/oci-hook.conf";
  app.add_option("STAGE", stage, "createRuntime or poststop")
      ->required()
      ->check(CLI::IsMember({"createRuntime", "poststop"}));
  app.add_option("--config", configPath, "the hook's configuration")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::string name;
  try {
    auto state = readState();
    auto annotations = state.value("annotations", nlohmann::json::object());
    if (!annotations.contains(kAnnotation)) return 0;  // not a vhsm container
    name = annotations[kAnnotation].get<std::string>();
    auto id = state.at("id").get<std::string>();
    if (id.empty() || id.find_first_of("/ \n") != std::string::npos)
      throw std::runtime_error("the container state has no usable id");
    auto config = readConfig(configPath);
    if (!config.containers.count(name))
      throw std::runtime_error("this hook may not bind the name " + name + " (containers in " +
                               configPath + ")");
    vhsm::ClientOptions options;
    options.socketPath = config.socket;
    vhsm::Client keyd(options);
    keyd.login(config.user, readPassword(config.passwordFile));
    // The name is one of the configured ones (root's file), so it is safe as a file name.
    std::string stateFile = config.stateDir + "/" + name;
    auto bound = readBound(stateFile);
    bool mine = bound && bound->id == id;
    if (stage == "createRuntime") {
      int64_t pid = state.value("pid", int64_t(0));
      if (pid <= 0 || pid > std::numeric_limits<pid_t>::max())
        throw std::runtime_error("the container state has no valid pid");
      auto netns = keyd.containerBindPid(name, pid_t(pid), mine ? bound->cookie : 0);
      writeBound(config.stateDir, stateFile, {id, netns.cookie});
    } else if (mine) {
      keyd.containerUnbind(name, bound->cookie);
      unlink(stateFile.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    // At createRuntime this fails the container's start: better than a container that runs
    // without the name its keys are bound to, or under a stale one.
    std::cerr << "vhsm-oci-hook " << stage << (name.empty() ? "" : " " + name) << ": " << e.what()
              << "\n";
    return 1;
  }
}
