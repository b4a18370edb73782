// What every vhsm-admin command shares: global options, the acting user's logged-in client,
// secret input, and output in text or JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include <vhsm/client.hpp>

namespace vhsm::admin {

struct Context {
  std::string socket;
  std::string transport = "unix";
  std::string user;
  std::string passwordFile;
  bool unlocked = false;  // log in through an unlock, with no password
  bool json = false;

  // The client, logged in as the acting user on first use.
  Client& session();
  // An unauthenticated client (init checks, ping).
  Client& connection();

 private:
  std::unique_ptr<Client> client_;
  bool loggedIn_ = false;
};

// The acting user's password: --password-file, else VHSM_PASSWORD, else a no-echo prompt.
std::string actingPassword(const Context& ctx);
// Another secret from a file if given, else a prompt (asked twice when confirm).
std::string secretFromFileOrPrompt(const std::string& file, const std::string& prompt,
                                   bool confirm);

// Prints rows as an aligned table, or the JSON value with --json.
void printTable(const Context& ctx, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, const nlohmann::json& json);
void printDone(const Context& ctx, const std::string& text);

void addStoreCommands(CLI::App& app, Context& ctx);  // init, backup, restore
void addUserCommands(CLI::App& app, Context& ctx);
void addContainerCommands(CLI::App& app, Context& ctx);
void addUnlockCommands(CLI::App& app, Context& ctx);
void addKeyCommands(CLI::App& app, Context& ctx);
void addAuditCommands(CLI::App& app, Context& ctx);
void addStatusCommand(CLI::App& app, Context& ctx);

}  // namespace vhsm::admin
