// The source runner. See source_runner.h for the behaviour, and
// source_runner_impl.h for how its implementation is split.
//
// Why the constructor does not wait for the first round to finish: the
// round's operations are bounded, but a cancel that cannot take (a connect
// in progress ignores Client::stop) would hold start-up. The constructor
// waits on its own budget, then applies the cache if the layer is still
// empty; the loop keeps going and a later answer replaces the cache.
#include "sources/source_runner.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/layer_delta.h"
#include "core/str_util.h"
#include "sources/source_runner_impl.h"

namespace degrade::internal {

SourceRunner::Impl::Impl(SourceRunner* owner, Registry& registry, SourceRunner::Config config)
    : owner_(owner),
      registry_(registry),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? *config_.clock : MonotonicClock::Real()),
      cache_(registry, config_.cache_file) {
  uint64_t seed = config_.seed;
  if (seed == 0) {
    // Not std::random_device: it may throw. Jitter needs spread, not secrecy.
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this));
  }
  rng_.seed(seed);
  health_.name = config_.name;
  health_.target = config_.target;
  health_.healthy = false;
  health_.last_error = "starting: not confirmed yet";
  last_confirmed_ = clock_.Now();
  registry_.ReportSourceHealth(health_);
}

void SourceRunner::Impl::Start() {
  if (!config_.start_threads) return;
  const absl::Time start = clock_.Now();
  supervisor_ = std::thread([this] { SupervisorLoop(); });
  loop_ = std::thread([this] { Loop(); });
  {
    std::unique_lock<std::mutex> lock(mu_);
    clock_.WaitUntil(lock, cv_, start + config_.startup_budget,
                     [this] { return first_done_ || stop_; });
    if (!first_done_) {
      MarkUnhealthyLocked(absl::StrCat("starting: no answer within the start-up budget of ",
                                       absl::FormatDuration(config_.startup_budget),
                                       "; still trying in the background"),
                          /*log=*/true);
    }
  }
  // What the first round applied is in the cache when start-up returns (a
  // crash right after start finds it there).
  WriteDueCache(/*force=*/true);
  {
    std::lock_guard<std::mutex> apply(apply_mu_);
    if (!layer_filled_ && !config_.cache_file.empty()) {
      std::lock_guard<std::mutex> cache(cache_mu_);
      layer_filled_ = cache_.ApplyAtStart(config_.startup_failure_text);
    }
  }
}

void SourceRunner::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  sup_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (supervisor_.joinable()) supervisor_.join();
  WriteDueCache(/*force=*/true);
}

std::unique_ptr<Operation> SourceRunner::Impl::Arm(std::string what, absl::Duration budget,
                                                   std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = next_op_++;
  Op& op = ops_[id];
  op.what = std::move(what);
  op.budget = budget;
  op.deadline = clock_.Now() + budget;
  op.cancel = std::move(cancel);
  if (stop_) op.stopping = true;
  sup_wake_ = true;
  sup_cv_.notify_all();
  return std::unique_ptr<Operation>(new Operation(owner_, id, op.deadline));
}

bool SourceRunner::Impl::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void SourceRunner::Impl::LogErrorOnce(const std::string& key, const std::string& message) {
  std::lock_guard<std::mutex> lock(log_mu_);
  std::string& logged = logged_[key];
  if (logged == message) return;
  logged = message;
  registry_.Log(LogLevel::kError, message);
}

void SourceRunner::Impl::ClearError(const std::string& key, const std::string& recovered) {
  std::lock_guard<std::mutex> lock(log_mu_);
  auto it = logged_.find(key);
  if (it == logged_.end()) return;
  logged_.erase(it);
  if (!recovered.empty()) registry_.Log(LogLevel::kInfo, recovered);
}

absl::Status SourceRunner::Impl::Publish(Snapshot snapshot, std::string_view why) {
  const size_t switches = snapshot.switches.size(), groups = snapshot.groups.size();
  absl::Status s;
  {
    std::lock_guard<std::mutex> apply(apply_mu_);
    s = internal::ApplyParsedSnapshot(registry_, config_.layer, std::move(snapshot),
                                      config_.source);
    if (s.ok()) layer_filled_ = true;
  }
  if (!s.ok()) return s;
  registry_.Log(LogLevel::kInfo, absl::StrCat(config_.source, ": applied ", ToAbsl(why), " (",
                                              switches, " switches, ", groups, " groups)"));
  AppliedChange();
  return s;
}

absl::Status SourceRunner::Impl::Apply(
    std::string_view why,
    const std::function<absl::Status(Registry&, Layer, const std::string&)>& apply) {
  absl::Status s;
  {
    std::lock_guard<std::mutex> guard(apply_mu_);
    s = apply(registry_, config_.layer, config_.source);
    if (s.ok()) layer_filled_ = true;
  }
  if (!s.ok()) return s;
  registry_.Log(LogLevel::kInfo, absl::StrCat(config_.source, ": applied ", ToAbsl(why)));
  AppliedChange();
  return s;
}

void SourceRunner::Impl::Confirmed() {
  std::lock_guard<std::mutex> lock(mu_);
  ConfirmLocked();
  if (!first_done_) {  // a view confirmed at start: start-up is over
    first_done_ = true;
    cv_.notify_all();
  }
  if (expect_within_ > absl::ZeroDuration()) {
    expect_deadline_ = clock_.Now() + expect_within_;
    sup_wake_ = true;
    sup_cv_.notify_all();
  }
  ReportLocked();
}

void SourceRunner::Impl::Established() {
  std::lock_guard<std::mutex> lock(mu_);
  established_ = true;
  failures_ = 0;
  health_.consecutive_failures = 0;
}

void SourceRunner::Impl::SetProblems(std::string problems) {
  std::lock_guard<std::mutex> lock(mu_);
  if (problems == problems_) return;
  problems_ = std::move(problems);
  if (!problems_.empty()) health_.last_error_time = registry_.clock().Now();
  ReportLocked();
}

void SourceRunner::Impl::ExpectConfirmationWithin(absl::Duration within,
                                                  std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  expect_within_ = within;
  liveness_cancel_ = std::move(cancel);
  expect_deadline_ =
      within > absl::ZeroDuration() ? clock_.Now() + within : absl::InfiniteFuture();
  sup_wake_ = true;
  sup_cv_.notify_all();
}

SourceHealth SourceRunner::Impl::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

void SourceRunner::Impl::FirstDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (first_done_) return;
  first_done_ = true;
  cv_.notify_all();
}

void SourceRunner::Impl::ConfirmLocked() {
  last_confirmed_ = clock_.Now();
  health_.last_success = registry_.clock().Now();
  health_.consecutive_failures = 0;
  connection_error_.clear();
  if (config_.stale_after > absl::ZeroDuration()) {
    // The staleness deadline moved (or starts, if the source was unhealthy).
    sup_wake_ = true;
    sup_cv_.notify_all();
  }
}

// Reports health_ with healthy derived from the current state.
void SourceRunner::Impl::ReportLocked() {
  std::string problem = connection_error_;
  if (!problems_.empty()) problem = problem.empty() ? problems_ : problem + "; " + problems_;
  health_.healthy = problem.empty() && health_.last_success.has_value();
  if (!problem.empty()) health_.last_error = problem;
  registry_.ReportSourceHealth(health_);
}

void SourceRunner::Impl::MarkUnhealthyLocked(const std::string& reason, bool log) {
  connection_error_ = reason;
  health_.last_error_time = registry_.clock().Now();
  ReportLocked();
  if (!log) return;
  registry_.Log(LogLevel::kError,
                absl::StrCat(config_.name, ": ", reason, "; the ",
                             config_.layer == Layer::kFile ? "file" : "remote",
                             " layer keeps its last good state"));
}

void SourceRunner::Impl::AppliedChange() {
  std::lock_guard<std::mutex> lock(mu_);
  ++health_.applied;
  ConfirmLocked();
  if (expect_within_ > absl::ZeroDuration()) expect_deadline_ = clock_.Now() + expect_within_;
  if (!config_.cache_file.empty()) cache_dirty_ = true;
  ReportLocked();
  sup_wake_ = true;
  sup_cv_.notify_all();
  if (!first_done_) {
    first_done_ = true;
    cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------

Operation::Operation(SourceRunner* runner, int64_t id, absl::Time deadline)
    : runner_(runner), id_(id), deadline_(deadline) {}

Operation::~Operation() { runner_->impl_->Disarm(id_); }

bool Operation::expired() const { return runner_->impl_->OpExpired(id_); }

bool Operation::stopping() const { return runner_->impl_->OpStopping(id_); }

SourceRunner::SourceRunner(Registry& registry, Config config, std::unique_ptr<PollStrategy> poll)
    : impl_(std::make_unique<Impl>(this, registry, std::move(config))) {
  impl_->poll_ = std::move(poll);
  impl_->Start();
}

SourceRunner::SourceRunner(Registry& registry, Config config,
                           std::unique_ptr<WatchStrategy> watch)
    : impl_(std::make_unique<Impl>(this, registry, std::move(config))) {
  impl_->watch_ = std::move(watch);
  impl_->Start();
}

SourceRunner::~SourceRunner() { impl_->Stop(); }

SourceHealth SourceRunner::health() const { return impl_->Health(); }

absl::Duration SourceRunner::RunOnce() { return impl_->RunOnce(); }

void SourceRunner::Supervise() { impl_->Supervise(); }

}  // namespace degrade::internal
