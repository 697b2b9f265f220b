// Registry helpers for degrade's gtest suites (namespace degrade::test_util;
// tests/test_util.h says how the test helpers are organised): options,
// environments, logs and values a test hands to a Registry.
//
//   NoEnv                                a Registry::Options::getenv that
//                                        finds nothing (hermetic tests)
//   FakeEnv                              a getenv over a map the test fills:
//                                          FakeEnv env; env.Set("DEGRADE_ALL", "off");
//                                          options.getenv = env.Getenv();
//   QuietOptions(clock = nullptr)        Registry::Options: NoEnv, logs dropped
//   QuietOptionsWithRealEnv()            logs dropped, the process environment
//                                        read as usual (tests that setenv)
//   LogCapture                           collects log lines, thread-safe:
//                                          options.log_sink = logs.Sink();
//                                          logs.Contains(LogLevel::kError, "x")
//   MakeTempDir(prefix)                  a new directory /tmp/<prefix>-XXXXXX
//                                        (empty path on failure); the test
//                                        removes it (std::filesystem::remove_all)
//   Spec(name, groups = {})              a SwitchSpec with a description
//   On(), Off(reason, actor), Allow(f)   SwitchValues for SetOverride/snapshots
//   Message(status)                      status.message() as a std::string
//   ScopedEnv(name, value)               sets (value null: unsets) a process
//                                        environment variable, restored when
//                                        it goes out of scope
#ifndef DEGRADE_TESTS_TEST_REGISTRY_H_
#define DEGRADE_TESTS_TEST_REGISTRY_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "degrade/clock.h"
#include "degrade/log.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"

namespace degrade::test_util {

// ------------------------------------------------------------------ registry options

inline std::optional<std::string> NoEnv(std::string_view) { return std::nullopt; }

// A fake environment. Getenv() reads the map at call time, so a test may fill
// it after handing the function out (but before the registry reads it). The
// FakeEnv must outlive the registry that uses it.
class FakeEnv {
 public:
  void Set(std::string name, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    vars_[std::move(name)] = std::move(value);
  }
  std::function<std::optional<std::string>(std::string_view)> Getenv() {
    return [this](std::string_view name) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = vars_.find(std::string(name));
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> vars_;
};

inline Registry::Options QuietOptions(Clock* clock = nullptr) {
  return Registry::Options{
      .clock = clock,
      .getenv = NoEnv,
      .log_sink = [](LogLevel, std::string_view) {},
  };
}

inline Registry::Options QuietOptionsWithRealEnv() {
  Registry::Options o;
  o.log_sink = [](LogLevel, std::string_view) {};
  return o;
}

// Log lines a registry (or runtime) reported. Must outlive the registry.
class LogCapture {
 public:
  struct Line {
    LogLevel level;
    std::string message;
  };

  std::function<void(LogLevel, std::string_view)> Sink() {
    return [this](LogLevel level, std::string_view message) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back({level, std::string(message)});
    };
  }
  std::vector<Line> Lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  // True if a line at `level` contains `needle`.
  bool Contains(LogLevel level, std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Line& l : lines_) {
      if (l.level == level && l.message.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  // Every line, one per line, for failure messages.
  std::string All() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const Line& l : lines_) out += l.message + "\n";
    return out;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Line> lines_;
};

// ------------------------------------------------------------------ files

inline std::filesystem::path MakeTempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// ------------------------------------------------------------------ values

inline SwitchSpec Spec(std::string name, std::vector<std::string> groups = {}) {
  SwitchSpec spec;
  spec.name = std::move(name);
  spec.description = "test switch " + spec.name;
  spec.groups = std::move(groups);
  return spec;
}

inline SwitchValue On() {
  SwitchValue v;
  v.state = State::kOn;
  return v;
}

inline SwitchValue Off(std::string reason = "", std::string actor = "") {
  SwitchValue v;
  v.state = State::kOff;
  v.reason = std::move(reason);
  v.actor = std::move(actor);
  return v;
}

inline SwitchValue Allow(double allow) {
  SwitchValue v;
  v.allow = allow;
  return v;
}

inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Sets an environment variable (value null: unsets it) and restores it on
// scope exit. Not thread-safe, like setenv itself: use it before any thread
// that reads the environment starts.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_REGISTRY_H_
