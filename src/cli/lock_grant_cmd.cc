// lockq lock verify (check a signed grant offline) and lockq lock keys
// (LOCK.SIGNKEY: the cluster's grant signing keys). docs/locks.md
// "Signed grants", docs/cli.md.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/output.h"
#include "lockq/grant.h"

namespace lockq::cli {

namespace {

struct GrantCli {
  std::string keys_file;
  std::string grant;
  std::string lock;  // --lock: the grant must be for this lock
  int64_t now_ms = -1;
  std::vector<std::string> keys_args;
  std::string output;
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written with mode 0600 first: the file holds secrets.
Status WriteSecretFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot write " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return Status::IoError("cannot write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 ? Status::Ok() : Status::IoError("cannot write " + path);
}

int Verify(const Globals& g, const GrantCli& a) {
  auto text = ReadFile(a.keys_file);
  if (!text.ok()) return Fail(text.status());
  auto keys = ParseGrantKeys(*text);
  if (!keys.ok()) return Fail(a.keys_file + ": " + keys.status().message());
  uint64_t now = a.now_ms >= 0 ? static_cast<uint64_t>(a.now_ms)
                               : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                           std::chrono::system_clock::now().time_since_epoch())
                                                           .count());
  auto grant = VerifyGrant(a.grant, *keys, now);
  if (!grant.ok()) return Fail("grant rejected: " + grant.status().message());
  if (!a.lock.empty() && grant->lock != a.lock) {
    return Fail("grant rejected: it is for lock '" + grant->lock + "', not '" + a.lock + "'");
  }
  if (g.json) {
    PrintJson({{"valid", true}, {"lock", grant->lock}, {"token", grant->token}, {"holder", grant->holder},
               {"lease_end_ms", grant->lease_end_ms}, {"key_id", grant->key_id},
               {"remaining_ms", grant->lease_end_ms - now}});
  } else {
    std::printf("valid: lock '%s' token %llu holder '%s', lease ends in %s (key %llu)\n", grant->lock.c_str(),
                static_cast<unsigned long long>(grant->token), grant->holder.c_str(),
                HumanMs(static_cast<int64_t>(grant->lease_end_ms - now)).c_str(),
                static_cast<unsigned long long>(grant->key_id));
  }
  return kExitOk;
}

int Keys(const Globals& g, const GrantCli& a) {
  std::vector<std::string> argv = {"LOCK.SIGNKEY"};
  argv.insert(argv.end(), a.keys_args.begin(), a.keys_args.end());
  auto client = MakeClient(g);
  // ROTATE/ADD are not idempotent (each adds a key); the rest are.
  auto r = client->Call(argv);
  if (!r.ok()) return Fail(r.status());
  bool is_export = r->kind == Reply::Kind::kBulk;
  if (is_export && !a.output.empty()) {
    Status s = WriteSecretFile(a.output, r->str);
    return s.ok() ? kExitOk : Fail(s);
  }
  if (g.json) {
    PrintJson(ToJson(*r));
  } else if (is_export) {
    std::fputs(r->str.c_str(), stdout);
  } else if (r->kind == Reply::Kind::kArray) {
    Table t({"ID", "STATE", "CREATED_MS"});
    for (const Reply& key : r->elems) {
      nlohmann::json j = ToJson(key);
      t.Add({Cell(j.value("id", nlohmann::json())), Cell(j.value("state", nlohmann::json())),
             Cell(j.value("created_ms", nlohmann::json()))});
    }
    t.Print();
  } else {
    std::printf("%s\n", ToText(*r).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddLockGrantCommands(CLI::App& lock, Globals& g) {
  auto a = std::make_shared<GrantCli>();
  auto* verify = lock.add_subcommand(
      "verify", "Check a signed grant offline against a keys file (LOCK.SIGNKEY EXPORT); no server is contacted");
  verify->add_option("grant", a->grant, "The grant string (lqg1....)")->required();
  verify->add_option("--keys", a->keys_file, "Keys file from 'lockq lock keys export'")->required();
  verify->add_option("--lock", a->lock, "Also require the grant to be for this lock");
  verify->add_option("--now-ms", a->now_ms, "Check expiry at this time (ms since the epoch); default: now");
  verify->footer("Exit 0 when the grant is valid; 1 with the reason (malformed, unknown key, bad signature,\n"
                 "expired, another lock) otherwise.");
  verify->callback([&g, a] { g.action = [&g, a] { return Verify(g, *a); }; });

  auto* keys = lock.add_subcommand(
      "keys", "Grant signing keys (LOCK.SIGNKEY): rotate | add | activate ID | retire ID | remove ID | list | export");
  keys->add_option("action", a->keys_args, "The LOCK.SIGNKEY subcommand and its arguments")->required();
  keys->add_option("-o,--output", a->output, "export: write the keys file here (mode 0600) instead of stdout");
  keys->callback([&g, a] { g.action = [&g, a] { return Keys(g, *a); }; });
}

}  // namespace lockq::cli
