// Breakers: attaching each switch's breaker (core/breaker_engine.h) to the
// policy its layers decide, and evaluating them, on a thread every
// kBreakerTick (Options::timer_threads) or when ProcessBreakers is called.
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/registry_core.h"
#include "degrade/internal/counters.h"

namespace degrade::internal {
namespace {

constexpr absl::Duration kBreakerTick = absl::Milliseconds(25);

// Registry::Global(), once created, is never destroyed, so its breaker
// thread is stopped at exit instead, before the statics that thread may
// touch (DEGRADE_SWITCH globals, listeners' state, the log sink) go away.
// Other registries stop theirs in their destructor.
void StopGlobalBreakerThreadAtExit() {
  if (Registry* global = GlobalRegistryIfCreated()) {
    RegistryAccess::Core(*global).StopBreakerThread();
  }
}

}  // namespace

void RegistryCore::SyncBreakerLocked(Switch& sw, absl::Time now) {
  SwitchData& d = RegistryAccess::Data(sw);
  const SwitchValue* entry = nullptr;
  Layer layer = Layer::kDefault;
  if (d.rare != nullptr) {
    for (int l = kLayerCount - 1; l >= 0 && entry == nullptr; --l) {
      if (d.rare->breaker[l] != nullptr) {
        entry = d.rare->breaker[l];
        layer = static_cast<Layer>(l);
      }
    }
  }
  const BreakerPolicy* policy =
      entry != nullptr && entry->breaker.has_value() ? &*entry->breaker : nullptr;
  if (policy == nullptr) {
    if (d.breaker == nullptr || !d.breaker->attached()) return;
    const bool held_off = d.breaker->holds_off();
    d.observer.store(nullptr, std::memory_order_release);
    d.breaker->Detach();
    d.breaker_layer.reset();
    std::erase(breaker_switches_, &sw);
    if (held_off) ComputeViewLocked(d, Layer::kBreaker, now);
    return;
  }
  if (d.breaker == nullptr) {
    d.breaker = std::make_unique<Breaker>(clock_ == &Clock::Real() ? nullptr : clock_);
  }
  if (d.breaker->attached()) {
    if (d.breaker->policy() != *policy || d.breaker_layer != layer) {
      d.breaker->Reconfigure(*policy, layer);
    }
  } else {
    d.breaker->Attach(*policy, layer, ReadOutcomes(RegistryAccess::Id(sw)),
                      d.breaker->NowNs());
    breaker_switches_.push_back(&sw);
    d.observer.store(d.breaker.get(), std::memory_order_release);
    StartBreakerThreadLocked();
  }
  d.breaker_layer = layer;
}

void RegistryCore::StartBreakerThreadLocked() {
  if (breaker_thread_.joinable() || breaker_stop_ || stop_) {
    breaker_cv_.NotifyAll();
    return;
  }
  if (!timer_threads_) return;  // the owner calls ProcessBreakers itself
  if (owner_ == GlobalRegistryIfCreated()) {
    static const bool hooked = std::atexit(StopGlobalBreakerThreadAtExit) == 0;
    (void)hooked;
  }
  breaker_thread_ = std::thread([this] { BreakerLoop(); });
}

void RegistryCore::StopBreakerThread() {
  std::thread thread;
  {
    MutexLock lock(mu_);
    breaker_stop_ = true;
    thread.swap(breaker_thread_);
  }
  breaker_cv_.NotifyAll();
  if (!thread.joinable()) return;
  // exit() called by a listener on the breaker thread itself: it cannot
  // join itself; it stops at its next check of breaker_stop_.
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();
  } else {
    thread.join();
  }
}

void RegistryCore::BreakerLoop() {
  mu_.Lock();
  while (!breaker_stop_) {
    if (breaker_switches_.empty()) {
      breaker_cv_.Wait(mu_);
      continue;
    }
    breaker_cv_.WaitFor(mu_, kBreakerTick);
    if (breaker_stop_) break;
    mu_.Unlock();
    ProcessBreakers();
    mu_.Lock();
  }
  mu_.Unlock();
}

void RegistryCore::ProcessBreakers() {
  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  {
    MutexLock lock(mu_);
    const absl::Time now = clock_->Now();
    std::vector<ChangeEvent>* want = WantEvents() ? &events : nullptr;
    // By index: resolving a switch never attaches another breaker, but the
    // list is the registry's, not ours to hold iterators into.
    for (size_t i = 0; i < breaker_switches_.size(); ++i) {  // NOLINT(modernize-loop-convert): see above
      Switch& sw = *breaker_switches_[i];
      SwitchData& d = RegistryAccess::Data(sw);
      Breaker& b = *d.breaker;
      std::optional<Breaker::Transition> t =
          b.Evaluate(ReadOutcomes(RegistryAccess::Id(sw)), b.NowNs(), now, d.name);
      if (!t) continue;
      logs.push_back({t->to == BreakerState::kOpen ? LogLevel::kWarning : LogLevel::kInfo,
                      std::move(t->message)});
      // Closing changes no layer, but it is a breaker transition the audit
      // trail records, as are opening and half-opening where a higher
      // layer decides the switch (always).
      if (t->to != BreakerState::kClosed) ComputeViewLocked(d, Layer::kBreaker, now);
      ResolveLocked(sw, now, MakeCause("breaker", std::move(t->reason), /*always=*/true),
                    want);
    }
    EnqueueLocked(events);
  }
  Deliver(std::move(events), logs);
}

}  // namespace degrade::internal
