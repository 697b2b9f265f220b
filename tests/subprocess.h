// A child process for tests and benchmarks: started with exactly the
// environment given, its stdout and stderr collected, every wait bounded.
// The destructor kills and reaps a child that is still running, so a failed
// test leaves nothing behind.
//
//   Subprocess ctl({degradectl, "--admin", url, "watch"}, {"PATH=/usr/bin:/bin"});
//   ASSERT_TRUE(ctl.WaitForStderr("watching", absl::Seconds(10)));
//   ...
//   ctl.Signal(SIGINT);
//   EXPECT_EQ(ctl.Finish(absl::Seconds(10)), 0);
#ifndef DEGRADE_TESTS_SUBPROCESS_H_
#define DEGRADE_TESTS_SUBPROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace degrade::testing_util {

class Subprocess {
 public:
  // Starts argv[0] (a path) with `argv` and exactly `env`. started() says
  // whether it did; error() says why not.
  Subprocess(std::vector<std::string> argv, std::vector<std::string> env) {
    std::vector<char*> cargv, cenv;
    for (auto& s : argv) cargv.push_back(s.data());
    for (auto& s : env) cenv.push_back(s.data());
    cargv.push_back(nullptr);
    cenv.push_back(nullptr);
    int out_pipe[2], err_pipe[2];
    if (argv.empty() || pipe2(out_pipe, O_CLOEXEC) != 0) {
      error_ = "no program, or pipe failed";
      return;
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      close(out_pipe[0]);
      close(out_pipe[1]);
      error_ = "pipe failed";
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    const int rc = posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    fds_[0] = out_pipe[0];
    fds_[1] = err_pipe[0];
    if (rc != 0) {
      error_ = std::string("cannot run ") + argv[0];
      pid_ = -1;
      CloseFds();
    }
  }

  ~Subprocess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    CloseFds();
  }

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  void Signal(int sig) {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }

  // Reads output until `done(out, err)` holds or `timeout` passes, or both
  // pipes close. True when `done` held.
  bool WaitFor(const std::function<bool(const std::string&, const std::string&)>& done,
               absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!done(out_, err_)) {
      if (fds_[0] < 0 && fds_[1] < 0) return false;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      ReadSome(std::min(left, absl::Milliseconds(50)));
    }
    return true;
  }
  bool WaitForStdout(std::string_view needle, absl::Duration timeout) {
    return WaitFor([&](const std::string& o, const std::string&) {
      return o.find(needle) != std::string::npos;
    }, timeout);
  }
  bool WaitForStderr(std::string_view needle, absl::Duration timeout) {
    return WaitFor([&](const std::string&, const std::string& e) {
      return e.find(needle) != std::string::npos;
    }, timeout);
  }

  // Reads both pipes to their end and reaps the child. Its exit status, 128
  // + the signal that ended it, or -1 when it had to be killed because it
  // had not ended within `timeout` (or never started).
  int Finish(absl::Duration timeout) {
    if (pid_ <= 0) return -1;
    if (reaped_) return exit_code_;
    const absl::Time deadline = absl::Now() + timeout;
    while ((fds_[0] >= 0 || fds_[1] >= 0) && absl::Now() < deadline) {
      ReadSome(std::min(deadline - absl::Now(), absl::Milliseconds(50)));
    }
    int status = 0;
    bool timed_out = fds_[0] >= 0 || fds_[1] >= 0;
    while (!timed_out && waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() >= deadline) {
        timed_out = true;
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (timed_out) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      exit_code_ = -1;
    } else {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    reaped_ = true;
    CloseFds();
    return exit_code_;
  }

 private:
  void ReadSome(absl::Duration wait) {
    pollfd p[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
    const int ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait)));
    if (poll(p, 2, ms) <= 0) return;
    std::string* sinks[2] = {&out_, &err_};
    for (int i = 0; i < 2; ++i) {
      if (fds_[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      const ssize_t n = read(fds_[i], buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds_[i]);
        fds_[i] = -1;
      }
    }
  }

  void CloseFds() {
    for (int& fd : fds_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  int fds_[2] = {-1, -1};
  std::string out_, err_, error_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace degrade::testing_util

#endif  // DEGRADE_TESTS_SUBPROCESS_H_
