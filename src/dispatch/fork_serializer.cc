#include "dispatch/fork_serializer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <memory>
#include <stdexcept>

namespace lockq::dispatch {

namespace {

constexpr size_t kReadChunkBytes = 1 << 20;
constexpr int kPipeBytes = 1 << 20;  // fewer wake-ups than the default 64 KiB
constexpr int kChildNice = 10;

// Child side: never returns. Exit status 0 only when every byte was written.
[[noreturn]] void RunChild(int write_fd, pid_t parent, const std::function<std::string()>& produce) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);  // the parent died before prctl
  // Drop the parent's sockets at once: a socket the parent closes (an
  // aborted forwarding link, whose RST must go out now, docs/architecture.md
  // "Forwarded commands") must not stay open here for the whole snapshot.
  if (write_fd > 3) close_range(3, write_fd - 1, 0);
  close_range(write_fd + 1, ~0U, 0);
  // Background work: on a busy machine the loops it forked from (this
  // node's, and its peers' on a shared host) go first.
  (void)setpriority(PRIO_PROCESS, 0, kChildNice);
  std::string bytes;
  try {
    bytes = produce();
  } catch (...) {
    _exit(2);
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(write_fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(1);  // EPIPE: the reader is gone
    off += static_cast<size_t>(n);
  }
  _exit(0);
}

// Parent side: the read end and the child, released when the last copy of
// the returned function goes (read or not).
class Child {
 public:
  Child(int fd, pid_t pid) : fd_(fd), pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (fd_ >= 0) close(fd_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Reap();
    }
  }

  std::string ReadAll() {
    std::string out;
    for (;;) {
      size_t old = out.size();
      out.resize(old + kReadChunkBytes);
      ssize_t n = read(fd_, out.data() + old, kReadChunkBytes);
      if (n < 0 && errno == EINTR) {
        out.resize(old);
        continue;
      }
      out.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
      if (n == 0) break;
      if (n < 0) throw std::runtime_error("snapshot child: read failed");
    }
    close(fd_);
    fd_ = -1;
    int status = Reap();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("snapshot child failed, status " + std::to_string(status));
    }
    return out;
  }

 private:
  int Reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  int fd_;
  pid_t pid_;
};

}  // namespace

std::function<std::string()> ForkSerializer(const std::function<std::string()>& produce) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
  (void)fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);  // best effort
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return nullptr;
  }
  if (pid == 0) {
    close(fds[0]);
    RunChild(fds[1], parent, produce);
  }
  close(fds[1]);
  auto child = std::make_shared<Child>(fds[0], pid);
  return [child]() { return child->ReadAll(); };
}

}  // namespace lockq::dispatch
