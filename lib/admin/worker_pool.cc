// The admin server's worker pool (worker_pool.h).
#include "admin/worker_pool.h"

#include <algorithm>
#include <utility>

namespace degrade::internal {

WorkerPool::WorkerPool(size_t threads, size_t reserved, size_t max_queued)
    : general_limit_(threads - std::min(reserved, threads - 1)), max_queued_(max_queued) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::Submit(Lane lane, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& line = lane == Lane::kAuthenticated ? authenticated_ : general_;
    if (stop_ || line.size() >= max_queued_) return false;
    line.push_back(std::move(task));
    UpdateStarved();
  }
  // Every worker may take an authenticated task, but only some a general
  // one: wake them all rather than one that may not take it.
  cv_.notify_all();
  return true;
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::UpdateStarved() {
  starved_.store(!general_.empty() && busy_general_ >= general_limit_, std::memory_order_relaxed);
}

void WorkerPool::Work() {
  for (;;) {
    std::function<void()> task;
    bool general = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !authenticated_.empty() ||
               (!general_.empty() && busy_general_ < general_limit_);
      });
      if (!authenticated_.empty()) {
        task = std::move(authenticated_.front());
        authenticated_.pop_front();
      } else if (!general_.empty()) {
        task = std::move(general_.front());
        general_.pop_front();
        general = true;
        ++busy_general_;
      } else {
        return;  // stopping, nothing left
      }
      UpdateStarved();
    }
    // A worker must survive anything one connection does.
    try {
      task();
    } catch (...) {
    }
    if (general) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --busy_general_;
        UpdateStarved();
      }
      cv_.notify_all();
    }
  }
}

}  // namespace degrade::internal
