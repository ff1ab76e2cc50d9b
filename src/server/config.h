#pragma once
// lockqd's configuration: flags (../shared/DESIGN.md "Interface contract"),
// optionally read from a TOML file given with --config whose keys are the
// flag names without dashes (data-dir = "...", resp-port = 6379, ...).
// Flags given on the command line win over the file.

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "consensus/node.h"
#include "server/peer_config.h"
#include "server/tls_config.h"

namespace lockq::server {

struct Limits {
  size_t max_clients = 10000;               // Redis maxclients
  size_t max_bulk_bytes = 16 << 20;         // one argument
  size_t max_args = 1024 * 1024;            // arguments of one command
  size_t max_inline_bytes = 64 << 10;       // one inline command line
  size_t max_query_bytes = 64 << 20;        // one command still being received
  size_t max_output_bytes = 64 << 20;       // unsent replies before disconnect
  size_t pause_output_bytes = 1 << 20;      // stop reading a client past this
  size_t max_pending_commands = 1024;       // per client, awaiting replies
  size_t max_batch_bytes = 8 << 20;         // one log entry (group commit)
  unsigned no_leader_timeout_ms = 3000;     // wait for a leader before TRYAGAIN
  // A voter the leader has not heard from this long is declared down: its
  // clients' waiters, consumers and unacked messages are released.
  unsigned node_down_ms = 10000;
  // Message bytes held by all queues past which AMQP publishers are blocked
  // (connection.blocked) until they drop below 90% of it; the queue engine
  // refuses publishes outright at 1 GiB (sm::kQueueBytesMax).
  uint64_t queue_high_water_bytes = uint64_t{768} << 20;
};

struct Config {
  std::string data_dir = "./lockq-data";
  std::string bind = "127.0.0.1";
  int resp_port = 6379;
  int amqp_port = 5672;   // 0 disables (docs/amqp.md)
  int http_port = 15672;  // 0 disables; HTTP is not served yet
  uint64_t node_id = 1;
  std::string raft_addr = "127.0.0.1:7379";
  std::string initial_cluster;  // "1=host:port,2=host:port"; empty: single node
  bool join = false;
  // Failover: a write through a survivor about 0.3-0.6 s after the leader
  // dies (bench/failover, docs/consensus.md "Timeouts and failover"). Raise
  // both across slow or long networks; keep the heartbeat well under the
  // election timeout.
  unsigned election_timeout_ms = 200;
  unsigned heartbeat_timeout_ms = 50;
  unsigned snapshot_entries = 8192;
  uint64_t snapshot_bytes = 64 << 20;
  unsigned snapshot_trailing = 1024;
  std::string log_level = "info";
  Limits limits;
  // ---- TLS for clients (server/tls_config.h) ----
  TlsConfig tls;
  PeerConfig peer;  // the links between nodes (server/peer_config.h)

  // ---- users and permissions (docs/security.md "Users and permissions") ----
  // --requirepass P: the user `default` needs P (applied after --aclfile).
  std::string requirepass;
  // --aclfile F: `user <name> <rules...>` lines, read at start; the leader
  // proposes them (LOCKQ.ACLBOOT) when they differ from the cluster's last
  // bootstrap.
  std::string aclfile;
  // --protected-mode yes|no: while `default` has no password, refuse
  // clients from outside the loopback interface (Redis's protected mode).
  bool protected_mode = true;
  // Filled by ParseConfig from the two above: LOCKQ.ACLBOOT's lines, with
  // cleartext passwords already hashed (never in the log).
  std::vector<std::string> acl_boot_lines;

  // The node options that consensus needs.
  Result<consensus::NodeOptions> ToNodeOptions() const;
  // "host:port" clients use to reach this node's RESP listener.
  std::string RespAddress() const;
};

// Parses "1=host:port,2=host:port".
Result<std::vector<consensus::Peer>> ParseInitialCluster(const std::string& spec);

// Parses argv (and --config FILE). On --help or --version prints and sets
// *exit_code to 0; on bad input prints the error and sets it to 2; returns
// nullopt-like failure through Result in both cases.
Result<Config> ParseConfig(int argc, char** argv, int* exit_code);

}  // namespace lockq::server
