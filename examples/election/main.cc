// Leader election: campaign, lead for a while, resign. Run two copies at
// once and they lead one after the other, each with a larger fencing token.
//
//   election [ENDPOINTS] [LEAD_MS]   ENDPOINTS default $LOCKQ_SERVER or
//                                    127.0.0.1:6379; LEAD_MS default 1000
//
// Leadership lasts while this process's session lives: if it crashes, the
// cluster ends the session after its TTL and the next candidate leads.
// Observe() reports every change of leader, ours and others'.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <lockq/client.h>

#include "../endpoints.h"

namespace {

constexpr const char* kElection = "example:election";

std::mutex print_mu;  // the observer prints from a library thread

void Say(const std::string& line) {
  std::lock_guard lock(print_mu);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const auto lead_for = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 1000);
  const std::string me = "candidate-" + std::to_string(getpid());
  lockq::Client client(example::Endpoints(argc, argv));
  lockq::Election election(client, kElection);

  // Keep the Observer alive for as long as we want reports.
  auto observer = election.Observe([](const std::optional<lockq::LeaderInfo>& leader) {
    Say(leader ? "observed leader " + leader->value + " (token " + std::to_string(leader->token) + ")"
               : std::string("observed: no leader"));
  });
  if (!observer.ok()) {
    std::fprintf(stderr, "election: observe: %s\n", observer.status().ToString().c_str());
    return 1;
  }

  Say(me + " campaigns");
  auto won = election.Campaign(me, std::chrono::seconds(30));  // blocks in line
  if (!won.ok() || !*won) {
    std::fprintf(stderr, "election: campaign: %s\n", won.ok() ? "not elected within 30 s" : won.status().ToString().c_str());
    return 1;
  }
  Say(me + " leads with token " + std::to_string(election.token()));

  // Leaders should fence their writes with election.token(); here we only
  // check that the cluster names us, then lead for a while.
  auto leader = election.Leader();
  if (!leader.ok() || !*leader || (*leader)->value != me) {
    std::fprintf(stderr, "election: Leader() does not name %s\n", me.c_str());
    return 1;
  }
  std::this_thread::sleep_for(lead_for);
  if (!election.is_leader()) {  // the session was lost meanwhile
    std::fprintf(stderr, "election: lost leadership while leading\n");
    return 1;
  }

  if (auto s = election.Resign(); !s.ok()) {
    std::fprintf(stderr, "election: resign: %s\n", s.ToString().c_str());
    return 1;
  }
  Say(me + " resigned");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the observer report it
  return 0;
}
