// etcd source: health, logging of connection problems, backoff, and the
// coalesced cache writes. See etcd_source.h for the behaviour.
//
// Why health has its own mutex: the watch thread reports failures and
// progress, and the watch's liveness checker reports progress from its own
// thread while the watch thread is blocked reading the stream.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "etcd/etcd_source.h"

namespace degrade::internal {
namespace {

constexpr double kBackoffJitter = 0.20;
constexpr size_t kBadKeysShown = 5;

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

EtcdSource::Stats EtcdSource::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

void EtcdSource::Progress() {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (failures_ > 0 || !connection_error_.empty()) {
    if (!logged_problem_.empty()) {
      registry_.Log(LogLevel::kInfo,
                    absl::StrCat(source_, ": etcd answers again (after ", failures_,
                                 failures_ == 1 ? " failure" : " failures", ")"));
    }
    logged_problem_.clear();
  }
  failures_ = 0;
  connection_error_.clear();
  health_.consecutive_failures = 0;
  health_.last_success = registry_.clock().Now();
  health_.healthy = bad_text_.empty();
  if (health_.healthy) {
    health_.last_error.clear();
  } else {
    health_.last_error = bad_text_;
  }
  registry_.ReportSourceHealth(health_);
}

void EtcdSource::ReportHealth() {
  for (const auto& [key, error] : bad_) {
    auto it = logged_bad_.find(key);
    if (it != logged_bad_.end() && it->second == error) continue;
    logged_bad_[key] = error;
    auto e = entries_.find(key);
    const bool has_good = e != entries_.end() && e->second.good.has_value();
    registry_.Log(LogLevel::kError,
                  absl::StrCat(error, has_good ? "; the entry keeps its last good value"
                                               : "; the entry stays unset"));
    std::lock_guard<std::mutex> lock(health_mu_);
    health_.last_error_time = registry_.clock().Now();
  }
  for (auto it = logged_bad_.begin(); it != logged_bad_.end();) {
    if (bad_.count(it->first) == 0) {
      registry_.Log(LogLevel::kInfo, absl::StrCat("etcd key ", it->first, ": fixed or deleted"));
      it = logged_bad_.erase(it);
    } else {
      ++it;
    }
  }
  std::string bad_text;
  if (!bad_.empty()) {
    std::vector<std::string> shown;
    for (const auto& [key, error] : bad_) {
      if (shown.size() == kBadKeysShown) break;
      shown.push_back(error);
    }
    bad_text = absl::StrCat(bad_.size(), bad_.size() == 1 ? " key" : " keys",
                            " rejected (each keeps its last good value): ",
                            absl::StrJoin(shown, "; "));
    if (shown.size() < bad_.size()) absl::StrAppend(&bad_text, "; and ", bad_.size() - shown.size(), " more");
  }
  std::lock_guard<std::mutex> lock(health_mu_);
  bad_text_ = std::move(bad_text);
  std::vector<std::string> problems;
  if (!connection_error_.empty()) problems.push_back(connection_error_);
  if (!bad_text_.empty()) problems.push_back(bad_text_);
  health_.healthy = problems.empty();
  health_.last_error = absl::StrJoin(problems, "; ");
  registry_.ReportSourceHealth(health_);
}

void EtcdSource::Failed(const absl::Status& status) {
  std::string message = ToStd(status.message());
  // The same problem seen on another member is the same problem: the log
  // says it once, until the source recovers.
  std::string problem = message;
  for (const std::string& ep : client_.endpoints()) {
    problem = absl::StrReplaceAll(problem, {{ep, "<member>"}});
  }
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    ++failures_;
    ++health_.consecutive_failures;
    if (problem != logged_problem_) {
      logged_problem_ = problem;
      registry_.Log(LogLevel::kError,
                    absl::StrCat(message, "; the remote layer keeps its last good state (logged "
                                          "once until etcd answers again)"));
    }
    connection_error_ = std::move(message);
    health_.last_error_time = registry_.clock().Now();
  }
  ReportHealth();
}

absl::Duration EtcdSource::NextBackoff() {
  int64_t failures = 0;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    failures = failures_;
  }
  absl::Duration d = config_.backoff_initial;
  for (int64_t i = 1; i < failures && d < config_.backoff_max; ++i) d *= 2;
  d = std::min(d, config_.backoff_max);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return d * (1.0 + kBackoffJitter * (2.0 * u - 1.0));
}

void EtcdSource::MarkCacheDirty() {
  if (config_.cache_file.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  cache_dirty_ = true;
  cv_.notify_all();
}

void EtcdSource::CacheLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || cache_dirty_; });
    if (!cache_dirty_) return;  // stopping, nothing pending
    cache_dirty_ = false;
    lock.unlock();
    // The layer as it is now: every change marked dirty before this read
    // is in it.
    cache_.Save(registry_.LayerSnapshot(Layer::kRemote));
    {
      std::lock_guard<std::mutex> stats_lock(stats_mu_);
      ++stats_.cache_writes;
    }
    lock.lock();
    // At most one write per cache_interval; a stop ends the wait early
    // and writes what is pending.
    cv_.wait_for(lock, absl::ToChronoNanoseconds(config_.cache_interval), [this] { return stop_; });
  }
}

}  // namespace degrade::internal
