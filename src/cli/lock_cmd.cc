// lockq lock (run a command under a lock), lock ls, lock info.

#include <unistd.h>

#include <cstdio>

#include "cli/lock_run.h"

namespace lockq::cli {

namespace {

// LOCK.LIST details each lock with LOCK.INFO up to this many locks; beyond
// it only names are shown (a bound on calls per invocation).
constexpr size_t kDetailedLocksMax = 1000;

struct LockCli {
  std::string name;
  std::string ttl = "30s";
  std::string wait;  // "" = wait without limit
  bool shared = false;
  bool signed_grant = false;
  std::string owner;
  std::vector<std::string> command;
  std::string match = "*";
  std::string info_name;
};

std::string DefaultOwner() {
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

int RunCommand(const Globals& g, const LockCli& a) {
  if (a.name.empty() || a.command.empty()) {
    std::fprintf(stderr, "lockq: usage: lockq lock NAME [--ttl 30s] [--wait 10s] [--shared] -- COMMAND [ARGS...]\n");
    return kExitUsage;
  }
  LockRunArgs args{.name = a.name, .shared = a.shared, .owner = a.owner.empty() ? DefaultOwner() : a.owner,
                   .signed_grant = a.signed_grant, .command = a.command};
  auto ttl = ParseDuration(a.ttl);
  if (!ttl.ok()) return Fail("--ttl: " + ttl.status().message());
  args.ttl = *ttl;
  if (!a.wait.empty()) {
    auto wait = ParseDuration(a.wait);
    if (!wait.ok()) return Fail("--wait: " + wait.status().message());
    args.wait = *wait;
  }
  return RunLocked(g, args);
}

int List(const Globals& g, const LockCli& a) {
  auto client = MakeClient(g);
  auto listed = ListWithInfo(*client, "LOCK.LIST", "LOCK.INFO", a.match, kDetailedLocksMax);
  if (!listed.ok()) return Fail(listed.status());
  const nlohmann::json& locks = *listed;
  if (g.json) {
    PrintJson(locks);
    return kExitOk;
  }
  Table t({"NAME", "MODE", "HOLDERS", "WAITERS", "LAST TOKEN"});
  for (const auto& l : locks) {
    t.Add({Cell(l["name"]), Cell(l.value("mode", nlohmann::json())),
           std::to_string(l.value("holders", nlohmann::json::array()).size()),
           std::to_string(l.value("waiters", nlohmann::json::array()).size()),
           Cell(l.value("last_token", nlohmann::json()))});
  }
  t.Print();
  return kExitOk;
}

void PrintInfo(const nlohmann::json& info) {
  std::printf("lock %s: %s", Cell(info["name"]).c_str(), Cell(info.value("mode", nlohmann::json())).c_str());
  if (info.value("mode", "") == "semaphore") std::printf(" of %s permits", Cell(info["permits"]).c_str());
  std::printf(", last token %s\n\n", Cell(info.value("last_token", nlohmann::json())).c_str());
  Table holders({"TOKEN", "OWNER", "SESSION", "REMAINING"});
  for (const auto& h : info.value("holders", nlohmann::json::array())) {
    holders.Add({Cell(h.value("token", nlohmann::json())), Cell(h.value("owner", nlohmann::json())),
                 Cell(h.value("session", nlohmann::json())), HumanMs(h.value("remaining_ms", int64_t{-1}))});
  }
  if (holders.empty()) {
    std::printf("no holders\n");
  } else {
    holders.Print();
  }
  Table waiters({"#", "OWNER", "MODE", "SESSION"});
  int position = 0;
  for (const auto& w : info.value("waiters", nlohmann::json::array())) {
    waiters.Add({std::to_string(++position), Cell(w.value("owner", nlohmann::json())),
                 Cell(w.value("mode", nlohmann::json())), Cell(w.value("session", nlohmann::json()))});
  }
  if (!waiters.empty()) {
    std::printf("\nwaiters, in queue order:\n");
    waiters.Print();
  }
}

}  // namespace

void AddLockCommands(CLI::App& app, Globals& g) {
  auto a = std::make_shared<LockCli>();
  auto* lock = app.add_subcommand("lock", "Run a command while holding a lock: lockq lock NAME [OPTIONS] -- COMMAND [ARGS...]; or lock ls / lock info NAME");
  lock->add_option("name", a->name, "Lock name");
  lock->add_option("command", a->command, "The command to run (after --) and its arguments");
  lock->add_option("--ttl", a->ttl, "Session TTL: the lock is freed this long after lockq dies (500ms, 10s, 2m)")
      ->capture_default_str();
  lock->add_option("--wait", a->wait, "Give up after this long (0: try once); default: wait without limit");
  lock->add_flag("--shared", a->shared, "Take a shared (read) lock");
  lock->add_option("--owner", a->owner, "Owner tag shown by 'lockq lock info' (default HOST:PID)");
  lock->add_flag("--signed", a->signed_grant, "Acquire SIGNED: the command gets the signed grant in LOCKQ_GRANT");
  lock->footer(
      "The command gets LOCKQ_FENCING_TOKEN and LOCKQ_LOCK_NAME (and LOCKQ_GRANT with --signed) in its\n"
      "environment. lockq exits with the\n"
      "command's status (128+N if killed by signal N); 1 if the lock was not acquired or was lost.\n"
      "SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to the command, then the lock is released.");
  lock->callback([&g, a, lock] {
    if (lock->get_subcommands().empty()) g.action = [&g, a] { return RunCommand(g, *a); };
  });

  AddLockGrantCommands(*lock, g);

  auto* ls = lock->add_subcommand("ls", "List held locks (LOCK.LIST) with mode, holders and waiters");
  ls->add_option("--match", a->match, "Glob pattern on lock names")->capture_default_str();
  ls->callback([&g, a] { g.action = [&g, a] { return List(g, *a); }; });

  auto* info = lock->add_subcommand("info", "Mode, holders (token, owner, remaining) and waiters of a lock");
  info->add_option("name", a->info_name, "Lock name")->required();
  info->callback([&g, a] {
    g.action = [&g, a] {
      auto client = MakeClient(g);
      auto r = NamedInfo(*client, "LOCK.INFO", a->info_name);
      if (!r.ok()) return Fail(r.status());
      if (g.json) {
        PrintJson(*r);
      } else {
        PrintInfo(*r);
      }
      return kExitOk;
    };
  });
}

}  // namespace lockq::cli
