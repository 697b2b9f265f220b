// Bounded waiting for degrade's gtest suites (namespace degrade::test_util;
// tests/test_util.h says how the test helpers are organised).
//
//   Eventually(pred, limit = 5 s)        polls `pred` every 5 ms: true as soon
//                                        as it holds, false after `limit` (a
//                                        bound, never the synchronisation)
//   RunWithDeadline(fn, limit = 10 s)    runs `fn` on its own thread; aborts
//                                        the test binary with a message if it
//                                        has not returned by then (deadlocks)
#ifndef DEGRADE_TESTS_TEST_WAIT_H_
#define DEGRADE_TESTS_TEST_WAIT_H_

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <thread>

namespace degrade::test_util {

inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

inline void RunWithDeadline(const std::function<void()>& fn,
                            std::chrono::seconds limit = std::chrono::seconds(10)) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread worker([&] {
    fn();
    done.set_value();
  });
  if (finished.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: call did not return within %llds (deadlock?)\n",
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  worker.join();
}

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_WAIT_H_
