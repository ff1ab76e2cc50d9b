#include "server/peer_config.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace lockq::server {

void AddPeerFlags(CLI::App& app, PeerConfig* p) {
  app.add_option("--cluster-secret", p->secret,
                 "Shared secret every node must know to join (peer links prove it by challenge; never sent)")
      ->envname("LOCKQ_CLUSTER_SECRET");
  app.add_option("--cluster-secret-file", p->secret_file, "File holding --cluster-secret (first line)");
  app.add_flag("--peer-tls", p->tls, "Mutual TLS on the links between nodes (raft and forwarding)");
  app.add_option("--peer-cert-file", p->cert_file, "PEM certificate of this node for --peer-tls (names its --raft-addr host)");
  app.add_option("--peer-key-file", p->key_file, "PEM private key of --peer-cert-file");
  app.add_option("--peer-ca-file", p->ca_file, "PEM CA certificates that peers' certificates must chain to");
  app.add_option("--peer-cert-allowed-cn", p->allowed_cn,
                 "Accept a peer certificate with this common name even if it does not name the peer's address");
}

Status PeerConfig::Resolve() {
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    if (!in || !std::getline(in, secret) || secret.empty()) {
      return Status::InvalidArgument("--cluster-secret-file '" + secret_file + "': cannot read a secret from it");
    }
  }
  bool any_file = !cert_file.empty() || !key_file.empty() || !ca_file.empty();
  if (!tls) {
    if (any_file) return Status::InvalidArgument("--peer-cert-file/--peer-key-file/--peer-ca-file need --peer-tls");
    return Status::Ok();
  }
  for (auto [flag, path] : {std::pair{"--peer-cert-file", &cert_file}, std::pair{"--peer-key-file", &key_file},
                            std::pair{"--peer-ca-file", &ca_file}}) {
    if (path->empty()) return Status::InvalidArgument(std::string("--peer-tls needs ") + flag);
    if (::access(path->c_str(), R_OK) != 0) {
      return Status::InvalidArgument(std::string(flag) + " '" + *path + "': cannot read: " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

Result<PeerConfig::Contexts> PeerConfig::Load() const {
  Contexts out;
  if (!tls) return out;
  for (bool server : {true, false}) {
    net::TlsContextConfig c;
    c.cert_file = cert_file;
    c.key_file = key_file;
    c.ca_file = ca_file;
    c.server = server;
    c.verify = net::TlsContextConfig::Verify::kRequired;  // mutual, always
    c.on_error = [](const std::string& e) { spdlog::error("peer TLS: {} (the previous certificate stays in use)", e); };
    auto ctx = net::TlsContext::Load(c);
    if (!ctx.ok()) return Status::InvalidArgument("peer TLS: " + ctx.status().message());
    (server ? out.server : out.client) = std::move(ctx.value());
  }
  return out;
}

}  // namespace lockq::server
