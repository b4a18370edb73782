#include "pkcs11/config.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vhsm::pkcs11 {

namespace {

std::string trimmed(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string> listOf(const std::string& value) {
  std::vector<std::string> items;
  std::stringstream in(value);
  for (std::string item; std::getline(in, item, ',');)
    if (auto t = trimmed(item); !t.empty()) items.push_back(t);
  return items;
}

std::string readPasswordFile(const std::string& path) {
  std::ifstream in(path);
  std::string password;
  if (!in || !std::getline(in, password))
    throw std::runtime_error("cannot read the vhsm password file " + path);
  return password;
}

void apply(Config& config, const std::string& key, const std::string& value) {
  if (key == "socket") {
    config.client.socketPath = value;
  } else if (key == "transport") {
    config.client.transport = transportNamed(value);
  } else if (key == "users") {
    config.users = listOf(value);
  } else if (key == "password-file") {
    config.password = readPasswordFile(value);
  } else if (key == "timeout-ms") {
    config.client.timeout = std::chrono::milliseconds(std::stoi(value));
  } else {
    throw std::runtime_error("unknown setting " + key);
  }
}

}  // namespace

Config loadConfig() {
  Config config;
  config.client.timeout = std::chrono::milliseconds(10000);
  if (const char* path = secure_getenv("VHSM_PKCS11_CONF")) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(std::string("cannot read ") + path);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      line = trimmed(line);
      if (line.empty() || line[0] == '#') continue;
      auto eq = line.find('=');
      if (eq == std::string::npos)
        throw std::runtime_error(std::string(path) + ":" + std::to_string(number) +
                                 ": expected key = value");
      apply(config, trimmed(line.substr(0, eq)), trimmed(line.substr(eq + 1)));
    }
  }
  if (const char* v = secure_getenv("VHSM_SOCKET")) config.client.socketPath = v;
  if (const char* v = secure_getenv("VHSM_TRANSPORT")) config.client.transport = transportNamed(v);
  if (const char* v = secure_getenv("VHSM_USER")) config.users = {v};
  if (const char* v = secure_getenv("VHSM_PASSWORD_FILE")) config.password = readPasswordFile(v);
  if (const char* v = secure_getenv("VHSM_PASSWORD")) config.password = v;
  return config;
}

}  // namespace vhsm::pkcs11
