// Where plain-HTTP admin connections wait for a complete request head,
// without a worker: one thread polls them all, so slow or idle connections
// cost a descriptor each, never a worker (docs/security.md, "slow
// connections"). Not installed.
#ifndef DEGRADE_LIB_ADMIN_HEAD_GATE_H_
#define DEGRADE_LIB_ADMIN_HEAD_GATE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "admin/admin_config.h"

namespace degrade::internal {

// A connection the gate holds or hands on.
struct GateConnection {
  int fd = -1;
  size_t served = 0;     // requests answered on it so far
  bool trusted = false;  // its last request carried the admin token
};

// The gate peeks (MSG_PEEK: the bytes stay in the socket for the worker's
// parser) until the head is complete or as large as the header limits
// allow, then hands the connection on with whether the head carries the
// admin token (`Dispatch`). It closes a connection that has not completed
// its head within head_timeout of the head's first byte, or sent nothing
// within keep_alive_timeout, and at once one whose client ended its side of
// the stream (a half-close) before the end of a head (answered 400). When it holds max_pending_connections, or
// max_pending_per_peer from one peer address, a new connection evicts the
// oldest one that is not trusted (a connection whose last request carried
// the token is evicted only when no other is left), so a crowd of slow
// connections cannot keep out an operator's new one.
class HeadGate {
 public:
  // Called on the gate's thread with a connection whose head is complete
  // (or over the limits: the worker's parser answers it).
  using Dispatch = std::function<void(GateConnection, bool authenticated)>;

  // `config` outlives the gate. Starts the gate's thread.
  HeadGate(const AdminConfig& config, Dispatch dispatch);
  // Stops the thread and closes every connection it holds.
  ~HeadGate();

  HeadGate(const HeadGate&) = delete;
  HeadGate& operator=(const HeadGate&) = delete;

  // Takes `c` (a connected, non-blocking socket). Any thread.
  void Adopt(GateConnection c);

 private:
  struct Pending {
    GateConnection c;
    std::string peer;
    absl::Time since;
    uint64_t order = 0;  // arrival order: the lowest is the oldest
    absl::Time first_byte = absl::InfiniteFuture();
    size_t peeked = 0;
  };

  void Run();
  void Admit(std::vector<GateConnection>& arrived);
  void Evict(const std::string& peer, bool same_peer);
  // False: done with it (dispatched or closed).
  // `peer_closed`: poll saw the peer's end of stream (POLLRDHUP, POLLHUP).
  bool Check(Pending& p, absl::Time now, bool peer_closed);
  bool Expired(const Pending& p, absl::Time now) const;

  const AdminConfig& config_;
  const Dispatch dispatch_;
  const int wake_fd_;  // an eventfd: Adopt and the destructor wake the thread
  std::mutex mu_;
  std::vector<GateConnection> inbox_;  // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::vector<Pending> pending_;       // the gate thread's own
  std::string scratch_;                // the gate thread's own
  uint64_t arrivals_ = 0;              // the gate thread's own
  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_HEAD_GATE_H_
