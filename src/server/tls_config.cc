#include "server/tls_config.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lockq::server {

void AddTlsFlags(CLI::App& app, TlsConfig* t) {
  app.add_option("--tls-port", t->port, "Redis protocol over TLS port (0 disables)")->capture_default_str();
  app.add_option("--amqps-port", t->amqps_port,
                 "AMQP 0-9-1 over TLS port (default 5671 when --tls-cert-file is set; 0 disables)");
  app.add_option("--tls-cert-file", t->cert_file, "PEM certificate (chain) of the TLS listeners");
  app.add_option("--tls-key-file", t->key_file, "PEM private key of --tls-cert-file");
  app.add_option("--tls-ca-cert-file", t->ca_cert_file, "PEM CA certificates that client certificates must chain to");
  app.add_option("--tls-auth-clients", t->auth_clients,
                 "Client certificates: yes (required), optional (verified if sent), no")
      ->check(CLI::IsMember({"yes", "no", "optional"}))
      ->capture_default_str();
  app.add_option("--tls-ca-cert-dir", t->ca_cert_dir,
                 "Directory of CA certificates (hashed, `openssl rehash`), beside or instead of --tls-ca-cert-file");
  app.add_option("--tls-key-file-pass", t->key_file_pass, "Passphrase of an encrypted --tls-key-file");
  app.add_option("--tls-protocols", t->protocols, "TLS versions offered: \"TLSv1.2 TLSv1.3\" (default both)");
  app.add_option("--tls-ciphers", t->ciphers, "TLS 1.2 cipher list, OpenSSL syntax (default OpenSSL's)");
  app.add_option("--tls-ciphersuites", t->ciphersuites, "TLS 1.3 cipher suites, colon separated (default OpenSSL's)");
}

namespace {

Status Readable(const char* flag, const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::InvalidArgument(std::string(flag) + " '" + path + "': cannot read: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status TlsConfig::Resolve() {
  if (amqps_port < 0) amqps_port = cert_file.empty() ? 0 : kAmqpsDefaultPort;
  if (!enabled()) return Status::Ok();
  if (cert_file.empty() || key_file.empty()) {
    return Status::InvalidArgument("--tls-port/--amqps-port need --tls-cert-file and --tls-key-file");
  }
  if (auth_clients != "no" && ca_cert_file.empty() && ca_cert_dir.empty()) {
    return Status::InvalidArgument("--tls-auth-clients " + auth_clients +
                                   " needs --tls-ca-cert-file or --tls-ca-cert-dir (or --tls-auth-clients no)");
  }
  for (auto [flag, path] : {std::pair{"--tls-cert-file", &cert_file}, std::pair{"--tls-key-file", &key_file},
                            std::pair{"--tls-ca-cert-file", &ca_cert_file},
                            std::pair{"--tls-ca-cert-dir", &ca_cert_dir}}) {
    if (path->empty()) continue;
    Status s = Readable(flag, *path);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<std::shared_ptr<net::TlsContext>> TlsConfig::Load(std::function<void(const std::string&)> on_error) const {
  if (!enabled()) return std::shared_ptr<net::TlsContext>();
  net::TlsContextConfig c;
  c.cert_file = cert_file;
  c.key_file = key_file;
  c.ca_file = ca_cert_file;
  c.ca_dir = ca_cert_dir;
  c.key_password = key_file_pass;
  c.protocols = protocols;
  c.ciphers = ciphers;
  c.ciphersuites = ciphersuites;
  c.server = true;
  c.verify = auth_clients == "yes"        ? net::TlsContextConfig::Verify::kRequired
             : auth_clients == "optional" ? net::TlsContextConfig::Verify::kOptional
                                          : net::TlsContextConfig::Verify::kNone;
  c.on_error = std::move(on_error);
  auto ctx = net::TlsContext::Load(c);
  if (!ctx.ok()) return Status::InvalidArgument("TLS: " + ctx.status().message());
  return ctx;
}

}  // namespace lockq::server
