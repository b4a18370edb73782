#include "tools/admin/context.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace vhsm::admin {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string prompt(const std::string& text) {
  int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0)
    throw std::runtime_error(
        "no terminal to ask for the password on: use --password-file or "
        "VHSM_PASSWORD");
  [[maybe_unused]] auto w = write(tty, text.data(), text.size());
  termios old{};
  tcgetattr(tty, &old);
  termios quiet = old;
  quiet.c_lflag &= ~tcflag_t(ECHO);
  tcsetattr(tty, TCSAFLUSH, &quiet);
  std::string line;
  char c;
  while (read(tty, &c, 1) == 1 && c != '\n') line.push_back(c);
  tcsetattr(tty, TCSAFLUSH, &old);
  w = write(tty, "\n", 1);
  close(tty);
  return line;
}

}  // namespace

Client& Context::connection() {
  if (!client_) {
    ClientOptions options;
    options.transport = transportNamed(transport);
    options.socketPath = socket;
    client_ = std::make_unique<Client>(options);
  }
  return *client_;
}

Client& Context::session() {
  auto& client = connection();
  if (!loggedIn_) {
    client.login(user, unlocked ? std::string() : actingPassword(*this));
    loggedIn_ = true;
  }
  return client;
}

std::string actingPassword(const Context& ctx) {
  if (!ctx.passwordFile.empty()) return readFile(ctx.passwordFile);
  if (const char* env = std::getenv("VHSM_PASSWORD")) return env;
  return prompt("Password for " + ctx.user + ": ");
}

std::string secretFromFileOrPrompt(const std::string& file, const std::string& text, bool confirm) {
  if (!file.empty()) return readFile(file);
  std::string first = prompt(text + ": ");
  if (confirm && prompt("Again: ") != first) throw std::runtime_error("the passwords differ");
  return first;
}

void printTable(const Context& ctx, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, const nlohmann::json& json) {
  if (ctx.json) {
    std::cout << json.dump(2) << "\n";
    return;
  }
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

void printDone(const Context& ctx, const std::string& text) {
  if (ctx.json)
    std::cout << nlohmann::json{{"ok", true}, {"message", text}}.dump() << "\n";
  else
    std::cout << text << "\n";
}

}  // namespace vhsm::admin
