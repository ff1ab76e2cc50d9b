// `lockq lock NAME -- COMMAND` (lock_run.h).
//
// Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGCHLD are blocked before
// the Client starts its threads, so only the main thread takes them, with
// sigtimedwait; the command gets them unblocked and at their defaults
// (posix_spawn attributes). The lock is held through a session of its own
// with --ttl: when lockq dies (kill -9), the cluster releases the lock once
// the session expires, without anyone's help.

#include "cli/lock_run.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

extern char** environ;

namespace lockq::cli {

namespace {

using std::chrono::milliseconds;

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
// How often the main thread looks at the child and the lost flag when no
// signal comes.
constexpr milliseconds kPoll{100};

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwarded) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  return set;
}

// Waits up to `timeout` for one of the handled signals; 0 when none came.
int WaitSignal(const sigset_t& set, milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1'000'000};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig < 0 ? 0 : sig;
}

int ExitCodeOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return kExitError;
}

// The caller's environment with the lock variables set (replaced if
// present); LOCKQ_GRANT only with --signed.
std::vector<std::string> CommandEnv(const std::string& name, uint64_t token, const std::string& grant) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; e++) {
    std::string_view kv(*e);
    if (kv.starts_with("LOCKQ_FENCING_TOKEN=") || kv.starts_with("LOCKQ_LOCK_NAME=") ||
        kv.starts_with("LOCKQ_GRANT=")) {
      continue;
    }
    env.emplace_back(kv);
  }
  env.push_back("LOCKQ_FENCING_TOKEN=" + std::to_string(token));
  env.push_back("LOCKQ_LOCK_NAME=" + name);
  if (!grant.empty()) env.push_back("LOCKQ_GRANT=" + grant);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts the command with the handled signals unblocked and at their
// default actions. Returns the pid, or -1 with *error set to the errno of
// the failed exec.
pid_t Spawn(std::vector<std::string> argv, std::vector<std::string> env, int* error) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults = HandledSignals();
  sigemptyset(&none);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  auto cargv = CStrings(argv);
  auto cenv = CStrings(env);
  *error = posix_spawnp(&pid, cargv[0], nullptr, &attr, cargv.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
  return *error == 0 ? pid : -1;
}

// A short "held by ..." for the not-acquired message (best effort).
std::string HolderHint(Client& client, const std::string& name) {
  auto r = client.Call({"LOCK.INFO", name}, CallOptions{.timeout = milliseconds(2000), .idempotent = true});
  if (!r.ok()) return "";
  auto info = ToJson(*r);
  std::string owners;
  for (const auto& h : info.value("holders", nlohmann::json::array())) {
    owners += (owners.empty() ? "" : ", ") + Cell(h.value("owner", nlohmann::json("")));
  }
  return owners.empty() ? "" : " (held by " + owners + ")";
}

// Waits for the grant in another thread so that the main thread keeps
// taking signals: a Ctrl-C while waiting closes the session (which ends the
// wait in the server and frees a grant that raced with it) and exits.
// Returns granted, or the error that stopped the wait.
Result<bool> AcquireInterruptibly(SharedMutex& lock, Session& session, const LockRunArgs& args,
                                  const sigset_t& signals) {
  std::mutex mu;
  std::optional<Result<bool>> result;
  std::thread waiter([&] {
    Result<bool> r = false;
    try {
      if (!args.wait) {
        args.shared ? lock.lock_shared() : lock.lock();
        r = true;
      } else {
        r = args.shared ? lock.try_lock_shared_for(*args.wait) : lock.try_lock_for(*args.wait);
      }
    } catch (const Error& e) {
      r = e.status();
    }
    std::lock_guard g(mu);
    result = std::move(r);
  });
  for (;;) {
    int sig = WaitSignal(signals, kPoll);
    {
      std::lock_guard g(mu);
      if (result) break;
    }
    if (sig != 0 && sig != SIGCHLD) {
      std::fprintf(stderr, "lockq: interrupted while waiting for lock '%s'\n", args.name.c_str());
      (void)session.Close();
      std::fflush(stderr);
      std::_Exit(128 + sig);  // the waiter thread may still be inside a call
    }
  }
  waiter.join();
  return std::move(*result);
}

// Runs the command until it exits; forwards signals; SIGTERMs it if the
// lock is lost. Returns its wait status.
int Supervise(pid_t pid, const sigset_t& signals, const std::atomic<bool>& lost, const LockRunArgs& args,
              uint64_t token) {
  bool told = false;
  for (;;) {
    int sig = WaitSignal(signals, kPoll);
    if (sig != 0 && sig != SIGCHLD) ::kill(pid, sig);
    if (lost.load() && !told) {
      told = true;
      std::fprintf(stderr,
                   "lockq: warning: lost lock '%s' (token %llu): its session ended or the cluster released it; "
                   "sending SIGTERM to the command\n",
                   args.name.c_str(), static_cast<unsigned long long>(token));
      ::kill(pid, SIGTERM);
    }
    int wstatus = 0;
    pid_t done = ::waitpid(pid, &wstatus, WNOHANG);
    if (done == pid) return wstatus;
    if (done < 0 && errno != EINTR) return kExitError << 8;  // reaped elsewhere: status unknown
  }
}

}  // namespace

int RunLocked(const Globals& g, const LockRunArgs& args) {
  sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto client = MakeClient(g);
  auto session = Session::Open(*client, args.ttl);
  if (!session.ok()) return Fail("cannot open a session: " + session.status().message());
  std::atomic<bool> lost{false};
  (*session)->OnLost([&lost] { lost = true; });
  LockOptions options{.session = *session, .owner = args.owner, .signed_grant = args.signed_grant,
                      .on_lost = [&lost](const std::string&, uint64_t) { lost = true; }};
  SharedMutex lock(*client, args.name, options);

  auto granted = AcquireInterruptibly(lock, **session, args, signals);
  if (!granted.ok()) return Fail("cannot lock '" + args.name + "': " + granted.status().message());
  if (!*granted) {
    std::string hint = HolderHint(*client, args.name);
    (void)(*session)->Close();
    if (args.wait && args.wait->count() == 0) return Fail("lock '" + args.name + "' is busy" + hint + "; not acquired (--wait 0)");
    return Fail("lock '" + args.name + "' not acquired within " + HumanMs(args.wait->count()) + hint);
  }

  uint64_t token = lock.fencing_token();
  int err = 0;
  pid_t pid = Spawn(args.command, CommandEnv(args.name, token, lock.grant()), &err);
  if (pid < 0) {
    args.shared ? lock.unlock_shared() : lock.unlock();
    (void)(*session)->Close();
    Fail("cannot run '" + args.command[0] + "': " + std::strerror(err));
    return err == ENOENT ? kExitNotFound : kExitCannotRun;
  }
  int wstatus = Supervise(pid, signals, lost, args, token);
  const bool was_lost = lost.load();  // closing our own session below runs OnLost too

  Status released = args.shared ? (lock.unlock_shared(), lock.last_error()) : (lock.unlock(), lock.last_error());
  Status closed = (*session)->Close();
  if (!was_lost && !released.ok()) Fail("warning: releasing '" + args.name + "': " + released.message() + " (the session end frees it)");
  if (!was_lost && !closed.ok()) Fail("warning: closing the session: " + closed.message() + " (it expires after --ttl)");
  int code = ExitCodeOf(wstatus);
  // A command that finished after the lock was lost ran partly unprotected:
  // never report that as success.
  return was_lost && code == 0 ? kExitError : code;
}

}  // namespace lockq::cli
