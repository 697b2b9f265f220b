// The admin server's fixed pool of worker threads, in two lanes: requests
// whose head carried the admin token, and all others, which may use every
// worker but `reserved`. Each lane has a bounded line. Not installed.
#ifndef DEGRADE_LIB_ADMIN_WORKER_POOL_H_
#define DEGRADE_LIB_ADMIN_WORKER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace degrade::internal {

class WorkerPool {
 public:
  enum class Lane { kGeneral, kAuthenticated };

  // `threads` workers, `reserved` of them (at most threads - 1) only for
  // the authenticated lane, and up to `max_queued` tasks waiting per lane.
  WorkerPool(size_t threads, size_t reserved, size_t max_queued);
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` in `lane`. False (and `task` is not run): the lane's line
  // is full, or the pool is shutting down. Any thread.
  bool Submit(Lane lane, std::function<void()> task);

  // Runs what is queued (each task closes its socket quickly once the
  // server is stopping), then joins. Idempotent.
  void Shutdown();

  // True while a general task waits and every worker it may use is busy.
  // Any thread.
  bool Starved() const noexcept { return starved_.load(std::memory_order_relaxed); }

 private:
  void UpdateStarved();  // with mu_ held
  void Work();

  const size_t general_limit_;  // workers the general lane may use at once
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> authenticated_;  // guarded by mu_
  std::deque<std::function<void()>> general_;        // guarded by mu_
  size_t busy_general_ = 0;                          // guarded by mu_
  bool stop_ = false;                                // guarded by mu_
  std::atomic<bool> starved_{false};
  std::vector<std::thread> threads_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_WORKER_POOL_H_
