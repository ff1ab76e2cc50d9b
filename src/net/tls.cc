#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>

namespace lockq::net {

namespace {

// OpenSSL's queued errors as "library: reason; ...", oldest first.
std::string DrainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    const char* lib = ERR_lib_error_string(e);
    const char* reason = ERR_reason_error_string(e);
    if (lib != nullptr) out += std::string(lib) + ": ";
    if (reason != nullptr) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      out += buf;
    }
  }
  return out;
}

// A clear message for a file OpenSSL could not use: "cannot read" with the
// errno text when it cannot even be opened, else OpenSSL's reason.
Status FileError(const std::string& what, const std::string& path) {
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    std::fclose(f);
    std::string reason = DrainErrors();
    return Status::InvalidArgument(what + " '" + path + "': " + (reason.empty() ? "not usable" : reason));
  }
  int err = errno;
  ERR_clear_error();
  return Status::InvalidArgument("cannot read " + what + " '" + path + "': " + std::strerror(err));
}

// Passphrase callback for encrypted keys: the userdata is the passphrase
// (std::string), never a terminal prompt as OpenSSL's default would be.
int KeyPasswordCb(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (password == nullptr || password->empty() || password->size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, password->data(), password->size());
  return static_cast<int>(password->size());
}

Status LoadKey(SSL_CTX* ctx, const TlsContextConfig& c) {
  SSL_CTX_set_default_passwd_cb(ctx, &KeyPasswordCb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&c.key_password));
  int ok = SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);  // `c` may not outlive ctx
  if (ok != 1) return FileError("key file", c.key_file);
  return Status::Ok();
}

// Redis's tls-protocols and the cipher settings (redis.conf "TLS"). Only
// TLS 1.2 and 1.3 exist here: the minimum stays TLS 1.2.
Status SetProtocolsAndCiphers(SSL_CTX* ctx, const TlsContextConfig& c) {
  if (!c.protocols.empty()) {
    bool v12 = false, v13 = false;
    std::string word;
    for (size_t i = 0; i <= c.protocols.size(); i++) {
      char ch = i < c.protocols.size() ? c.protocols[i] : ' ';
      if (ch != ' ' && ch != '\t') {
        word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        continue;
      }
      if (word == "tlsv1.2") v12 = true;
      else if (word == "tlsv1.3") v13 = true;
      else if (!word.empty()) {
        return Status::InvalidArgument("protocols '" + c.protocols + "': '" + word +
                                       "' is not one of TLSv1.2, TLSv1.3 (older versions are not offered)");
      }
      word.clear();
    }
    if (!v12 && !v13) return Status::InvalidArgument("protocols '" + c.protocols + "': names no protocol");
    SSL_CTX_set_min_proto_version(ctx, v12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  }
  if (!c.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, c.ciphers.c_str()) != 1) {
    return Status::InvalidArgument("TLS 1.2 ciphers '" + c.ciphers + "': " + DrainErrors());
  }
  if (!c.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, c.ciphersuites.c_str()) != 1) {
    return Status::InvalidArgument("TLS 1.3 ciphersuites '" + c.ciphersuites + "': " + DrainErrors());
  }
  return Status::Ok();
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string Asn1Text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

// ---- TlsContext -----------------------------------------------------------------

Result<std::shared_ptr<ssl_ctx_st>> BuildSslContext(const TlsContextConfig& c) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(c.server ? TLS_server_method() : TLS_client_method()), &SSL_CTX_free);
  if (!ctx) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (Status s = SetProtocolsAndCiphers(ctx.get(), c); !s.ok()) return s;
  // An idle connection keeps no read/write buffers (many idle clients).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (c.server && (c.cert_file.empty() || c.key_file.empty())) {
    return Status::InvalidArgument("a TLS server needs a certificate file and a key file");
  }
  if (c.cert_file.empty() != c.key_file.empty()) {
    return Status::InvalidArgument("a TLS certificate file needs its key file, and a key file its certificate");
  }
  if (!c.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert_file.c_str()) != 1) {
      return FileError("certificate file", c.cert_file);
    }
    if (Status s = LoadKey(ctx.get(), c); !s.ok()) return s;
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      return Status::InvalidArgument("key file '" + c.key_file + "' does not match certificate '" + c.cert_file +
                                     "': " + DrainErrors());
    }
  }
  bool verifies = c.verify != TlsContextConfig::Verify::kNone;
  if (!c.ca_dir.empty() && SSL_CTX_load_verify_locations(ctx.get(), nullptr, c.ca_dir.c_str()) != 1) {
    return FileError("CA certificate directory", c.ca_dir);
  }
  if (!c.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), c.ca_file.c_str(), nullptr) != 1) {
      return FileError("CA certificate file", c.ca_file);
    }
    if (c.server) {
      // The CA names a server sends in its CertificateRequest.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(c.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx.get(), names);
      }
    }
  } else if (verifies && c.server && c.ca_dir.empty()) {
    return Status::InvalidArgument("verifying client certificates needs a CA certificate file or directory");
  } else if (verifies && c.ca_dir.empty()) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  }
  int mode = SSL_VERIFY_NONE;
  if (verifies) mode = SSL_VERIFY_PEER;
  if (c.server && c.verify == TlsContextConfig::Verify::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  if (c.server) {
    // Required for session resumption once client certificates are asked for.
    static const unsigned char kSessionContext[] = "lockq";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof(kSessionContext) - 1);
  }
  return ctx;
}

Result<std::shared_ptr<TlsContext>> TlsContext::Load(const TlsContextConfig& config) {
  std::shared_ptr<TlsContext> t(new TlsContext(config));
  // Stamped before reading: a file changed in between is read again once
  // more, never missed.
  t->loaded_stamps_ = t->StampFiles();
  auto ctx = BuildSslContext(config);
  if (!ctx.ok()) return ctx.status();
  t->ctx_ = std::move(ctx.value());
  return t;
}

TlsContext::~TlsContext() = default;

std::vector<TlsContext::FileStamp> TlsContext::StampFiles() const {
  std::vector<FileStamp> out;
  for (const std::string* path : {&config_.cert_file, &config_.key_file, &config_.ca_file}) {
    FileStamp s;
    struct stat st;
    if (!path->empty() && ::stat(path->c_str(), &st) == 0) {
      s.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      s.size = st.st_size;
      s.inode = st.st_ino;
    }
    out.push_back(s);
  }
  return out;
}

void TlsContext::MaybeReload() {
  std::vector<FileStamp> now = StampFiles();
  if (now == loaded_stamps_ || now == failed_stamps_) return;
  auto ctx = BuildSslContext(config_);
  if (!ctx.ok()) {
    failed_stamps_ = now;  // reported once until the files change again
    if (config_.on_error) {
      config_.on_error("TLS: certificate files changed but cannot be loaded; keeping the previous ones: " +
                       ctx.status().message());
    }
    return;
  }
  ctx_ = std::move(ctx.value());
  loaded_stamps_ = std::move(now);
  failed_stamps_.clear();
  reloads_++;
}

uint64_t TlsContext::reloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reloads_;
}

ssl_st* TlsContext::NewSsl() {
  std::lock_guard<std::mutex> lock(mu_);
  MaybeReload();
  // SSL_new takes its own reference on the SSL_CTX: a reload later does not
  // pull it from under this connection.
  return SSL_new(ctx_.get());
}

// ---- TlsEngine ------------------------------------------------------------------

TlsEngine::TlsEngine(ssl_st* ssl, bool server) : ssl_(ssl), server_(server) {
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);  // empty means "wait for more", not EOF
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl_, rbio, wbio);  // the SSL owns both
  if (server) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

std::unique_ptr<TlsEngine> TlsEngine::NewServer(const std::shared_ptr<TlsContext>& ctx) {
  SSL* ssl = ctx->NewSsl();
  if (ssl == nullptr) return nullptr;
  return std::unique_ptr<TlsEngine>(new TlsEngine(ssl, /*server=*/true));
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::NewClient(const std::shared_ptr<TlsContext>& ctx,
                                                       const std::string& server_name) {
  ERR_clear_error();
  SSL* ssl = ctx->NewSsl();
  if (ssl == nullptr) return Status::Internal("SSL_new: " + DrainErrors());
  std::unique_ptr<TlsEngine> e(new TlsEngine(ssl, /*server=*/false));
  if (server_name.empty()) return e;
  bool ip = IsIpLiteral(server_name);
  // SNI carries host names only (RFC 6066 section 3).
  if (!ip) SSL_set_tlsext_host_name(ssl, server_name.c_str());
  if (ctx->config().verify != TlsContextConfig::Verify::kNone) {
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str())
                : SSL_set1_host(ssl, server_name.c_str());
    if (ok != 1) return Status::InvalidArgument("bad TLS server name '" + server_name + "'");
  }
  return e;
}

Status TlsEngine::Fail(const std::string& what) {
  failed_ = true;
  std::string reason = DrainErrors();
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    reason += std::string(reason.empty() ? "" : " (") + "certificate: " + X509_verify_cert_error_string(verify) +
              (reason.empty() ? "" : ")");
  }
  if (reason.empty()) reason = "connection failed";
  error_ = "TLS " + what + ": " + reason;
  return Status::IoError(error_);
}

Status TlsEngine::Start() {
  if (server_ || started_ || failed_) return failed_ ? Status::IoError(error_) : Status::Ok();
  started_ = true;
  return Advance();
}

Status TlsEngine::FeedCiphertext(std::string_view in) {
  if (failed_) return Status::IoError(error_);
  started_ = true;
  ERR_clear_error();
  if (!in.empty() && BIO_write(SSL_get_rbio(ssl_), in.data(), static_cast<int>(in.size())) <= 0) {
    return Fail("buffer");
  }
  return Advance();
}

Status TlsEngine::Advance() {
  ERR_clear_error();
  if (!handshake_done_) {
    int rv = SSL_do_handshake(ssl_);
    if (rv != 1) {
      int err = SSL_get_error(ssl_, rv);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok();
      return Fail("handshake failed");
    }
    handshake_done_ = true;
    if (!pending_plain_.empty()) {
      std::string held = std::move(pending_plain_);
      pending_plain_.clear();
      Status s = WriteNow(held);
      if (!s.ok()) return s;
    }
  }
  char buf[16 * 1024];  // one TLS record's worth of plaintext
  for (;;) {
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      plain_in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok();
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return Status::Ok();
    }
    return Fail("read failed");
  }
}

Status TlsEngine::WritePlain(std::string_view plain) {
  if (failed_) return Status::IoError(error_);
  if (!handshake_done_) {
    pending_plain_.append(plain);
    return Start();
  }
  return WriteNow(plain);
}

Status TlsEngine::WriteNow(std::string_view plain) {
  ERR_clear_error();
  while (!plain.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(plain.size(), INT_MAX / 2));
    int n = SSL_write(ssl_, plain.data(), chunk);
    if (n <= 0) return Fail("write failed");
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

bool TlsEngine::HasCiphertext() const { return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

std::string TlsEngine::TakeCiphertext() {
  BIO* wbio = SSL_get_wbio(ssl_);
  size_t pending = BIO_ctrl_pending(wbio);
  std::string out(pending, '\0');
  size_t got = 0;
  while (got < pending) {
    int n = BIO_read(wbio, out.data() + got, static_cast<int>(std::min<size_t>(pending - got, INT_MAX)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

void TlsEngine::Shutdown() {
  if (failed_ || !handshake_done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; the peer's reply is not awaited
  ERR_clear_error();
}

// ---- peer certificate -------------------------------------------------------------

bool TlsEngine::HasPeerCertificate() const { return SSL_get0_peer_certificate(ssl_) != nullptr; }

namespace {

template <typename Fn>
void ForEachSan(const SSL* ssl, Fn fn) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) fn(sk_GENERAL_NAME_value(names, i));
  GENERAL_NAMES_free(names);
}

}  // namespace

std::vector<std::string> TlsEngine::PeerSanIps() const {
  std::vector<std::string> out;
  ForEachSan(ssl_, [&](const GENERAL_NAME* n) {
    if (n->type != GEN_IPADD) return;
    const ASN1_OCTET_STRING* ip = n->d.iPAddress;
    char text[INET6_ADDRSTRLEN] = {0};
    int len = ASN1_STRING_length(ip);
    int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
    if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof(text)) != nullptr) {
      out.emplace_back(text);
    }
  });
  return out;
}

std::vector<std::string> TlsEngine::PeerSanDns() const {
  std::vector<std::string> out;
  ForEachSan(ssl_, [&](const GENERAL_NAME* n) {
    if (n->type == GEN_DNS) out.push_back(Asn1Text(n->d.dNSName));
  });
  return out;
}

std::string TlsEngine::PeerCommonName() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return {};
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  if (len < 0) return {};
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

std::string TlsEngine::Version() const { return SSL_get_version(ssl_); }

std::string TlsEngine::Cipher() const {
  const char* name = SSL_get_cipher_name(ssl_);
  return name != nullptr ? name : "";
}

}  // namespace lockq::net
