#pragma once
// TLS for clients: lockqd's flags (Redis's names, ../shared/DESIGN.md
// "Interface contract"; docs/security.md "TLS") and the server context
// they make. Its own block of Config, so other security flags (users,
// peers) merge beside it.
//
//   --tls-port N              RESP over TLS (0: off); beside --resp-port, or
//                             alone with --resp-port 0
//   --amqps-port N            AMQP over TLS; default 5671 when
//                             --tls-cert-file is set, else off; 0: off
//   --tls-cert-file F         PEM certificate chain
//   --tls-key-file F          its PEM private key
//   --tls-ca-cert-file F      CA certificates client certificates must chain to
//   --tls-auth-clients M      yes (Redis's default: a client certificate is
//                             required), optional (verified when sent), no
//   --tls-ca-cert-dir D       hashed directory of CA certificates (beside or
//                             instead of --tls-ca-cert-file)
//   --tls-key-file-pass P     passphrase of an encrypted --tls-key-file
//   --tls-protocols "TLSv1.2 TLSv1.3"   versions offered (default both)
//   --tls-ciphers L           TLS 1.2 cipher list (OpenSSL syntax)
//   --tls-ciphersuites L      TLS 1.3 suites
// Protocol names and cipher lists are checked when the context is built
// (Load), before raft starts.

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/tls.h"

namespace CLI {
class App;
}

namespace lockq::server {

inline constexpr int kAmqpsDefaultPort = 5671;

struct TlsConfig {
  int port = 0;
  int amqps_port = -1;  // -1: kAmqpsDefaultPort when cert_file is set, else 0 (Resolve)
  std::string cert_file;
  std::string key_file;
  std::string ca_cert_file;
  std::string ca_cert_dir;
  std::string key_file_pass;
  std::string protocols;
  std::string ciphers;
  std::string ciphersuites;
  std::string auth_clients = "yes";

  // Any TLS listener configured (after Resolve).
  bool enabled() const { return port != 0 || amqps_port > 0; }
  // Fills the default AMQPS port and checks the flags fit together and the
  // files are readable. Errors name the flag.
  Status Resolve();
  // The server context for the TLS listeners; null when !enabled().
  // `on_error` reports a failed certificate reload (the old one stays).
  Result<std::shared_ptr<net::TlsContext>> Load(std::function<void(const std::string&)> on_error) const;
};

void AddTlsFlags(CLI::App& app, TlsConfig* tls);

}  // namespace lockq::server
