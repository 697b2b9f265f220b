// Real etcd processes for tests and benchmarks: a single member or a
// loopback cluster on free 127.0.0.1 ports, each with a temporary data dir.
// Header-only, no gtest: usable from tests, benchmarks and small programs.
//
//   degrade::testing::EtcdCluster::Options options;
//   options.members = 3;
//   auto cluster = degrade::testing::EtcdCluster::Start(options);
//   if (!cluster.ok()) FAIL() << cluster.status();
//   (*cluster)->endpoints();            // {"http://127.0.0.1:P1", ...}
//   auto leader = (*cluster)->Leader(absl::Seconds(10));
//   (*cluster)->Kill(*leader);           // SIGKILL, reaped
//   (*cluster)->Restart(*leader);        // same ports, same data dir
//   (*cluster)->Pause(0);                // SIGSTOP; Resume(0): SIGCONT
//
// The etcd binary is $DEGRADE_ETCD_BIN, or `etcd` found on PATH. Each
// member's output goes to <tempdir>/<name>.log (log_path()), kept when
// EtcdCluster::Options::keep_dir is set, for debugging.
//
// The temporary directory (data dirs and logs) is on /dev/shm when that is
// a writable directory with room (kShmBytesPerMember a member; etcd
// preallocates two 64 MB WAL segments), so that etcd's fsyncs never wait on
// a busy disk: on a CI machine compiling in the background a WAL fsync can
// stall for seconds, past the 2 s timeout of a client's write. Otherwise
// (and with keep_dir, and for Start's last attempt) it is under the usual
// temporary directory ($TMPDIR, else /tmp). Either way it is
// degrade-etcd-XXXXXX; a test process that crashes leaves it behind (on
// /dev/shm it holds memory until removed: rm -rf /dev/shm/degrade-etcd-*).
//
// Cleanup: the destructor SIGKILLs every member, reaps it and removes the
// temporary directory. Members are started with PR_SET_PDEATHSIG, so they
// also die if the test process crashes -- but that signal follows the
// *thread* that started them: start and restart members from a thread that
// lives as long as they should (the test's own thread).
//
// Ports are found by binding port 0 and closing it, then handed to etcd; a
// port taken by another process meanwhile makes that start fail, and Start
// tries again with new ports (up to 3 times).
//
// Thread safety: one thread at a time.
#ifndef DEGRADE_TESTS_ETCD_FIXTURE_H_
#define DEGRADE_TESTS_ETCD_FIXTURE_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "test_net.h"

namespace degrade::testing {

class EtcdCluster {
 public:
  struct Options {
    int members = 1;
    // Extra etcd flags for every member, e.g.
    // "--experimental-watch-progress-notify-interval=1s", "--auth-token-ttl=2".
    std::vector<std::string> extra_flags;
    // How long Start waits for the cluster to be healthy.
    absl::Duration start_timeout = absl::Seconds(20);
    bool keep_dir = false;  // leave the temporary directory for inspection
    // TLS for client URLs (https://127.0.0.1:P): the members' certificate
    // and key (PEM). Peers stay plain http. The fixture's own health checks
    // do not verify the certificate.
    std::string cert_file;
    std::string key_file;
  };

  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(Options options) {
    if (options.members < 1) {
      return absl::InvalidArgumentError(absl::StrCat("EtcdCluster: members is ", options.members,
                                                     "; accepted: 1 or more"));
    }
    absl::StatusOr<std::string> bin = FindEtcd();
    if (!bin.ok()) return bin.status();
    absl::Status last;
    constexpr int kAttempts = 3;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      std::unique_ptr<EtcdCluster> c(new EtcdCluster(options, *bin));
      // The last attempt avoids /dev/shm, in case it was running out of room.
      last = c->Launch(/*allow_shm=*/attempt < kAttempts - 1);
      if (last.ok()) return c;
    }
    return last;
  }

  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) KillNoWait(i);
    for (size_t i = 0; i < members_.size(); ++i) Reap(i);
    if (!options_.keep_dir && !dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  std::string endpoint(int i) const { return members_.at(i).client_url; }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const Member& m : members_) out.push_back(m.client_url);
    return out;
  }
  // "http://127.0.0.1:P1,http://127.0.0.1:P2": the DEGRADE_ETCD_ENDPOINTS form.
  std::string endpoints_csv() const { return absl::StrJoin(endpoints(), ","); }
  std::string log_path(int i) const { return absl::StrCat(dir_, "/", members_.at(i).name, ".log"); }
  const std::string& dir() const { return dir_; }
  bool running(int i) const { return members_.at(i).pid > 0; }

  // SIGKILL member i and reap it. Its data dir stays, for Restart.
  absl::Status Kill(int i) {
    if (!running(i)) return absl::FailedPreconditionError(absl::StrCat("member ", i, " is not running"));
    KillNoWait(i);
    Reap(i);
    return absl::OkStatus();
  }

  // SIGSTOP member i: it keeps its sockets open and answers nothing, as a
  // hung host would. Resume (SIGCONT) lets it go on.
  absl::Status Pause(int i) {
    if (!running(i)) return absl::FailedPreconditionError(absl::StrCat("member ", i, " is not running"));
    if (::kill(members_[i].pid, SIGSTOP) != 0) return absl::InternalError("kill(SIGSTOP) failed");
    return absl::OkStatus();
  }
  absl::Status Resume(int i) {
    if (!running(i)) return absl::FailedPreconditionError(absl::StrCat("member ", i, " is not running"));
    if (::kill(members_[i].pid, SIGCONT) != 0) return absl::InternalError("kill(SIGCONT) failed");
    return absl::OkStatus();
  }

  // Starts member i again on its ports with its data dir, and waits until it
  // answers /health (the cluster has a leader).
  absl::Status Restart(int i, absl::Duration timeout = absl::Seconds(20)) {
    if (running(i)) return absl::FailedPreconditionError(absl::StrCat("member ", i, " is running"));
    if (absl::Status s = Spawn(i); !s.ok()) return s;
    return WaitHealthy(i, timeout);
  }

  // Waits until member i answers GET /health with {"health":"true"}.
  absl::Status WaitHealthy(int i, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string last = "no answer";
    while (absl::Now() < deadline) {
      if (!Alive(i)) {
        return absl::UnavailableError(absl::StrCat("etcd member ", members_[i].name,
                                                   " exited; see ", log_path(i)));
      }
      httplib::Client c(members_[i].client_url);
      c.set_connection_timeout(std::chrono::milliseconds(500));
      c.set_read_timeout(std::chrono::seconds(2));
      c.enable_server_certificate_verification(false);
      if (auto r = c.Get("/health")) {
        if (r->status == 200 && r->body.find("\"true\"") != std::string::npos) {
          return absl::OkStatus();
        }
        last = absl::StrCat("HTTP ", r->status, " ", r->body);
      } else {
        last = httplib::to_string(r.error());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat("etcd member ", members_[i].name,
                                                    " not healthy within ",
                                                    absl::FormatDuration(timeout), ": ", last,
                                                    "; see ", log_path(i)));
  }

  // The index of the member that is leader, as the running members agree.
  absl::StatusOr<int> Leader(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string last = "no running member";
    while (absl::Now() < deadline) {
      for (int i = 0; i < size(); ++i) {
        if (!running(i)) continue;
        absl::StatusOr<nlohmann::json> st = Post(i, "/v3/maintenance/status", "{}");
        if (!st.ok()) {
          last = std::string(st.status().message());
          continue;
        }
        const std::string leader = st->value("leader", "");
        const std::string self = (*st)["header"].value("member_id", "");
        if (!leader.empty() && leader == self) return i;
        last = absl::StrCat("member ", members_[i].name, " reports leader ", leader);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat("no etcd leader within ",
                                                    absl::FormatDuration(timeout), ": ", last));
  }

  // Turns on authentication with a user "root" (role root) and `password`.
  absl::Status EnableAuth(const std::string& password) {
    const int i = FirstRunning();
    if (i < 0) return absl::FailedPreconditionError("no running member");
    const nlohmann::json user = {{"name", "root"}, {"password", password}};
    for (auto [path, body] : std::vector<std::pair<std::string, std::string>>{
             {"/v3/auth/user/add", user.dump()},
             {"/v3/auth/role/add", R"({"name":"root"})"},
             {"/v3/auth/user/grant", R"({"user":"root","role":"root"})"},
             {"/v3/auth/enable", "{}"}}) {
      if (absl::StatusOr<nlohmann::json> r = Post(i, path, body); !r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  // POST to member i's gateway; the reply as JSON, or an error for a
  // transport failure or a non-200.
  absl::StatusOr<nlohmann::json> Post(int i, const std::string& path, const std::string& body,
                                      const std::string& token = "") {
    httplib::Client c(members_.at(i).client_url);
    c.set_connection_timeout(std::chrono::milliseconds(500));
    c.set_read_timeout(std::chrono::seconds(5));
    c.enable_server_certificate_verification(false);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", token);
    auto r = c.Post(path, headers, body, "application/json");
    if (!r) {
      return absl::UnavailableError(absl::StrCat(members_[i].client_url, path, ": ",
                                                 httplib::to_string(r.error())));
    }
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status != 200 || j.is_discarded()) {
      return absl::UnknownError(absl::StrCat(members_[i].client_url, path, ": HTTP ", r->status,
                                             " ", r->body));
    }
    return j;
  }

 private:
  struct Member {
    std::string name;
    std::string client_url;
    std::string peer_url;
    pid_t pid = -1;
  };

  EtcdCluster(Options options, std::string bin) : options_(std::move(options)), bin_(std::move(bin)) {}

  static absl::StatusOr<std::string> FindEtcd() {
    if (const char* env = std::getenv("DEGRADE_ETCD_BIN"); env != nullptr && *env != '\0') {
      if (::access(env, X_OK) == 0) return std::string(env);
      return absl::NotFoundError(absl::StrCat("DEGRADE_ETCD_BIN=", env, " is not executable"));
    }
    const char* path = std::getenv("PATH");
    for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin", ':')) {
      std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/etcd");
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return absl::NotFoundError(
        "etcd not found on PATH (Debian: apt-get install etcd-server) and DEGRADE_ETCD_BIN unset");
  }

  static absl::StatusOr<int> FreePort() {
    const test_util::BoundSocket s = test_util::BindLoopback(/*backlog=*/0);
    if (s.fd < 0) {
      return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(errno)));
    }
    ::close(s.fd);
    return s.port;
  }

  // Room a member takes on /dev/shm: etcd 3.4 preallocates its first WAL
  // segment and the next one (64 MB each, really allocated on a tmpfs),
  // plus the bbolt database and the log; twice that, to leave room for
  // other tests' clusters started meanwhile.
  static constexpr uint64_t kShmBytesPerMember = uint64_t{256} << 20;

  // Where the temporary directory goes (see the top of the file).
  std::filesystem::path TempRoot(bool allow_shm) const {
    if (allow_shm && !options_.keep_dir) {
      struct statvfs shm {};
      if (::access("/dev/shm", W_OK | X_OK) == 0 && ::statvfs("/dev/shm", &shm) == 0 &&
          static_cast<uint64_t>(shm.f_bavail) * shm.f_frsize >=
              kShmBytesPerMember * static_cast<uint64_t>(options_.members)) {
        return "/dev/shm";
      }
    }
    std::error_code ec;
    std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
    return ec ? std::filesystem::path("/tmp") : tmp;
  }

  absl::Status Launch(bool allow_shm) {
    std::string tmpl = TempRoot(allow_shm) / "degrade-etcd-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", std::strerror(errno)));
    }
    dir_ = tmpl;
    std::vector<std::string> initial;
    for (int i = 0; i < options_.members; ++i) {
      absl::StatusOr<int> cport = FreePort();
      if (!cport.ok()) return cport.status();
      absl::StatusOr<int> pport = FreePort();
      if (!pport.ok()) return pport.status();
      Member m;
      m.name = absl::StrCat("m", i);
      m.client_url = absl::StrCat(options_.cert_file.empty() ? "http" : "https",
                                  "://127.0.0.1:", *cport);
      m.peer_url = absl::StrCat("http://127.0.0.1:", *pport);
      initial.push_back(absl::StrCat(m.name, "=", m.peer_url));
      members_.push_back(std::move(m));
    }
    initial_cluster_ = absl::StrJoin(initial, ",");
    for (int i = 0; i < size(); ++i) {
      if (absl::Status s = Spawn(i); !s.ok()) return s;
    }
    for (int i = 0; i < size(); ++i) {
      if (absl::Status s = WaitHealthy(i, options_.start_timeout); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Spawn(int i) {
    Member& m = members_[i];
    const std::vector<std::string> args = [&] {
      std::vector<std::string> a = {
          bin_,
          "--name", m.name,
          "--data-dir", absl::StrCat(dir_, "/", m.name, ".etcd"),
          "--listen-client-urls", m.client_url,
          "--advertise-client-urls", m.client_url,
          "--listen-peer-urls", m.peer_url,
          "--initial-advertise-peer-urls", m.peer_url,
          "--initial-cluster", initial_cluster_,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", absl::StrCat("degrade-test-", ::getpid()),
      };
      if (!options_.cert_file.empty()) {
        a.insert(a.end(), {"--cert-file", options_.cert_file, "--key-file", options_.key_file});
      }
      for (const std::string& f : options_.extra_flags) a.push_back(f);
      return a;
    }();
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string log = log_path(i);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return absl::InternalError(absl::StrCat("open ", log, ": ", std::strerror(errno)));
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log_fd);
      return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    }
    if (pid == 0) {  // child: async-signal-safe calls only
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died already
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    m.pid = pid;
    return absl::OkStatus();
  }

  bool Alive(int i) {
    Member& m = members_[i];
    if (m.pid <= 0) return false;
    int status = 0;
    if (::waitpid(m.pid, &status, WNOHANG) == m.pid) {
      m.pid = -1;
      return false;
    }
    return true;
  }

  void KillNoWait(size_t i) {
    if (members_[i].pid > 0) ::kill(members_[i].pid, SIGKILL);
  }

  void Reap(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    int status = 0;
    while (::waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
    }
    m.pid = -1;
  }

  int FirstRunning() const {
    for (int i = 0; i < size(); ++i) {
      if (running(i)) return i;
    }
    return -1;
  }

  Options options_;
  std::string bin_;
  std::string dir_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace degrade::testing

#endif  // DEGRADE_TESTS_ETCD_FIXTURE_H_
