#pragma once
// How many seeds and steps a simulation test runs (docs/simulation.md):
//   default / CI=true   60 seeds x 3000 steps (quick, for every push: ~2.5 s)
//   LOCKQ_LONG=1        500 seeds x 10000 steps
//   LOCKQ_SIM_SEED=n    exactly seed n (replay); LOCKQ_SIM_STEPS=n overrides steps
//   LOCKQ_SIM_SEEDS=n   n seeds starting at 1 (overrides the mode's count)

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace lockq::testing {

struct SimRunConfig {
  std::vector<uint64_t> seeds;
  uint64_t steps = 3000;
  bool replay = false;
};

inline bool EnvSet(const char* name, uint64_t* out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  *out = std::strtoull(v, nullptr, 10);
  return true;
}

inline SimRunConfig LoadSimRunConfig() {
  SimRunConfig c;
  uint64_t n_seeds = 60;
  const char* longrun = std::getenv("LOCKQ_LONG");
  if (longrun != nullptr && std::string(longrun) == "1") {
    n_seeds = 500;
    c.steps = 10000;
  }
  EnvSet("LOCKQ_SIM_SEEDS", &n_seeds);
  EnvSet("LOCKQ_SIM_STEPS", &c.steps);
  uint64_t seed;
  if (EnvSet("LOCKQ_SIM_SEED", &seed)) {
    c.seeds = {seed};
    c.replay = true;
  } else {
    for (uint64_t s = 1; s <= n_seeds; s++) c.seeds.push_back(s);
  }
  return c;
}

// The command line that replays one seed of one test.
inline std::string ReplayCommand(uint64_t seed, uint64_t steps, const std::string& filter) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string path = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "build/tests/sim_tests";
  return "LOCKQ_SIM_SEED=" + std::to_string(seed) + " LOCKQ_SIM_STEPS=" + std::to_string(steps) +
         " " + path + " --gtest_filter=" + filter;
}

}  // namespace lockq::testing
