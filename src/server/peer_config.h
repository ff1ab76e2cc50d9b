#pragma once
// Peers: lockqd's flags for the links between nodes (etcd's names for the
// TLS ones, ../shared/DESIGN.md "Interface contract"; docs/security.md
// "Peers") and the TLS contexts they make. Its own block of Config, beside
// TLS for clients (tls_config.h).
//
//   --cluster-secret S          every node must know it (HMAC challenge)
//   --cluster-secret-file F     the same, from the file's first line
//                               ($LOCKQ_CLUSTER_SECRET also works)
//   --peer-tls                  mutual TLS on every peer link
//   --peer-cert-file F          this node's PEM certificate (chain): must
//                               name its --raft-addr host (IP or DNS SAN)
//   --peer-key-file F           its PEM private key
//   --peer-ca-file F            CA certificates peers' certificates chain to
//   --peer-cert-allowed-cn CN   accept a peer certificate with this CN even
//                               if it does not name the peer's address
//                               (repeatable)

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/tls.h"

namespace CLI {
class App;
}

namespace lockq::server {

struct PeerConfig {
  std::string secret;
  std::string secret_file;
  bool tls = false;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  std::vector<std::string> allowed_cn;

  // Reads --cluster-secret-file and checks the TLS flags fit together and
  // the files are readable. Errors name the flag.
  Status Resolve();
  // {server, client} contexts for --peer-tls (both null without it).
  struct Contexts {
    std::shared_ptr<net::TlsContext> server, client;
  };
  Result<Contexts> Load() const;
};

void AddPeerFlags(CLI::App& app, PeerConfig* peer);

}  // namespace lockq::server
