#include "server/config.h"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <fstream>
#include <iostream>

#include "server/acl_config.h"

namespace lockq::server {

Result<std::vector<consensus::Peer>> ParseInitialCluster(const std::string& spec) {
  std::vector<consensus::Peer> peers;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? spec.size() : comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size() ||
        item.find(':', eq) == std::string::npos) {
      return Status::InvalidArgument("--initial-cluster: expected ID=HOST:PORT, got '" + item + "'");
    }
    uint64_t id = 0;
    try {
      id = std::stoull(item.substr(0, eq));
    } catch (...) {
      return Status::InvalidArgument("--initial-cluster: bad node id in '" + item + "'");
    }
    if (id == 0) return Status::InvalidArgument("--initial-cluster: node ids start at 1");
    for (const auto& p : peers) {
      if (p.id == id) return Status::InvalidArgument("--initial-cluster: duplicate node id " + std::to_string(id));
    }
    peers.push_back({id, item.substr(eq + 1)});
  }
  return peers;
}

Result<consensus::NodeOptions> Config::ToNodeOptions() const {
  consensus::NodeOptions o;
  o.id = node_id;
  o.address = raft_addr;
  o.data_dir = data_dir;
  o.join = join;
  o.election_timeout_ms = election_timeout_ms;
  o.heartbeat_timeout_ms = heartbeat_timeout_ms;
  o.snapshot.threshold_entries = snapshot_entries;
  o.snapshot.threshold_bytes = snapshot_bytes;
  o.snapshot.trailing_entries = snapshot_trailing;
  // Staggering replicas' first snapshot (snapshot_policy.h) is off: with
  // it on, bench/failover crashed node 1 (the unstaggered one) in libraft
  // four runs out of four, and never in 80 faults with it off (issue 13
  // note, session 7). Not understood yet; keep 0 until it is.
  o.snapshot.first_stagger_percent = 0;
  auto peers = ParseInitialCluster(initial_cluster);
  if (!peers.ok()) return peers.status();
  o.initial_cluster = std::move(peers.value());
  if (heartbeat_timeout_ms == 0 || election_timeout_ms <= heartbeat_timeout_ms) {
    return Status::InvalidArgument("--election-timeout-ms must exceed --heartbeat-timeout-ms");
  }
  return o;
}

std::string Config::RespAddress() const { return bind + ":" + std::to_string(resp_port); }

namespace {

// Applies TOML keys for options the command line did not set.
Status ApplyToml(CLI::App& app, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument("--config " + path + ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : tbl) {
    std::string name = "--" + std::string(key.str());
    CLI::Option* opt = nullptr;
    try {
      opt = app.get_option(name);
    } catch (const CLI::OptionNotFound&) {
      return Status::InvalidArgument("--config " + path + ": unknown key '" + std::string(key.str()) + "'");
    }
    if (opt->count() > 0) continue;  // the command line wins
    std::string value;
    if (auto s = node.value<std::string>()) value = *s;
    else if (auto i = node.value<int64_t>()) value = std::to_string(*i);
    else if (auto b = node.value<bool>()) value = *b ? "true" : "false";
    else return Status::InvalidArgument("--config " + path + ": bad value for '" + std::string(key.str()) + "'");
    try {
      opt->add_result(value);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return Status::InvalidArgument("--config " + path + ": " + std::string(key.str()) + ": " + e.what());
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Config> ParseConfig(int argc, char** argv, int* exit_code) {
  Config c;
  CLI::App app{"lockqd: replicated locks and queues over the Redis and AMQP protocols"};
  app.set_version_flag("--version", "lockqd 0.1.0");
  std::string config_file;
  app.add_option("--config", config_file, "TOML file with the same keys as these flags");
  app.add_option("--data-dir", c.data_dir, "Raft log and snapshots")->capture_default_str();
  app.add_option("--bind", c.bind, "Address the client listeners bind")->capture_default_str();
  app.add_option("--resp-port", c.resp_port, "Redis protocol port (0 disables)")->capture_default_str();
  app.add_option("--amqp-port", c.amqp_port, "AMQP 0-9-1 port (0 disables)")->capture_default_str();
  app.add_option("--http-port", c.http_port, "HTTP metrics/health port (0 disables; HTTP is not served yet)")->capture_default_str();
  app.add_option("--node-id", c.node_id, "This node's id (>= 1)")->capture_default_str();
  app.add_option("--raft-addr", c.raft_addr, "HOST:PORT peers reach this node's raft at")->capture_default_str();
  app.add_option("--initial-cluster", c.initial_cluster,
                 "\"1=HOST:PORT,2=HOST:PORT,3=HOST:PORT\" (absent: single node)");
  app.add_flag("--join", c.join, "Start without bootstrapping; wait to be added with `lockq cluster add`");
  app.add_option("--election-timeout-ms", c.election_timeout_ms, "Raft election timeout")->capture_default_str();
  app.add_option("--heartbeat-timeout-ms", c.heartbeat_timeout_ms, "Raft heartbeat interval")->capture_default_str();
  app.add_option("--snapshot-entries", c.snapshot_entries, "Snapshot after this many entries")->capture_default_str();
  app.add_option("--snapshot-bytes", c.snapshot_bytes, "...or after this many applied bytes (or the last snapshot's size, when larger)")->capture_default_str();
  app.add_option("--snapshot-trailing", c.snapshot_trailing, "Entries kept behind a snapshot")->capture_default_str();
  app.add_option("--log-level", c.log_level, "Log verbosity")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--max-clients", c.limits.max_clients, "Client connections")->capture_default_str();
  app.add_option("--max-bulk-bytes", c.limits.max_bulk_bytes, "Largest argument")->capture_default_str();
  app.add_option("--max-args", c.limits.max_args, "Most arguments in one command")->capture_default_str();
  app.add_option("--max-inline-bytes", c.limits.max_inline_bytes, "Longest inline command")->capture_default_str();
  app.add_option("--max-query-bytes", c.limits.max_query_bytes,
                 "Bytes of one incomplete command before the client is disconnected")->capture_default_str();
  app.add_option("--max-output-bytes", c.limits.max_output_bytes,
                 "Unsent reply bytes before a client is disconnected")->capture_default_str();
  app.add_option("--max-pending-commands", c.limits.max_pending_commands,
                 "Commands of one client awaiting replies before reading pauses")->capture_default_str();
  app.add_option("--no-leader-timeout-ms", c.limits.no_leader_timeout_ms,
                 "How long a command waits for a leader before TRYAGAIN")->capture_default_str();
  app.add_option("--node-down-ms", c.limits.node_down_ms,
                 "Silence after which the leader declares a node down and releases its clients' "
                 "lock waits, consumers and unacked messages (the node closes its client "
                 "connections when it comes back)")
      ->capture_default_str()->check(CLI::Range(1000u, 3600000u));
  app.add_option("--queue-high-water-bytes", c.limits.queue_high_water_bytes,
                 "Queued message bytes past which AMQP publishers are blocked (connection.blocked)")
      ->capture_default_str();
  // ---- users and permissions ----
  app.add_option("--requirepass", c.requirepass, "Password of the user `default` (RESP AUTH)");
  app.add_option("--aclfile", c.aclfile, "ACL file (`user <name> <rules...>` lines) read at start");
  std::string protected_mode = "yes";
  app.add_option("--protected-mode", protected_mode,
                 "yes: while `default` has no password, refuse non-loopback clients")
      ->check(CLI::IsMember({"yes", "no"}))->capture_default_str();
  // ---- TLS for clients (server/tls_config.h) ----
  AddTlsFlags(app, &c.tls);
  // ---- Peers (server/peer_config.h) ----
  AddPeerFlags(app, &c.peer);
  try {
    app.parse(argc, argv);
    if (!config_file.empty()) {
      Status s = ApplyToml(app, config_file);
      if (!s.ok()) throw CLI::ValidationError(s.message());
    }
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return Status::InvalidArgument(e.what());
  }
  // ---- TLS for clients ----
  if (Status s = c.tls.Resolve(); !s.ok()) {
    std::cerr << s.message() << "\n";
    *exit_code = 2;
    return s;
  }
  // ---- Peers ----
  if (Status s = c.peer.Resolve(); !s.ok()) {
    std::cerr << s.message() << "\n";
    *exit_code = 2;
    return s;
  }
  c.protected_mode = protected_mode == "yes";
  if (auto lines = AclBootLines(c.aclfile, c.requirepass); lines.ok()) {
    c.acl_boot_lines = std::move(lines.value());
  } else {
    std::cerr << lines.status().message() << "\n";
    *exit_code = 2;
    return lines.status();
  }
  if (c.node_id == 0) {
    std::cerr << "--node-id must be >= 1\n";
    *exit_code = 2;
    return Status::InvalidArgument("--node-id must be >= 1");
  }
  *exit_code = 0;
  return c;
}

}  // namespace lockq::server
