// Shared by the example servers: a clean stop on SIGINT/SIGTERM and a
// cpp-httplib server started on a loopback port (0 = any free one).
//
//   BlockStopSignals();                 // first thing in main, before threads
//   ...start threads and servers...
//   int sig = WaitForStopSignal();      // returns on SIGINT or SIGTERM
//
// Blocking the signals in every thread and collecting them with sigwait()
// in main means no handler runs at an arbitrary point: the program stops
// its servers from ordinary code.
#ifndef DEGRADE_EXAMPLES_SERVE_UTIL_H_
#define DEGRADE_EXAMPLES_SERVE_UTIL_H_

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "httplib.h"

namespace demo {

inline sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
// starts afterwards.
inline void BlockStopSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Waits for SIGINT or SIGTERM; returns the signal number.
inline int WaitForStopSignal() {
  sigset_t set = StopSignals();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

// A cpp-httplib server listening on 127.0.0.1:port (0: any free port) on
// its own thread. Stop() (also run by the destructor) stops and joins it.
class LoopbackServer {
 public:
  explicit LoopbackServer(httplib::Server& server) : server_(server) {}
  ~LoopbackServer() { Stop(); }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  // Binds and starts serving; returns the bound port, or -1 when the port
  // cannot be bound. Listening when this returns (cpp-httplib 0.11.4 has no
  // wait_until_ready: poll is_running()).
  int Start(int port) {
    const int bound = port == 0 ? server_.bind_to_any_port("127.0.0.1")
                                : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
    if (bound < 0) return -1;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return bound;
  }

  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

 private:
  httplib::Server& server_;
  std::thread thread_;
};

}  // namespace demo

#endif  // DEGRADE_EXAMPLES_SERVE_UTIL_H_
