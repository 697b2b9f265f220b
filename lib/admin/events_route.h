// The admin endpoint's change stream, GET /degrade/v1/events: a bounded ring
// of the registry's recent change events, each numbered, that a client
// (degradectl watch) reads from where it left off, with a short long-poll.
// docs/audit.md has the contract. Not installed.
//
//   GET /degrade/v1/events?after=SEQ&wait_ms=N
//   200 {"events":[{...ChangeEventToJson's fields..., "seq":N}, ...],
//        "next":SEQ, "missed":N}
//
// `after` omitted starts from now (no events, "next" is the latest number);
// `after=0` is everything the ring still holds. "missed" counts the events
// after `after` that the ring no longer holds (it keeps the last 1,024).
// `wait_ms` (0 to 2000, default 0) waits that long for an event when there
// is none yet; at most kMaxWaiters requests wait at once (the others answer
// at once), so long-polls never hold more than two of the server's workers.
#ifndef DEGRADE_LIB_ADMIN_EVENTS_ROUTE_H_
#define DEGRADE_LIB_ADMIN_EVENTS_ROUTE_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "degrade/registry.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

class EventRing {
 public:
  static constexpr size_t kCapacity = 1024;
  static constexpr int64_t kMaxWaitMs = 2000;
  static constexpr size_t kMaxWaiters = 2;

  // Listens to `registry` until destroyed. `registry` outlives the ring.
  explicit EventRing(Registry& registry);
  ~EventRing();

  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Wakes every waiting request, which answers at once; later requests do
  // not wait. Called before the server stops. Any thread.
  void Close();

  // The answer to a GET of the route: the 200 body, or InvalidArgument
  // (a 400) with a message naming the bad parameter and what is accepted.
  // Blocks up to wait_ms. Any thread.
  absl::StatusOr<nlohmann::json> Serve(const httplib::Request& req);

 private:
  // Shared with the registry's listener, which a delivery already under
  // way may still call after RemoveListener returns: it keeps this alive.
  struct Shared {
    void Push(const ChangeEvent& event);

    std::mutex mu;
    std::condition_variable cv;
    // Events are kept as they came and formatted when read: a change of
    // thousands of switches costs copies here, not thousands of JSON lines.
    std::deque<std::pair<uint64_t, ChangeEvent>> ring;  // guarded by mu
    uint64_t last_seq = 0;                              // guarded by mu
    size_t waiters = 0;                                 // guarded by mu
    bool closed = false;                                // guarded by mu
  };

  Registry& registry_;
  const std::shared_ptr<Shared> s_;
  uint64_t listener_ = 0;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_EVENTS_ROUTE_H_
