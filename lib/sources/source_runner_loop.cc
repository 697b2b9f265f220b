// The source runner's loop thread: poll rounds and watches, and the waits
// between them (interval, backoff, both jittered). See source_runner.h.
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/layer_delta.h"
#include "core/str_util.h"
#include "sources/source_runner_impl.h"

namespace degrade::internal {

PollResult PollResult::Failed(std::string source, std::string error) {
  PollResult r;
  r.kind = Kind::kFailed;
  r.source = std::move(source);
  r.error = std::move(error);
  return r;
}

PollResult PollResult::NotModified(std::string source, std::string target) {
  PollResult r;
  r.kind = Kind::kNotModified;
  r.source = std::move(source);
  r.target = std::move(target);
  return r;
}

PollResult PollResult::Fresh(std::string source, Snapshot snapshot, std::string target) {
  PollResult r;
  r.kind = Kind::kSnapshot;
  r.source = std::move(source);
  r.target = std::move(target);
  r.snapshot = std::move(snapshot);
  return r;
}

absl::Duration SourceRunner::Impl::RunOnce() {
  if (poll_ != nullptr) return PollOnce();
  return WatchOnce();
}

void SourceRunner::Impl::Loop() {
  for (;;) {
    const absl::Duration wait = RunOnce();
    std::unique_lock<std::mutex> lock(mu_);
    if (!stop_) clock_.WaitUntil(lock, cv_, clock_.Now() + wait, [this] { return stop_; });
    if (stop_) {
      loop_done_ = true;
      sup_cv_.notify_all();
      return;
    }
  }
}

absl::Duration SourceRunner::Impl::IntervalWait() {
  return Jittered(config_.interval, config_.interval_jitter, Uniform());
}

absl::Duration SourceRunner::Impl::BackoffWait(int64_t failures) {
  return Jittered(BackoffDelay(config_.backoff_base, config_.backoff_cap, failures),
                  config_.backoff_jitter, Uniform());
}

absl::Duration SourceRunner::Impl::PollOnce() {
  PollResult r;
  try {
    r = poll_->Poll(*this);
  } catch (const std::exception& e) {
    r = PollResult::Failed(config_.target, absl::StrCat(config_.target, ": internal error: ",
                                                        e.what()));
  } catch (...) {
    r = PollResult::Failed(config_.target, absl::StrCat(config_.target, ": internal error"));
  }
  if (stopping()) return absl::ZeroDuration();
  const absl::Time wall = registry_.clock().Now();
  if (r.kind == PollResult::Kind::kSnapshot) {
    Snapshot copy = *r.snapshot;
    const size_t switches = copy.switches.size(), groups = copy.groups.size();
    absl::Status s;
    {
      std::lock_guard<std::mutex> apply(apply_mu_);
      s = internal::ApplyParsedSnapshot(registry_, config_.layer, *std::move(r.snapshot),
                                        r.source);
      if (s.ok()) layer_filled_ = true;
    }
    poll_->Accepted(s.ok());
    if (!s.ok()) {
      r = PollResult::Failed(r.source, ToStd(s.message()));
    } else {
      registry_.Log(LogLevel::kInfo, absl::StrCat(r.source, ": applied (", switches,
                                                  " switches, ", groups, " groups)"));
      std::lock_guard<std::mutex> lock(mu_);
      ++health_.applied;
      if (!config_.cache_file.empty()) {
        cache_pending_ = std::move(copy);
        sup_wake_ = true;
        sup_cv_.notify_all();
      }
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (r.kind == PollResult::Kind::kFailed) {
    ++failures_;
    health_.target = config_.target;
    health_.consecutive_failures = static_cast<uint64_t>(failures_);
    health_.last_error_time = wall;
    connection_error_ = r.error;
    ReportLocked();
    const int64_t failures = failures_;
    lock.unlock();
    if (r.log_error) {
      LogErrorOnce(config_.name,
                   absl::StrCat(r.error, "; the ",
                                config_.layer == Layer::kFile ? "file" : "remote",
                                " layer keeps its last good state"));
    }
    FirstDone();
    return BackoffWait(failures);
  }
  failures_ = 0;
  health_.target = r.target.empty() ? config_.target : r.target;
  ConfirmLocked();
  if (!r.error.empty()) {  // preferred targets failed this round
    health_.last_error = r.error;
    health_.last_error_time = wall;
  }
  ReportLocked();
  lock.unlock();
  if (r.log_error) ClearError(config_.name, "");
  FirstDone();
  return IntervalWait();
}

absl::Duration SourceRunner::Impl::WatchOnce() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    established_ = false;
  }
  absl::Status s;
  try {
    s = watch_->Watch(*this, *this);
  } catch (const std::exception& e) {
    s = absl::InternalError(absl::StrCat(config_.source, ": internal error: ", e.what()));
  } catch (...) {
    s = absl::InternalError(absl::StrCat(config_.source, ": internal error"));
  }
  std::unique_lock<std::mutex> lock(mu_);
  expect_deadline_ = absl::InfiniteFuture();
  if (stop_) return absl::ZeroDuration();
  const bool established = established_;
  if (established && (s.ok() || absl::IsDeadlineExceeded(s))) {
    lock.unlock();
    FirstDone();
    return absl::ZeroDuration();  // ended cleanly or idle: reopen at once
  }
  ++failures_;
  health_.consecutive_failures = static_cast<uint64_t>(failures_);
  health_.last_error_time = registry_.clock().Now();
  connection_error_ = ToStd(s.message());
  ReportLocked();
  const int64_t failures = failures_;
  // The first failure and then at 2, 4, 8, ... in a row: an outage is
  // visible without a line per retry.
  if ((failures & (failures - 1)) == 0) {
    registry_.Log(LogLevel::kError,
                  absl::StrCat(s.message(), " (", failures, failures == 1 ? " failure" : " failures",
                               " in a row); the remote layer keeps its last good state"));
  }
  if (established) failures_ = 0;  // it was running: resume at once
  lock.unlock();
  FirstDone();
  return established ? absl::ZeroDuration() : BackoffWait(failures);
}

}  // namespace degrade::internal
