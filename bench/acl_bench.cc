// What one permission check costs next to the command it guards (issue 12,
// "auth checks cost under 2% of throughput"). Not a test: run
// build/bench/acl_bench by hand (cmake --build build --target acl_bench);
// bench/auth-cost measures the same question end to end.
//
//   BM_Check/<user>/<cmd>     sm::AclCheck() alone, as the RESP front end
//                             runs it before proposing (acl_commands.cc
//                             CheckPermission) and Dispatch() runs it again
//                             at apply (AclCheckActing)
//   BM_Dispatch/<user>/<cmd>  sm::Dispatch() of the command on an SmState,
//                             the check included, as the acting user
//   BM_Apply/<user>/<cmd>     StateMachine::Apply() of a one-command batch,
//                             wrapped in LOCKQ.USER for a non-default user
//                             as the front end proposes it
//
// Users: `default` (on nopass ~* &* +@all: the open server), `bench`
// (~key:* +@all, bench/auth-cost's ACL user), `many` (six key patterns,
// +@all -@dangerous: the command rules are walked and the key misses five
// patterns before it matches).

#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "sm/acl_check.h"
#include "sm/acl_user.h"
#include "sm/command_table.h"
#include "sm/sm_state.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

constexpr char kKey[] = "key:000000012345";  // redis-benchmark -r's key shape
const std::string kValue(64, 'x');             // redis-benchmark -d 64

// ACL SETUSER rules per user; empty for `default` (stays as the store has it).
std::vector<std::string> RulesOf(const std::string& user) {
  if (user == "bench") return {"on", ">pw", "~key:*", "+@all"};
  if (user == "many") {
    return {"on", ">pw", "~queue:*", "~lock:*", "~session:*", "~sig:*", "%R~cfg:*", "~key:*", "+@all", "-@dangerous"};
  }
  return {};
}

AclUser UserNamed(const std::string& name) {
  if (name == "default") return DefaultAclUser();
  AclUser u = NewAclUser(name);
  std::vector<std::string> rules = RulesOf(name);
  std::vector<std::string_view> views(rules.begin(), rules.end());
  if (auto err = ApplyAclRules(&u, views)) throw std::runtime_error(*err);
  return u;
}

Argv CommandNamed(const std::string& cmd) {
  if (cmd == "set") return {"SET", kKey, kValue};
  return {"GET", kKey};
}

// Benchmark names carry the user and command: BM_Check/bench/set.
void RegisterAll() {
  for (const char* user : {"default", "bench", "many"}) {
    for (const char* cmd : {"set", "get"}) {
      std::string suffix = std::string("/") + user + "/" + cmd;
      benchmark::RegisterBenchmark(("BM_Check" + suffix).c_str(), [user, cmd](benchmark::State& st) {
        AclUser u = UserNamed(user);
        Argv argv = CommandNamed(cmd);
        for (auto _ : st) benchmark::DoNotOptimize(AclCheck(u, argv));
      });
      benchmark::RegisterBenchmark(("BM_Dispatch" + suffix).c_str(), [user, cmd](benchmark::State& st) {
        SmState s;
        if (std::string(user) != "default") s.acl.Put(UserNamed(user));
        s.acting_user = std::string(user) == "default" ? "" : user;
        Dispatch(s, CommandNamed("set"), 1);  // GET finds the key
        Argv argv = CommandNamed(cmd);
        uint64_t index = 2;
        for (auto _ : st) benchmark::DoNotOptimize(Dispatch(s, argv, index++));
      });
      benchmark::RegisterBenchmark(("BM_Apply" + suffix).c_str(), [user, cmd](benchmark::State& st) {
        StateMachine sm;
        uint64_t index = 1;
        Argv prefix;
        if (std::string(user) != "default") {
          Batch setuser;
          setuser.commands = {Argv{"ACL", "SETUSER", user}};
          for (const std::string& r : RulesOf(user)) setuser.commands[0].push_back(r);
          sm.Apply(setuser, index++);
          prefix = {"LOCKQ.USER", user};
        }
        Batch b;
        b.commands = {prefix};
        for (const std::string& a : CommandNamed("set")) b.commands[0].push_back(a);
        sm.Apply(b, index++);  // GET finds the key
        b.commands = {prefix};
        for (const std::string& a : CommandNamed(cmd)) b.commands[0].push_back(a);
        for (auto _ : st) benchmark::DoNotOptimize(sm.Apply(b, index++));
      });
    }
  }
}

}  // namespace
}  // namespace lockq::sm

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  lockq::sm::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
