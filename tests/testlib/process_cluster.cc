#include "testlib/process_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace lockq::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kPortLow = 20000;   // below Linux's default ephemeral range (32768+)
constexpr int kPortHigh = 32000;
constexpr int kStartAttempts = 3;
constexpr Millis kPoll(50);

std::set<int>& UsedPorts() {
  static std::set<int> used;
  return used;
}

// True if nothing listens on or is bound to 127.0.0.1:port (no SO_REUSEADDR,
// so a port in TIME_WAIT or held by any socket counts as busy).
bool PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

int PickPort() {
  static std::mt19937 rng(static_cast<uint32_t>(getpid()) * 2654435761u ^
                          static_cast<uint32_t>(Clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> dist(kPortLow, kPortHigh - 1);
  for (int attempt = 0; attempt < 1000; attempt++) {
    int p = dist(rng);
    if (UsedPorts().count(p) != 0) continue;
    if (!PortFree(p)) continue;
    UsedPorts().insert(p);
    return p;
  }
  return 0;
}

std::string MakeTempRoot() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  std::string templ = base + "/lockq-it-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return std::string(buf.data());
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
           ")";
  }
  return "status " + std::to_string(status);
}

}  // namespace

std::string LockqdPath() {
  if (const char* p = std::getenv("LOCKQD"); p != nullptr && *p != '\0') return p;
  return std::string(LOCKQ_BINARY_DIR) + "/src/server/lockqd";
}

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// --- LockqProcess ------------------------------------------------------------

LockqProcess::LockqProcess(int node_id, std::string data_dir, std::string log_path, int resp_port, int raft_port)
    : node_id_(node_id),
      data_dir_(std::move(data_dir)),
      log_path_(std::move(log_path)),
      resp_port_(resp_port),
      raft_port_(raft_port) {}

LockqProcess::~LockqProcess() { Kill9(); }

Status LockqProcess::Spawn(const std::vector<std::string>& args) {
  if (pid_ > 0 && Running()) return Status::InvalidArgument("node already running");
  std::string bin = LockqdPath();
  if (::access(bin.c_str(), X_OK) != 0) return Status::NotFound("lockqd not found at " + bin);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::IoError("open " + log_path_ + ": " + std::strerror(errno));
  {
    std::string banner = "=== harness: starting node " + std::to_string(node_id_) + ":";
    for (const auto& a : args) banner += " " + a;
    banner += "\n";
    ssize_t ignored = ::write(log_fd, banner.data(), banner.size());
    (void)ignored;
  }
  // Everything the child needs is prepared before fork (only async-signal-
  // safe calls after it).
  std::vector<std::string> full;
  full.push_back(bin);
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : full) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  expect_exit_ = false;
  unexpected_exit_.reset();
  return Status::Ok();
}

void LockqProcess::Reap(int status) {
  if (!expect_exit_) {
    unexpected_exit_ = "node " + std::to_string(node_id_) + " (pid " + std::to_string(pid_) + ") " +
                       DescribeStatus(status) + " unexpectedly";
  }
  pid_ = -1;
}

bool LockqProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reap(status);
    return false;
  }
  return true;
}

void LockqProcess::Kill9() {
  if (pid_ <= 0) return;
  expect_exit_ = true;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Status LockqProcess::Stop(Millis timeout) {
  if (pid_ <= 0) return Status::Ok();
  expect_exit_ = true;
  pid_t pid = pid_;
  ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (Clock::now() < deadline) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      pid_ = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
      return Status::Internal("node " + std::to_string(node_id_) + " after SIGTERM " + DescribeStatus(status));
    }
    std::this_thread::sleep_for(Millis(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  pid_ = -1;
  return Status::Internal("node " + std::to_string(node_id_) + " did not exit within " +
                          std::to_string(timeout.count()) + " ms of SIGTERM; SIGKILLed");
}

std::string LockqProcess::LogTail(size_t max_bytes) const {
  std::ifstream f(log_path_, std::ios::binary);
  if (!f) return "(no log at " + log_path_ + ")";
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - static_cast<std::streamoff>(max_bytes) : 0;
  f.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

namespace {

size_t ProcStatusKb(pid_t pid, const std::string& field) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream in(line.substr(field.size() + 1));
      size_t kb = 0;
      in >> kb;
      return kb;
    }
  }
  return 0;
}

}  // namespace

size_t LockqProcess::RssBytes() const { return ProcStatusKb(pid_, "VmRSS") * 1024; }

size_t LockqProcess::PeakRssBytes() const { return ProcStatusKb(pid_, "VmHWM") * 1024; }

// --- helpers -----------------------------------------------------------------

std::map<std::string, sm::Reply> ReplyToFieldMap(const sm::Reply& r) {
  std::map<std::string, sm::Reply> m;
  if (r.kind != sm::Reply::Kind::kMap && r.kind != sm::Reply::Kind::kArray) return m;
  for (size_t i = 0; i + 1 < r.elems.size(); i += 2) m[r.elems[i].str] = r.elems[i + 1];
  return m;
}

std::map<std::string, std::string> ParseInfo(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    m[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return m;
}

int64_t FieldInt(const std::map<std::string, sm::Reply>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return -1;
  if (it->second.kind == sm::Reply::Kind::kInt) return it->second.integer;
  try {
    return std::stoll(it->second.str);
  } catch (...) {
    return -1;
  }
}

int64_t InfoInt(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return -1;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return -1;
  }
}

bool IsTryAgain(const sm::Reply& r) { return r.is_error() && r.str.rfind("TRYAGAIN", 0) == 0; }

Result<sm::Reply> CallWithRetry(ProcessCluster& cluster, int i, client::RespConnection* conn, const sm::Argv& argv,
                                Millis timeout, int* attempts) {
  auto deadline = Clock::now() + timeout;
  Status last = Status::Unavailable("no attempt made");
  sm::Reply last_reply;
  bool have_reply = false;
  for (int n = 1; n <= 100000 && Clock::now() < deadline; n++) {
    if (attempts != nullptr) *attempts = n;
    if (!conn->connected()) {
      auto c = cluster.Client(i, Millis(1000));
      if (!c.ok()) {
        last = c.status();
        std::this_thread::sleep_for(Millis(20));
        continue;
      }
      *conn = std::move(c.value());
      conn->set_timeout(Millis(5000));
    }
    auto r = conn->Call(argv);
    if (!r.ok()) {
      last = r.status();
      conn->Close();
      std::this_thread::sleep_for(Millis(20));
      continue;
    }
    if (IsTryAgain(r.value())) {
      last_reply = r.value();
      have_reply = true;
      std::this_thread::sleep_for(Millis(20));
      continue;
    }
    return r;
  }
  if (have_reply) return Status::Unavailable("still TRYAGAIN after retries: " + last_reply.str);
  return Status::Unavailable("gave up: " + last.ToString());
}

// --- ProcessCluster ------------------------------------------------------------

ProcessCluster::ProcessCluster(ClusterOptions options) : options_(std::move(options)) {
  root_ = MakeTempRoot();
}

ProcessCluster::~ProcessCluster() {
  CheckNoCrashes();
  KillAll();
  bool failed = ::testing::Test::HasFailure();
  if (failed) {
    DumpLogs();
    std::cerr << "[process_cluster] test failed; node data and logs kept in " << root_ << "\n";
  } else if (!root_.empty()) {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
}

void ProcessCluster::KillAll() {
  for (auto& n : nodes_) n->Kill9();
}

std::vector<std::string> ProcessCluster::ArgsFor(int i) const {
  const LockqProcess& n = *nodes_[i];
  std::vector<std::string> args = {"--data-dir",
                                   n.data_dir(),
                                   "--resp-port",
                                   std::to_string(n.resp_port()),
                                   "--raft-addr",
                                   n.raft_addr(),
                                   "--node-id",
                                   std::to_string(n.node_id()),
                                   "--amqp-port",
                                   "0",
                                   "--http-port",
                                   "0",
                                   "--election-timeout-ms",
                                   std::to_string(options_.election_timeout_ms),
                                   "--heartbeat-timeout-ms",
                                   std::to_string(options_.heartbeat_timeout_ms),
                                   "--log-level",
                                   options_.log_level};
  if (i >= options_.nodes) {
    args.push_back("--join");  // started later, waits for LOCKQ.CLUSTER ADD
  } else if (options_.nodes > 1) {
    std::string spec;
    for (int j = 0; j < options_.nodes; j++) {
      if (!spec.empty()) spec += ",";
      spec += std::to_string(nodes_[j]->node_id()) + "=" + nodes_[j]->raft_addr();
    }
    args.push_back("--initial-cluster");
    args.push_back(spec);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  return args;
}

Status ProcessCluster::StartOnce() {
  nodes_.clear();
  for (int i = 0; i < options_.nodes; i++) {
    int resp = PickPort(), raft = PickPort();
    if (resp == 0 || raft == 0) return Status::Unavailable("no free port found");
    std::string dir = root_ + "/node" + std::to_string(i + 1);
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) return Status::IoError("mkdir " + dir + ": " + ec.message());
    nodes_.push_back(std::make_unique<LockqProcess>(i + 1, dir, root_ + "/node" + std::to_string(i + 1) + ".log",
                                                   resp, raft));
  }
  for (int i = 0; i < size(); i++) {
    Status s = nodes_[i]->Spawn(ArgsFor(i));
    if (!s.ok()) return s;
  }
  auto deadline = Clock::now() + options_.ready_timeout;
  for (int i = 0; i < size(); i++) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    Status s = WaitReady(i, /*want_leader=*/true, std::max(left, Millis(1)));
    if (!s.ok()) return s;
  }
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return WaitAgreedLeader(std::max(left, Millis(1)));
}

Result<int> ProcessCluster::StartJoiner() {
  int resp = PickPort(), raft = PickPort();
  if (resp == 0 || raft == 0) return Status::Unavailable("no free port found");
  int i = size();
  std::string dir = root_ + "/node" + std::to_string(i + 1);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("mkdir " + dir + ": " + ec.message());
  nodes_.push_back(std::make_unique<LockqProcess>(i + 1, dir, root_ + "/node" + std::to_string(i + 1) + ".log",
                                                 resp, raft));
  Status s = nodes_[i]->Spawn(ArgsFor(i));
  if (!s.ok()) return s;
  s = WaitReady(i, /*want_leader=*/false, options_.ready_timeout);
  if (!s.ok()) return s;
  return i;
}

Status ProcessCluster::Start() {
  if (root_.empty()) return Status::IoError("cannot create a temporary directory");
  Status s;
  for (int attempt = 1; attempt <= kStartAttempts; attempt++) {
    s = StartOnce();
    if (s.ok()) return s;
    bool someone_died = false;
    for (auto& n : nodes_) {
      if (!n->Running()) someone_died = true;
    }
    std::cerr << "[process_cluster] start attempt " << attempt << " failed: " << s.ToString() << "\n";
    if (!someone_died) break;  // not a port clash: do not hide it behind retries
    DumpLogs(4096);
    for (auto& n : nodes_) n->Kill9();  // marks the exits as expected
  }
  return s;
}

void ProcessCluster::Kill9(int i) { nodes_.at(i)->Kill9(); }

Status ProcessCluster::Stop(int i, Millis timeout) { return nodes_.at(i)->Stop(timeout); }

Status ProcessCluster::Restart(int i, bool wait_leader) {
  LockqProcess& n = *nodes_.at(i);
  if (n.Running()) {
    Status s = n.Stop();
    if (!s.ok()) return s;
  }
  Status s = n.Spawn(ArgsFor(i));
  if (!s.ok()) return s;
  return WaitReady(i, wait_leader, options_.ready_timeout);
}

Result<client::RespConnection> ProcessCluster::Client(int i, Millis timeout) {
  return client::RespConnection::Connect(RespAddr(i), timeout);
}

Result<std::map<std::string, std::string>> ProcessCluster::Info(int i, const std::string& section) {
  auto c = Client(i, Millis(2000));
  if (!c.ok()) return c.status();
  c->set_timeout(Millis(5000));
  auto r = c->Call({"INFO", section});
  if (!r.ok()) return r.status();
  if (r->kind != sm::Reply::Kind::kBulk && r->kind != sm::Reply::Kind::kVerbatim) {
    return Status::Corruption("INFO: unexpected reply " + sm::ToDebugString(r.value()));
  }
  return ParseInfo(r->str);
}

Result<std::map<std::string, sm::Reply>> ProcessCluster::ClusterStatus(int i) {
  auto c = Client(i, Millis(2000));
  if (!c.ok()) return c.status();
  c->set_timeout(Millis(5000));
  auto r = c->Call({"LOCKQ.CLUSTER", "STATUS"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return Status::Internal("LOCKQ.CLUSTER STATUS: " + r->str);
  return ReplyToFieldMap(r.value());
}

Status ProcessCluster::WaitReady(int i, bool want_leader, Millis timeout) {
  auto t0 = Clock::now();
  auto deadline = t0 + timeout;
  std::string last = "no attempt";
  for (int n = 0; n < 100000 && Clock::now() < deadline; n++) {
    if (!nodes_.at(i)->Running()) {
      return Status::Unavailable("node " + std::to_string(i + 1) + " is not running: " +
                                 nodes_[i]->unexpected_exit().value_or("exited"));
    }
    auto c = Client(i, Millis(500));
    if (!c.ok()) {
      last = c.status().ToString();
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    c->set_timeout(Millis(2000));
    auto r = c->Call({"PING"});
    if (!r.ok() || r->kind != sm::Reply::Kind::kStatus || r->str != "PONG") {
      last = r.ok() ? "PING -> " + sm::ToDebugString(r.value()) : r.status().ToString();
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    if (!want_leader) return Status::Ok();
    auto st = c->Call({"LOCKQ.CLUSTER", "STATUS"});
    if (st.ok() && !st->is_error()) {
      auto m = ReplyToFieldMap(st.value());
      auto addr = m.find("leader_resp_addr");
      if (FieldInt(m, "leader_id") > 0 && addr != m.end() && !addr->second.str.empty()) return Status::Ok();
      last = "status: " + sm::ToDebugString(st.value());
    } else {
      last = st.ok() ? sm::ToDebugString(st.value()) : st.status().ToString();
    }
    std::this_thread::sleep_for(kPoll);
  }
  return Status::Unavailable("node " + std::to_string(i + 1) + " not ready within " +
                             std::to_string(timeout.count()) + " ms; last: " + last);
}

Status ProcessCluster::WaitAgreedLeader(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last = "no attempt";
  for (int n = 0; n < 100000 && Clock::now() < deadline; n++) {
    std::set<int64_t> leaders;
    bool ok = true;
    for (int i = 0; i < size() && ok; i++) {
      if (!nodes_[i]->Running()) continue;
      auto st = ClusterStatus(i);
      if (!st.ok()) {
        ok = false;
        last = "node " + std::to_string(i + 1) + ": " + st.status().ToString();
        break;
      }
      int64_t leader = FieldInt(st.value(), "leader_id");
      auto addr = st->find("leader_resp_addr");
      if (leader <= 0 || addr == st->end() || addr->second.str.empty()) {
        ok = false;
        last = "node " + std::to_string(i + 1) + " knows no leader (address) yet";
        break;
      }
      leaders.insert(leader);
    }
    if (ok && leaders.size() == 1) return Status::Ok();
    if (ok) last = "nodes disagree on the leader";
    std::this_thread::sleep_for(kPoll);
  }
  return Status::Unavailable("no agreed leader within " + std::to_string(timeout.count()) + " ms; last: " + last);
}

int ProcessCluster::Leader(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (int n = 0; n < 100000; n++) {
    for (int i = 0; i < size(); i++) {
      if (!nodes_[i]->Running()) continue;
      auto info = Info(i, "replication");
      if (!info.ok()) continue;
      auto role = info->find("raft_role");
      if (role != info->end() && role->second == "leader" && InfoInt(info.value(), "leader_id") == nodes_[i]->node_id()) {
        return i;
      }
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPoll);
  }
  return -1;
}

Status ProcessCluster::WaitApplied(int i, uint64_t index, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  int64_t last = -1;
  for (int n = 0; n < 100000 && Clock::now() < deadline; n++) {
    auto st = ClusterStatus(i);
    if (st.ok()) {
      last = FieldInt(st.value(), "applied_index");
      if (last >= 0 && static_cast<uint64_t>(last) >= index) return Status::Ok();
    }
    std::this_thread::sleep_for(kPoll);
  }
  return Status::Unavailable("node " + std::to_string(i + 1) + " applied_index " + std::to_string(last) +
                             " did not reach " + std::to_string(index) + " within " +
                             std::to_string(timeout.count()) + " ms");
}

int ProcessCluster::CheckNoCrashes() {
  int crashes = 0;
  for (auto& n : nodes_) {
    n->Running();  // reaps a dead child
    if (auto why = n->TakeUnexpectedExit()) {
      ADD_FAILURE() << *why;
      crashes++;
    }
  }
  return crashes;
}

void ProcessCluster::DumpLogs(size_t max_bytes_per_node) const {
  for (const auto& n : nodes_) {
    std::cerr << "----- node " << n->node_id() << " log (" << n->log_path() << "), last " << max_bytes_per_node
              << " bytes -----\n"
              << n->LogTail(max_bytes_per_node) << "\n----- end of node " << n->node_id() << " log -----\n";
  }
}

}  // namespace lockq::testing
