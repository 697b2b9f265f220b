// The source runner's supervisor thread: operation deadlines, the watch's
// liveness deadline, staleness, and the coalesced cache writer. See
// source_runner.h for the behaviour.
//
// Why a second (supervisor) thread per runner rather than a per-read
// timeout: cpp-httplib's timeouts bound each read, so a peer that sends one
// byte per second never trips them, and start-up and the poll loop stalled
// for as long as the peer kept dripping. Only another thread can end a
// blocked call (Client::stop(), EtcdClient::Stop()); one supervisor per
// runner, joined with it, does that for every operation the strategy arms,
// flips health at the deadline itself (not when the call finally returns),
// and also writes the cache, so a slow disk never delays the next poll.
//
// Why a cancel is repeated every few milliseconds until the operation ends:
// it may come between the operation registering itself and opening its
// socket, when there is nothing yet to shut down.
#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sources/source_runner_impl.h"

namespace degrade::internal {
namespace {

constexpr auto kCancelRetry = std::chrono::milliseconds(5);

}  // namespace

void SourceRunner::Impl::SupervisorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const absl::Time next = SuperviseLocked(lock);
    if (stop_) break;
    if (AnyCancelPendingLocked()) {
      // Repeat cancels on real time: see the file comment.
      sup_cv_.wait_for(lock, kCancelRetry);
    } else {
      clock_.WaitUntil(lock, sup_cv_, next, [this] { return stop_ || sup_wake_; });
    }
    sup_wake_ = false;
  }
  // Stopping: cancel whatever is in flight until the loop has left.
  while (!loop_done_) {
    for (auto& [id, op] : ops_) op.stopping = true;
    CancelDueLocked(lock);
    if (liveness_cancel_) {
      std::function<void()> cancel = liveness_cancel_;
      lock.unlock();
      cancel();
      lock.lock();
    }
    sup_cv_.wait_for(lock, kCancelRetry, [this] { return loop_done_; });
  }
}

void SourceRunner::Impl::Supervise() {
  std::unique_lock<std::mutex> lock(mu_);
  SuperviseLocked(lock);
}

// Returns when the supervisor next has something to do.
absl::Time SourceRunner::Impl::SuperviseLocked(std::unique_lock<std::mutex>& lock) {
  const absl::Time now = clock_.Now();
  absl::Time next = absl::InfiniteFuture();
  for (auto& [id, op] : ops_) {
    if (op.expired) continue;
    if (now >= op.deadline) {
      op.expired = true;
      // The strategy's failure (once the call returns) is what is logged.
      MarkUnhealthyLocked(absl::StrCat(op.what, ": no complete answer within ",
                                       absl::FormatDuration(op.budget),
                                       " (stalled; abandoned)"),
                          /*log=*/false);
    } else {
      next = std::min(next, op.deadline);
    }
  }
  if (expect_deadline_ != absl::InfiniteFuture()) {
    if (now >= expect_deadline_) {
      expect_deadline_ = absl::InfiniteFuture();
      MarkUnhealthyLocked(absl::StrCat(config_.source,
                                       ": stalled: no event or progress within ",
                                       absl::FormatDuration(expect_within_),
                                       "; reconnecting"),
                          /*log=*/true);
      if (liveness_cancel_) {
        std::function<void()> cancel = liveness_cancel_;
        lock.unlock();
        cancel();
        lock.lock();
      }
    } else {
      next = std::min(next, expect_deadline_);
    }
  }
  if (config_.stale_after > absl::ZeroDuration() && health_.healthy) {
    const absl::Time stale = last_confirmed_ + config_.stale_after;
    if (now >= stale) {
      MarkUnhealthyLocked(absl::StrCat("no confirmed check for ",
                                       absl::FormatDuration(config_.stale_after),
                                       " (the source is stuck)"),
                          /*log=*/true);
    } else {
      next = std::min(next, stale);
    }
  }
  CancelDueLocked(lock);
  if (cache_pending_ || cache_dirty_) {
    const absl::Time due = last_cache_write_ + config_.cache_min_interval;
    if (now >= due || !cache_written_once_) {
      lock.unlock();
      WriteDueCache(/*force=*/false);
      lock.lock();
    } else {
      next = std::min(next, due);
    }
  }
  return next;
}

// An operation without a cancel (a stat(2) cannot be interrupted) is only
// reported; it is not retried every few milliseconds.
bool SourceRunner::Impl::AnyCancelPendingLocked() const {
  for (const auto& [id, op] : ops_) {
    if ((op.expired || op.stopping) && op.cancel) return true;
  }
  return false;
}

// Calls the cancel of every expired or stopping operation, with mu_
// released; the operation's destructor waits for a cancel in progress.
void SourceRunner::Impl::CancelDueLocked(std::unique_lock<std::mutex>& lock) {
  std::vector<int64_t> due;
  for (auto& [id, op] : ops_) {
    if ((op.expired || op.stopping) && op.cancel) due.push_back(id);
  }
  for (int64_t id : due) {
    auto it = ops_.find(id);
    if (it == ops_.end()) continue;
    it->second.cancelling = true;
    std::function<void()> cancel = it->second.cancel;
    lock.unlock();
    cancel();
    lock.lock();
    it = ops_.find(id);
    if (it != ops_.end()) it->second.cancelling = false;
    cv_.notify_all();
  }
}

void SourceRunner::Impl::Disarm(int64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  // Waiting for a cancel in progress: after this returns the cancel
  // (which may touch the operation's client) is never running.
  cv_.wait(lock, [&] {
    auto it = ops_.find(id);
    return it == ops_.end() || !it->second.cancelling;
  });
  ops_.erase(id);
  sup_wake_ = true;
  sup_cv_.notify_all();
}

bool SourceRunner::Impl::OpExpired(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ops_.find(id);
  return it != ops_.end() && it->second.expired;
}

bool SourceRunner::Impl::OpStopping(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ops_.find(id);
  return stop_ || (it != ops_.end() && it->second.stopping);
}

void SourceRunner::Impl::WriteDueCache(bool force) {
  // Held from taking the pending snapshot to writing it: two writers (the
  // supervisor, and start-up or Stop) must not write in the wrong order.
  std::lock_guard<std::mutex> cache(cache_mu_);
  std::optional<Snapshot> snapshot;
  bool from_watch = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (force && !cache_pending_ && !cache_dirty_) return;
    snapshot = std::move(cache_pending_);
    cache_pending_.reset();
    from_watch = cache_dirty_;
    cache_dirty_ = false;
    last_cache_write_ = clock_.Now();
    cache_written_once_ = true;
  }
  if (from_watch && watch_ != nullptr) snapshot = watch_->WholeView();
  if (!snapshot.has_value()) return;
  cache_.Save(*snapshot);
}

}  // namespace degrade::internal
