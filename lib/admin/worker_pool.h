// The admin server's fixed pool of worker threads with a bounded line of
// accepted connections waiting for one (http_server.h). Not installed.
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

#include "httplib.h"

namespace degrade::internal {

// cpp-httplib's accept loop hands each accepted connection to enqueue() as
// a task that serves it. The pool runs `threads` tasks at once and keeps up
// to `max_queued` waiting; a task beyond that line is run at once on the
// calling (accept) thread, which is how the server knows to refuse that
// connection instead of serving it (BoundedServer::process_and_close_socket).
// It also says when connections wait with no idle worker (Starved), so that
// keep-alive connections make way.
class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(size_t threads, size_t max_queued);
  ~WorkerPool() override;

  // From the accept thread only.
  void enqueue(std::function<void()> fn) override;

  // Runs what is queued (each task closes its socket quickly once the
  // server is stopping), then joins. Idempotent.
  void shutdown() override;

  // True while some accepted connection waits and no worker is idle. Any
  // thread.
  bool Starved() const noexcept { return starved_.load(std::memory_order_relaxed); }

 private:
  void UpdateStarved();  // with mu_ held
  void Work();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t idle_ = 0;                          // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::atomic<bool> starved_{false};
  std::vector<std::thread> threads_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_WORKER_POOL_H_
