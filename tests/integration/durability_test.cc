// Single node durability: every acknowledged write survives kill -9.

#include <chrono>
#include <cstdio>

#include "it_util.h"

namespace lockq::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Key(const std::string& prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s:%05d", prefix.c_str(), i);
  return buf;
}

std::string Value(int i, int gen) { return "value-" + std::to_string(i) + "-gen" + std::to_string(gen) + "-xxxxxxxxxxxxxxxx"; }

// Writes keys [from, to) one command at a time; asserts each is +OK.
void WriteSingle(client::RespConnection& conn, const std::string& prefix, int from, int to, int gen,
                 std::map<std::string, std::string>* acked) {
  for (int i = from; i < to; i++) {
    auto r = conn.Call({"SET", Key(prefix, i), Value(i, gen)});
    ASSERT_TRUE(IsOk(r)) << "SET " << Key(prefix, i) << " -> " << Describe(r);
    (*acked)[Key(prefix, i)] = Value(i, gen);
  }
}

// Writes keys [from, to) in pipelines of `depth`.
void WritePipelined(client::RespConnection& conn, const std::string& prefix, int from, int to, int gen, int depth,
                    std::map<std::string, std::string>* acked) {
  for (int i = from; i < to; i += depth) {
    std::vector<sm::Argv> cmds;
    for (int j = i; j < to && j < i + depth; j++) cmds.push_back({"SET", Key(prefix, j), Value(j, gen)});
    auto r = conn.Pipeline(cmds);
    ASSERT_TRUE(r.ok()) << "pipeline at " << i << ": " << r.status().ToString();
    for (size_t j = 0; j < cmds.size(); j++) {
      ASSERT_TRUE(r->at(j).kind == sm::Reply::Kind::kStatus && r->at(j).str == "OK")
          << "SET " << cmds[j][1] << " -> " << Dbg(r->at(j));
      (*acked)[cmds[j][1]] = cmds[j][2];
    }
  }
}

void RunDurability(ClusterOptions opts, int n_single, int n_pipelined, const char* label) {
  ProcessCluster c(opts);
  LQ_ASSERT_OK(c.Start());
  std::map<std::string, std::string> acked;
  {
    LQ_CONNECT(conn, c, 0);
    ASSERT_NO_FATAL_FAILURE(WriteSingle(conn, "dur", 0, n_single, 1, &acked));
    ASSERT_NO_FATAL_FAILURE(WritePipelined(conn, "dur", n_single, n_single + n_pipelined, 1, 100, &acked));
    // Overwrite a slice (pipelined and not): the newest value must win.
    ASSERT_NO_FATAL_FAILURE(WriteSingle(conn, "dur", 0, 50, 2, &acked));
    ASSERT_NO_FATAL_FAILURE(WritePipelined(conn, "dur", n_single, n_single + 50, 2, 25, &acked));
    // Throughput is measured by bench/, not here (a correctness test).
    // The last reply was read: everything above is acknowledged. Kill at once.
  }
  auto info = c.Info(0, "replication");
  if (info.ok()) {
    std::printf("[%s] before kill: applied_index=%s snapshot_index=%s snapshots_taken=%s\n", label,
                (*info)["applied_index"].c_str(), (*info)["snapshot_index"].c_str(),
                (*info)["snapshots_taken"].c_str());
  }
  c.Kill9(0);
  auto t0 = Clock::now();
  LQ_ASSERT_OK(c.Restart(0));
  std::printf("[%s] restart after kill -9 ready in %.0f ms\n", label, MsSince(t0));

  LQ_CONNECT(conn, c, 0);
  EXPECT_EQ(CheckAllKeys(conn, acked, "after restart (MGET)"), 0u);
  // A sample through plain GET as well.
  for (int i = 0; i < n_single + n_pipelined; i += 97) {
    auto r = conn.Call({"GET", Key("dur", i)});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->str, acked[Key("dur", i)]) << "GET " << Key("dur", i) << " -> " << Dbg(r.value());
  }
  auto dbsize = conn.Call({"DBSIZE"});
  ASSERT_TRUE(dbsize.ok()) << dbsize.status().ToString();
  EXPECT_EQ(dbsize->integer, static_cast<int64_t>(acked.size())) << Dbg(dbsize.value());
  auto ks = c.Info(0, "keyspace");
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_NE((*ks)["db0"].find("keys=" + std::to_string(acked.size()) + ","), std::string::npos)
      << "INFO keyspace db0: " << (*ks)["db0"];

  // Still writable after the restart, and a second kill -9 loses nothing.
  ASSERT_NO_FATAL_FAILURE(WriteSingle(conn, "dur2", 0, 100, 3, &acked));
  conn.Close();
  c.Kill9(0);
  LQ_ASSERT_OK(c.Restart(0));
  LQ_CONNECT(conn2, c, 0);
  EXPECT_EQ(CheckAllKeys(conn2, acked, "after second restart"), 0u);
}

TEST(DurabilityIT, AcknowledgedSetsSurviveKill9) {
  RunDurability(ClusterOptions{.nodes = 1}, 1000, 1000, "durability");
}

// Same, with snapshots taken often: recovery is snapshot + log replay.
TEST(DurabilityIT, AcknowledgedSetsSurviveKill9WithSnapshots) {
  RunDurability(ClusterOptions{.nodes = 1, .extra_args = {"--snapshot-entries", "64", "--snapshot-trailing", "16"}},
                600, 2000, "durability+snapshots");
}

}  // namespace
}  // namespace lockq::testing
