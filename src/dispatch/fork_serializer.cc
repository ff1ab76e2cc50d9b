#include "dispatch/fork_serializer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
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

// Reads n bytes from offset 0 of a file; returns how many there were.
size_t PreadFull(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, p + got, std::min(n - got, kReadChunkBytes), static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
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

// Closes every descriptor but stdio, `a` and `b`.
void CloseAllBut(int a, int b) {
  int lo = std::min(a, b), hi = std::max(a, b);
  if (lo > 3) close_range(3, lo - 1, 0);
  if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
  close_range(hi + 1, ~0U, 0);
}

// Child side: never returns. Writes the bytes to data_fd (a memfd), then
// their length (u64 little endian) to done_fd; exit status 0 only when
// every byte was written.
[[noreturn]] void RunChild(int done_fd, int data_fd, pid_t parent, const std::function<std::string()>& produce) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);  // the parent died before prctl
  // Drop the parent's sockets at once: a socket the parent closes (an
  // aborted forwarding link, whose RST must go out now, docs/architecture.md
  // "Forwarded commands") must not stay open here for the whole snapshot.
  CloseAllBut(done_fd, data_fd);
  // Background work: on a busy machine the loops it forked from (this
  // node's, and its peers' on a shared host) go first.
  (void)setpriority(PRIO_PROCESS, 0, kChildNice);
  std::string bytes;
  try {
    bytes = produce();
  } catch (...) {
    _exit(2);
  }
  uint64_t len = bytes.size();
  char header[8];
  for (int i = 0; i < 8; i++) header[i] = static_cast<char>(len >> (8 * i));
  if (!WriteAll(data_fd, bytes.data(), bytes.size()) || !WriteAll(done_fd, header, sizeof header)) {
    _exit(1);  // out of memory for the memfd, or the reader is gone
  }
  _exit(0);
}

// Parent side: the child, its memfd and the read end of its pipe,
// released when the last copy of the returned function goes (read or not).
class Child {
 public:
  Child(int done_fd, int data_fd, pid_t pid) : done_fd_(done_fd), data_fd_(data_fd), pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (done_fd_ >= 0) close(done_fd_);
    if (data_fd_ >= 0) close(data_fd_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Reap();
    }
  }

  // Sleeps until the child is done, then copies its bytes out of the
  // memfd. Nothing of this process runs meanwhile: the parent's loop,
  // taking copy-on-write faults on the pages it writes, then flushes only
  // its own CPU's TLB, not also the CPU a reader thread would be on (in a
  // VM those cross-CPU flushes made most of the fault's cost).
  std::string ReadAll() {
    char header[8];
    uint64_t len = 0;
    bool whole = ReadFull(done_fd_, header, sizeof header) == sizeof header;
    for (int i = 0; i < 8; i++) len |= static_cast<uint64_t>(static_cast<unsigned char>(header[i])) << (8 * i);
    int status = Reap();
    std::string out;
    if (whole && len <= kMaxSnapshotBytes && (status == -1 || (WIFEXITED(status) && WEXITSTATUS(status) == 0))) {
      out.resize(len);
      whole = PreadFull(data_fd_, out.data(), len) == len;
    } else {
      whole = false;
    }
    close(done_fd_);
    close(data_fd_);
    done_fd_ = data_fd_ = -1;
    if (!whole) throw std::runtime_error("snapshot child failed, status " + std::to_string(status));
    return out;
  }

 private:
  // The child's wait status, or -1 if it cannot be known (SIGCHLD ignored:
  // the kernel reaped it; the length it wrote last still tells a whole snapshot).
  int Reap() {
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return r < 0 ? -1 : status;
  }

  int done_fd_;
  int data_fd_;
  pid_t pid_;
};

}  // namespace

std::function<std::string()> ForkSerializer(const std::function<std::string()>& produce) {
  int data_fd = memfd_create("lockq-snapshot", MFD_CLOEXEC);
  if (data_fd < 0) return nullptr;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    close(data_fd);
    return nullptr;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    close(data_fd);
    return nullptr;
  }
  if (pid == 0) {
    close(fds[0]);
    RunChild(fds[1], data_fd, parent, produce);
  }
  close(fds[1]);
  auto child = std::make_shared<Child>(fds[0], data_fd, pid);
  return [child]() { return child->ReadAll(); };
}

}  // namespace lockq::dispatch
