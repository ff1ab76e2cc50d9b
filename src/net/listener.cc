#include "net/listener.h"

#include "net/host_port.h"

namespace lockq::net {

Listener::Listener(uv_loop_t* loop, Options options, ConnCb on_accept, ConnCb on_reject)
    : loop_(loop),
      options_(std::move(options)),
      on_accept_(std::move(on_accept)),
      on_reject_(std::move(on_reject)),
      flush_(loop) {}

Listener::~Listener() = default;

Status Listener::Listen(std::string* addr) {
  *addr = JoinHostPort(options_.bind, options_.port);
  sockaddr_storage sa;
  if (!ParseHostPort(*addr, &sa)) return Status::InvalidArgument("bad --bind or port: " + *addr);
  handle_ = new uv_tcp_t;
  uv_tcp_init(loop_, handle_);
  handle_->data = this;
  int rv = uv_tcp_bind(handle_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rv == 0) rv = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), 511, &Listener::AcceptCb);
  if (rv != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    handle_ = nullptr;
    return Status::IoError("listen on " + *addr + ": " + uv_strerror(rv));
  }
  flush_.Start();
  return Status::Ok();
}

void Listener::Close() {
  flush_.Close();
  if (handle_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  handle_ = nullptr;
}

Result<std::shared_ptr<StreamConnection>> Listener::Adopt(uv_os_sock_t fd) {
  // The listener may be off (--resp-port 0 beside --tls-port): its flush
  // queue still writes adopted connections' answers.
  flush_.Start();
  auto conn = std::make_shared<StreamConnection>(loop_, &flush_, options_.conn);
  Status s = conn->Open(fd);
  if (!s.ok()) {
    conn->Discard();
    return s;
  }
  return conn;
}

void Listener::AcceptCb(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  if (status != 0) return;
  auto conn = std::make_shared<StreamConnection>(self->loop_, &self->flush_, self->options_.conn);
  if (uv_accept(server, conn->stream()) != 0) {
    conn->Discard();
    return;
  }
  uv_tcp_nodelay(conn->tcp(), 1);
  if (*self->open_ >= self->options_.max_clients) {
    if (self->on_reject_) self->on_reject_(std::move(conn));
    else conn->Discard();
    return;
  }
  ++*self->open_;
  conn->set_close_hook([open = self->open_] { --*open; });
  self->on_accept_(std::move(conn));
}

}  // namespace lockq::net
