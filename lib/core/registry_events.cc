// Change events: queued in the order the states changed, delivered to the
// listeners and (with SetLogChanges) the log sink outside the registry's
// locks, one thread at a time.
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/registry_core.h"

namespace degrade::internal {

// Called with mu_ held, so events enter the queue in the order their state
// changes happened (lock order: mu_, then deliver_mu_; never the reverse).
void RegistryCore::EnqueueLocked(std::vector<ChangeEvent>& events) {
  if (events.empty()) return;
  MutexLock lock(deliver_mu_);
  AppendPendingLocked(events);
}

// With deliver_mu_ held. A whole batch moves in at once when the queue is
// empty (the usual case), not event by event.
void RegistryCore::AppendPendingLocked(std::vector<ChangeEvent>& events) {
  if (pending_events_.empty()) {
    pending_events_.swap(events);
  } else {
    for (ChangeEvent& e : events) pending_events_.push_back(std::move(e));
  }
  events.clear();
}

void RegistryCore::Deliver(std::vector<ChangeEvent> events, const std::vector<PendingLog>& logs) {
  for (const PendingLog& l : logs) Log(l.level, l.message);
  deliver_mu_.Lock();
  AppendPendingLocked(events);
  if (delivering_) {  // the delivering thread will drain ours too
    deliver_mu_.Unlock();
    return;
  }
  delivering_ = true;
  // The queue is taken a batch at a time and its events handed to the
  // listeners where they lie. Listeners (and the sink) are those of each
  // event: copied again only when one was added or removed, or the sink
  // replaced, since the last event (not once per event of a big batch).
  std::vector<ChangeEvent> batch;
  std::vector<std::shared_ptr<Registry::Listener>> listeners;
  std::shared_ptr<const LogSink> sink;
  std::optional<uint64_t> seen_version;
  while (!pending_events_.empty()) {
    batch.clear();
    batch.swap(pending_events_);
    for (const ChangeEvent& ev : batch) {
      if (seen_version != listeners_version_) {
        listeners.clear();
        listeners.reserve(listeners_.size());
        for (auto& [id, l] : listeners_) listeners.push_back(l);
        sink = sink_;
        seen_version = listeners_version_;
      }
      const bool log_changes = log_changes_.load(std::memory_order_relaxed);
      deliver_mu_.Unlock();
      for (auto& l : listeners) (*l)(ev);
      if (log_changes && *sink) (*sink)(LogLevel::kChange, ChangeEventToJson(ev));
      deliver_mu_.Lock();
    }
  }
  delivering_ = false;
  // A big batch's buffer is not kept for the registry's lifetime.
  std::vector<ChangeEvent>().swap(pending_events_);
  deliver_mu_.Unlock();
}

uint64_t RegistryCore::AddListener(Registry::Listener listener) {
  MutexLock lock(deliver_mu_);
  const uint64_t id = next_listener_id_++;
  listeners_[id] = std::make_shared<Registry::Listener>(std::move(listener));
  ++listeners_version_;
  listener_count_.store(listeners_.size(), std::memory_order_release);
  return id;
}

void RegistryCore::RemoveListener(uint64_t id) {
  MutexLock lock(deliver_mu_);
  listeners_.erase(id);
  ++listeners_version_;
  listener_count_.store(listeners_.size(), std::memory_order_release);
}

void RegistryCore::SetLogSink(LogSink sink) {
  MutexLock lock(deliver_mu_);
  sink_ = std::make_shared<const LogSink>(std::move(sink));
  ++listeners_version_;
}

void RegistryCore::SetLogChanges(bool on) { log_changes_.store(on, std::memory_order_release); }

}  // namespace degrade::internal
