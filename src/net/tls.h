#pragma once
// TLS on OpenSSL 3, byte-oriented: no sockets, no event loop. A TlsEngine
// is one connection's TLS state between two memory BIOs: the owner feeds it
// the bytes read from the socket (ciphertext), writes plaintext into it,
// and sends whatever TakeCiphertext returns. So the same engine serves
// net::StreamConnection (libuv, the client ports), liblockq's blocking
// sockets and the raft peer links (a node pumping a socketpair through it).
//
// TlsContext holds the certificate, key and trust anchors of one side
// (server or client), TLS 1.2 minimum. Certificate files are re-read for
// new connections when their mtime, size or inode changed (rotation needs
// no restart, as etcd does since 3.2); connections already open keep the
// context they started with. A failed reload keeps the previous context
// and is reported once per change of the files (TlsContextConfig::on_error).
//
// Threads: a TlsContext may be shared by threads (NewSsl is locked). A
// TlsEngine belongs to one thread at a time. OpenSSL's error queue is per
// thread; every call here clears it first.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct ssl_st;
struct ssl_ctx_st;

namespace lockq::net {

struct TlsContextConfig {
  // How a peer's certificate is checked. Server: kRequired asks for one and
  // fails the handshake without it (mTLS, Redis's `tls-auth-clients yes`),
  // kOptional asks and verifies one if sent, kNone does not ask. Client:
  // kRequired verifies the server's chain against ca_file (the system's
  // trust store when empty) and its name (TlsEngine::NewClient); kNone
  // accepts any certificate (tests, --insecure).
  enum class Verify { kNone, kOptional, kRequired };

  std::string cert_file;  // PEM chain; optional on a client (no client certificate)
  std::string key_file;   // PEM private key for cert_file
  std::string ca_file;    // PEM trust anchors; a server that verifies needs it or ca_dir
  Verify verify = Verify::kRequired;
  bool server = true;
  // Reports a failed reload (the old context stays in use), once per change
  // of the files. Called on the thread that opens a connection.
  std::function<void(const std::string&)> on_error;
  // Lockqd's client ports (Redis's tls-* options); kept last so that
  // positional initializers above stay valid.
  std::string ca_dir;     // trust anchors as a hashed directory (`openssl rehash`); optional
  // Passphrase of an encrypted key_file; empty: the key must be clear (an
  // encrypted one then fails to load; never a terminal prompt).
  std::string key_password;
  // Redis's tls-protocols: "TLSv1.2 TLSv1.3" (any case, space separated);
  // empty: both. Older versions are refused (TLS 1.2 minimum).
  std::string protocols;
  std::string ciphers;       // TLS 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default
  std::string ciphersuites;  // TLS 1.3 suites ("TLS_AES_256_GCM_SHA384:..."); empty: default
};

class TlsContext {
 public:
  // Reads the files. Errors name the file and carry OpenSSL's reason.
  static Result<std::shared_ptr<TlsContext>> Load(const TlsContextConfig& config);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsContextConfig& config() const { return config_; }
  // Successful reloads since Load (for logs and tests).
  uint64_t reloads() const;
  // A new SSL object for one connection on the newest good context
  // (reloading first if the files changed). Null only if OpenSSL is out of
  // memory. Used by TlsEngine.
  ssl_st* NewSsl();

 private:
  struct FileStamp {
    bool operator==(const FileStamp&) const = default;
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
  };
  explicit TlsContext(TlsContextConfig config) : config_(std::move(config)) {}
  std::vector<FileStamp> StampFiles() const;
  void MaybeReload();  // with mu_ held

  TlsContextConfig config_;
  mutable std::mutex mu_;
  std::shared_ptr<ssl_ctx_st> ctx_;          // guarded by mu_
  std::vector<FileStamp> loaded_stamps_;     // what ctx_ was built from
  std::vector<FileStamp> failed_stamps_;     // last reload that failed (logged once)
  uint64_t reloads_ = 0;
};

// Builds a fresh SSL_CTX from `config` (what Load and reloads use). Errors
// name the file or setting at fault.
Result<std::shared_ptr<ssl_ctx_st>> BuildSslContext(const TlsContextConfig& config);

class TlsEngine {
 public:
  // Accepts one connection (server side).
  static std::unique_ptr<TlsEngine> NewServer(const std::shared_ptr<TlsContext>& ctx);
  // Connects to `server_name`: an IP literal is matched against the
  // certificate's IP SANs, a host name against its DNS SANs (and sent as
  // SNI). Empty: no name check (the chain is still verified).
  static Result<std::unique_ptr<TlsEngine>> NewClient(const std::shared_ptr<TlsContext>& ctx,
                                                      const std::string& server_name);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Bytes from the socket. Advances the handshake, decrypts what it can
  // into plain_in() and queues what must be sent back (TakeCiphertext).
  // A fatal error (bad handshake, bad record, refused certificate) returns
  // a Status carrying OpenSSL's reason; the connection is then dead, but
  // TakeCiphertext may still hold an alert worth sending before closing.
  Status FeedCiphertext(std::string_view in);
  // Encrypts `plain`. Before the handshake completes the bytes are held
  // and sent once it does. A client starts its handshake here or in Start.
  Status WritePlain(std::string_view plain);
  // A client's first flight (ClientHello) into the ciphertext queue. A no-op
  // for a server or once started.
  Status Start();
  // What must go to the socket now, in order. Empty when nothing is owed.
  std::string TakeCiphertext();
  bool HasCiphertext() const;
  // Decrypted bytes not taken yet; the owner consumes and erases them.
  std::string& plain_in() { return plain_in_; }
  // Queues close_notify (TakeCiphertext then holds it).
  void Shutdown();

  bool handshake_done() const { return handshake_done_; }
  // The peer sent close_notify: no more plaintext will come.
  bool peer_closed() const { return peer_closed_; }
  // After a failure: the reason (also returned by the failing call).
  const std::string& error() const { return error_; }

  // ---- after the handshake -------------------------------------------------
  bool HasPeerCertificate() const;
  std::vector<std::string> PeerSanIps() const;  // "127.0.0.1", "::1"
  std::vector<std::string> PeerSanDns() const;
  std::string PeerCommonName() const;
  std::string Version() const;  // "TLSv1.3"
  std::string Cipher() const;

 private:
  TlsEngine(ssl_st* ssl, bool server);
  Status Fail(const std::string& what);
  Status Advance();          // handshake, then reads until WANT_READ
  Status WriteNow(std::string_view plain);

  ssl_st* ssl_;
  bool server_;
  bool started_ = false;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool failed_ = false;
  std::string error_;
  std::string plain_in_;
  std::string pending_plain_;  // written before the handshake completed
};

}  // namespace lockq::net
