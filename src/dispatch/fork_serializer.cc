#include "dispatch/fork_serializer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>

namespace lockq::dispatch {

namespace {

constexpr size_t kReadChunkBytes = 1 << 20;
constexpr int kPipeBytes = 1 << 20;  // fewer wake-ups than the default 64 KiB
constexpr int kChildNice = 10;
// A length beyond this is a corrupt header, not a state machine.
constexpr uint64_t kMaxSnapshotBytes = uint64_t{1} << 40;

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes unless the writer closes first; returns how many.
size_t ReadFull(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, std::min(n - got, kReadChunkBytes));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

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
  // Length first: the reader sizes its buffer once and tells a complete
  // snapshot from a child that died half way without trusting exit codes.
  uint64_t len = bytes.size();
  char header[8];
  for (int i = 0; i < 8; i++) header[i] = static_cast<char>(len >> (8 * i));
  if (!WriteAll(write_fd, header, sizeof header) || !WriteAll(write_fd, bytes.data(), bytes.size())) {
    _exit(1);  // EPIPE: the reader is gone
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
    char header[8];
    uint64_t len = 0;
    bool whole = ReadFull(fd_, header, sizeof header) == sizeof header;
    for (int i = 0; i < 8; i++) len |= static_cast<uint64_t>(static_cast<unsigned char>(header[i])) << (8 * i);
    std::string out;
    if (whole && len <= kMaxSnapshotBytes) {
      out.resize(len);
      char extra;
      whole = ReadFull(fd_, out.data(), len) == len && ReadFull(fd_, &extra, 1) == 0;
    } else {
      whole = false;
    }
    close(fd_);
    fd_ = -1;
    if (!whole) kill(pid_, SIGKILL);
    int status = Reap();
    if (!whole || (status != -1 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))) {
      throw std::runtime_error("snapshot child failed, status " + std::to_string(status));
    }
    return out;
  }

 private:
  // The child's wait status, or -1 if it cannot be known (SIGCHLD ignored:
  // the kernel reaped it; the length framing still tells a whole snapshot).
  int Reap() {
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return r < 0 ? -1 : status;
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
