#pragma once
// StreamConnection: one TCP connection, the transport every protocol front
// end sits on (RESP sessions, AMQP sessions; the forwarder's link next).
// It knows bytes, not requests: the session above it (StreamSession) turns
// buffered input into requests and hands back answers as bytes.
//
// What it owns, so that a fix to a bound or a deadline lands once:
//  - the socket and the loop's shared 64 KiB read slab;
//  - the input buffer, with compaction of consumed bytes;
//  - ordered output slots: ReserveSlot() when a request is read, Fill()
//    whenever its answer is known; answers leave in slot order however
//    they complete (a PING answered at once waits behind a SET still in
//    the log);
//  - pausing reads while `max_pending` slots are open, `pause_output_bytes`
//    are unsent or the session says so (StreamSession::PauseInput), and
//    resuming when that clears; past `max_output_bytes` unsent the peer is
//    disconnected (a client that never reads cannot grow our memory);
//  - close-after-write with a deadline (`close_timeout_ms`): once closing,
//    input is read and dropped (never buffered), so a peer cannot grow
//    memory after QUIT or a protocol error;
//  - an abortive close (RST, unsent bytes discarded);
//  - the uv_try_write fast path, and one flush per loop turn (FlushQueue).
//
// Byte-stream seam: the session sees only OnInput(bytes) and writes only
// through Fill/WriteNow. With Options::tls a TlsEngine (net/tls.h) sits
// between the socket and the session: ciphertext is read and written here,
// the session sees plaintext and never knows. A handshake that fails
// (plain text on a TLS port, a refused certificate) or does not finish
// within tls_handshake_timeout_ms closes the connection, reported through
// Options::on_tls_error; the session only sees OnClosed.
//
// Lifetime: shared_ptr. The connection keeps itself alive from Start()
// until its handles finish closing; then it calls StreamSession::OnClosed
// (once) and forgets the session. The session must outlive the connection's
// open state (it is normally released from OnClosed). Thread: the loop.

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "net/tls.h"

namespace lockq::net {

// The protocol side of a connection.
class StreamSession {
 public:
  virtual ~StreamSession() = default;
  // `buffered` holds every received byte not consumed yet. Consume whole
  // requests; stop early when the connection says PauseReading() or
  // closing(). Returns how many bytes were consumed. Called when bytes
  // arrive and when a pause ends with input still buffered.
  virtual size_t OnInput(std::string_view buffered) = 0;
  // A protocol-specific reason to stop reading (AMQP: a blocked publisher).
  virtual bool PauseInput() const { return false; }
  // Past max_output_bytes: about to disconnect (for the log and stats).
  virtual void OnOutputLimit() {}
  // The socket is closed; called once, from the close callback.
  virtual void OnClosed() = 0;
};

// What a slot carries. Usually bytes. A slot may instead carry a mark
// (`mark` != 0, no bytes): runs of adjacent marks with the same
// `mark_key` are rendered together by Options::render_marks (AMQP merges
// publisher confirms into one basic.ack multiple=true).
struct Output {
  Output(std::string b = {}) : bytes(std::move(b)) {}  // NOLINT: implicit on purpose
  std::string bytes;
  uint32_t mark_key = 0;
  uint64_t mark = 0;
  size_t mark_bytes = 0;  // what a mark counts toward the unsent bytes
};

class FlushQueue;

class StreamConnection : public std::enable_shared_from_this<StreamConnection> {
 public:
  struct Options {
    size_t max_pending = std::numeric_limits<size_t>::max();
    size_t pause_output_bytes = std::numeric_limits<size_t>::max();
    size_t max_output_bytes = std::numeric_limits<size_t>::max();
    uint64_t close_timeout_ms = 5000;  // close-after-write gives up after this (loop time)
    // A read or write error, or the peer's EOF, ends the connection with
    // Abort() instead of CloseNow(): nothing still queued may reach the
    // peer later (the forwarder's link to the leader).
    bool abort_on_error = false;
    // Stamps last_read_ms/last_write_ms (its monotonic clock; not owned).
    const Clock* clock = &SystemClock();
    // Renders a run of `count` marks on `key` ending with `last` into `out`.
    std::function<void(uint32_t key, uint64_t last, size_t count, std::string* out)> render_marks;
    // TLS (net/tls.h): a server context for accepted connections, a client
    // context (checking tls_server_name) for outgoing ones. Null: plain TCP.
    std::shared_ptr<TlsContext> tls;
    std::string tls_server_name;
    uint64_t tls_handshake_timeout_ms = 10000;  // loop time; then closed
    // Why a TLS connection ended (handshake refused, plain text on a TLS
    // port, a bad record, the handshake deadline): for the log. `peer` is
    // PeerName(). Called on the loop, before the close begins.
    std::function<void(const std::string& peer, const std::string& error)> on_tls_error;
  };
  // How CloseAfterWrite ends once everything is written.
  enum class CloseMode {
    kWhenWritten,  // shut down the write side, then close
    kWaitForPeer,  // shut down the write side, then wait for the peer's EOF
                   // (AMQP after close-ok: the client closes first)
  };

  // Initializes the socket on `loop`; `flush` (not owned, outlives us)
  // writes filled slots once per loop turn; null writes them as they fill
  // (a link that only uses WriteNow, like the forwarder's).
  StreamConnection(uv_loop_t* loop, FlushQueue* flush, Options options);
  ~StreamConnection();
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }
  // Adopts an already connected socket (a peer link after its handshake,
  // net/peer_link.h) instead of accepting or connecting one. Closes `fd`
  // on failure.
  Status Open(uv_os_sock_t fd);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  // Starts reading for `session` (not owned). Call once, after accept,
  // connect or uv_tcp_open.
  void Start(StreamSession* session);
  // Closes a socket that was never started (a failed accept).
  void Discard();
  // Runs once the handles are closed, after StreamSession::OnClosed (the
  // listener counts its open connections with it).
  void set_close_hook(std::function<void()> hook) { close_hook_ = std::move(hook); }
  // "ip:port" of the peer, "" when unknown.
  std::string PeerName();
  // The TLS state (peer certificate, version), null on plain TCP.
  const TlsEngine* tls() const { return tls_.get(); }

  // ---- output --------------------------------------------------------------
  uint64_t ReserveSlot();
  // Fills `slot` exactly once; ignored once closing or for an unknown slot.
  void Fill(uint64_t slot, Output out);
  // Writes `bytes` now, ahead of slots not yet flushed (a heartbeat).
  void WriteNow(std::string bytes);
  // Writes ready slots in order; the FlushQueue calls it once per turn.
  void FlushOutput();
  size_t pending_slots() const { return slots_.size(); }
  size_t unsent_bytes() const { return unsent_bytes_; }

  // ---- input ---------------------------------------------------------------
  // Received bytes the session has not consumed yet.
  size_t buffered_input_bytes() const { return inbuf_.size() - inbuf_pos_; }
  // True while no more requests should be read (see the bounds above).
  bool PauseReading() const;
  // Re-evaluates PauseReading and parses buffered input if it cleared
  // (the session's extra condition changed).
  void Resume();

  // ---- closing -------------------------------------------------------------
  // Writes every slot once filled, then closes as `mode` says; gives up and
  // closes at close_timeout_ms. Input from now on is dropped. On TLS before
  // the handshake finished it closes at once (nothing could be delivered).
  void CloseAfterWrite(CloseMode mode = CloseMode::kWhenWritten);
  // Closes at once; queued writes are flushed by the kernel as usual.
  void CloseNow();
  // Abortive close: RST, unsent bytes discarded (nothing sent on it may
  // reach the peer later).
  void Abort();
  // CloseAfterWrite or a close began: no more requests.
  bool closing() const { return closing_ || close_after_write_; }
  bool closed() const { return closed_; }

  // Options::clock's MonotonicMs of the last bytes read and written.
  uint64_t last_read_ms() const { return last_read_ms_; }
  uint64_t last_write_ms() const { return last_write_ms_; }

 private:
  struct Slot {
    bool ready = false;
    Output out;
    size_t counted_bytes = 0;  // what Fill added to unsent_bytes_
  };
  struct WriteReq;
  static void ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;
  static void WriteCb(uv_write_t* req, int status) noexcept;
  static void CloseCb(uv_handle_t* h) noexcept;
  static void DeadlineCb(uv_timer_t* t) noexcept;
  void MarkDirty();
  void Write(std::string bytes, size_t counted_bytes);  // encrypts with TLS
  void RawWrite(std::string bytes, size_t counted_bytes);
  void ReadTls(std::string_view ciphertext);
  void SendCiphertext();
  void TlsFailed(const std::string& error);
  void ArmDeadline(uint64_t ms);
  void ProcessInput();
  void UpdateReading();
  void Shutdown();
  void BeginClose(bool reset);

  uv_loop_t* loop_;
  FlushQueue* flush_;
  Options options_;
  uv_tcp_t tcp_ {};
  uv_timer_t deadline_ {};
  bool deadline_armed_ = false;
  StreamSession* session_ = nullptr;
  std::unique_ptr<TlsEngine> tls_;
  std::function<void()> close_hook_;
  std::string inbuf_;
  size_t inbuf_pos_ = 0;
  std::deque<Slot> slots_;
  uint64_t first_slot_ = 0;  // sequence number of slots_.front()
  size_t unsent_bytes_ = 0;  // filled but not written, plus being written
  bool started_ = false;
  bool reading_ = false;
  bool dirty_ = false;
  bool close_after_write_ = false;
  CloseMode close_mode_ = CloseMode::kWhenWritten;
  bool shut_down_ = false;  // uv_shutdown issued
  bool closing_ = false;    // uv_close issued
  bool closed_ = false;
  int handles_open_ = 1;    // tcp_, plus deadline_ once armed
  uint64_t last_read_ms_ = 0;
  uint64_t last_write_ms_ = 0;
  std::shared_ptr<StreamConnection> self_ref_;  // alive until the handles are closed
};

// The per-loop-turn flush: connections with newly filled slots register
// here, and a uv_check handle writes them all once per turn (so replies
// completed together leave in one write). Thread: the loop.
class FlushQueue {
 public:
  explicit FlushQueue(uv_loop_t* loop) : loop_(loop) {}
  ~FlushQueue();
  FlushQueue(const FlushQueue&) = delete;
  FlushQueue& operator=(const FlushQueue&) = delete;

  // Starts the check handle. Check handles run latest-started first; the
  // front ends start theirs when they listen, after Core's, as before.
  void Start();
  // Runs before the dirty connections are flushed, every turn.
  void set_before_flush(std::function<void()> fn) { before_flush_ = std::move(fn); }
  void Add(std::weak_ptr<StreamConnection> conn) { dirty_.push_back(std::move(conn)); }
  // Flushes what is dirty now (the check callback; tests call it too).
  void FlushAll();
  // Stops and closes the check handle; let the loop turn once before
  // destroying the queue (the destructor only calls Close).
  void Close();

 private:
  uv_loop_t* loop_;
  uv_check_t check_ {};
  bool started_ = false;
  std::function<void()> before_flush_;
  std::vector<std::weak_ptr<StreamConnection>> dirty_;
};

}  // namespace lockq::net
