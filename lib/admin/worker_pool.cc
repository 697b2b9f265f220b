// The admin server's worker pool (worker_pool.h).
#include "admin/worker_pool.h"

#include <utility>

namespace degrade::internal {

WorkerPool::WorkerPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() < max_queued_) {
      queue_.push_back(std::move(fn));
      UpdateStarved();
      fn = nullptr;
    }
  }
  if (fn == nullptr) {
    cv_.notify_one();
    return;
  }
  // Beyond the line: the task runs here, on the accept thread, where the
  // server refuses the connection without waiting for anything.
  try {
    fn();
  } catch (...) {
  }
}

void WorkerPool::shutdown() {
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
  starved_.store(queue_.size() > idle_, std::memory_order_relaxed);
}

void WorkerPool::Work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_;
      UpdateStarved();
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) {
        UpdateStarved();
        return;
      }
      fn = std::move(queue_.front());
      queue_.pop_front();
      UpdateStarved();
    }
    // A worker must survive anything one connection does.
    try {
      fn();
    } catch (...) {
    }
  }
}

}  // namespace degrade::internal
