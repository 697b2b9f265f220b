// Expiry: entries whose expires_at has passed are ignored, admin ones
// removed. A timer thread (Options::timer_threads) calls ProcessExpiries
// when the next entry is due.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/registry_core.h"

namespace degrade::internal {
namespace {

// Longest sleep of the expiry timer while an entry is pending (see ExpiryLoop).
constexpr absl::Duration kExpiryRecheck = absl::Seconds(1);

}  // namespace

void RegistryCore::ScheduleExpiryLocked() {
  std::optional<absl::Time> next;
  const absl::Time now = clock_->Now();
  auto consider_time = [&](const std::optional<absl::Time>& t) {
    if (t && *t > now && (!next || *t < *next)) next = t;
  };
  auto consider = [&](const SwitchValue& v) { consider_time(v.expires_at); };
  for (int l = 1; l < kLayerCount; ++l) {
    const Snapshot& s = *layers_[l];
    for (const auto& [n, v] : s.switches) consider(v);
    for (const auto& [n, v] : s.groups) consider(v);
    if (s.all) consider(*s.all);
    // A shed's and a governor setting's expiry too: the first changes
    // switches, the second what the governor may do.
    if (s.shed) consider_time(s.shed->expires_at);
    if (s.governor) consider_time(s.governor->expires_at);
  }
  next_expiry_ = next;
  if (!next) return;
  // Without timer threads the owner calls ProcessExpiries itself.
  if (timer_threads_ && !expiry_thread_.joinable() && !stop_) {
    expiry_thread_ = std::thread([this] { ExpiryLoop(); });
  }
  expiry_cv_.NotifyAll();
}

void RegistryCore::ExpiryLoop() {
  mu_.Lock();
  while (!stop_) {
    if (!next_expiry_) {
      expiry_cv_.Wait(mu_);
      continue;
    }
    const absl::Duration left = *next_expiry_ - clock_->Now();
    if (left > absl::ZeroDuration()) {
      // The wait runs on the monotonic clock, but expiry times are wall-clock
      // times: wake at least every kExpiryRecheck to notice the wall clock
      // stepping forward (NTP, a VM resumed after a pause) past an expiry.
      expiry_cv_.WaitFor(mu_, std::min(left, kExpiryRecheck));
      continue;
    }
    mu_.Unlock();
    ProcessExpiries();
    mu_.Lock();
  }
  mu_.Unlock();
}

void RegistryCore::ProcessExpiries() {
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old_admin;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    const absl::Time now = clock_->Now();
    std::vector<ChangeEvent>* want = WantEvents() ? &events : nullptr;
    // Each event names what expired for its switch: the highest expired
    // entry among its views, found before the views are recomputed (they
    // still point into the layers as they were).
    absl::flat_hash_map<const Switch*, std::string> expired;
    if (want != nullptr) {
      for (const Switch* sw : switches_) {
        const SwitchData& d = RegistryAccess::Data(*sw);
        for (int l = kLayerCount - 1; l > 0; --l) {
          const SwitchValue* v = d.state_views[l];
          if (v == nullptr || !Expired(*v, now)) {
            v = d.rare != nullptr ? d.rare->fault[l] : nullptr;
            if (v == nullptr || !Expired(*v, now)) continue;
          }
          const ShedEntry* shed = shed_entries_[l].get();
          expired[sw] = absl::StrCat(shed != nullptr && v == &shed->off
                                         ? DescribeShed(static_cast<Layer>(l), shed->shed)
                                         : DescribeEntry(static_cast<Layer>(l), *v),
                                     " expired");
          break;
        }
      }
    }
    // Admin entries are ours: expired ones are removed. Other layers belong
    // to their sources and are only re-evaluated.
    const Snapshot& admin = LayerLocked(Layer::kAdmin);
    auto pruned = std::make_shared<Snapshot>(admin);
    std::erase_if(pruned->switches, [&](const auto& kv) { return Expired(kv.second, now); });
    std::erase_if(pruned->groups, [&](const auto& kv) { return Expired(kv.second, now); });
    if (pruned->all && Expired(*pruned->all, now)) pruned->all.reset();
    if (pruned->shed && pruned->shed->expires_at && *pruned->shed->expires_at <= now) {
      pruned->shed.reset();
    }
    if (pruned->governor && pruned->governor->expires_at && *pruned->governor->expires_at <= now) {
      pruned->governor.reset();
    }
    old_admin = std::exchange(layers_[static_cast<int>(Layer::kAdmin)], std::move(pruned));
    const Cause none = MakeCause("expiry", "");
    for (int l = 1; l < kLayerCount; ++l) {
      RecomputeLayerLocked(static_cast<Layer>(l), now, /*resolve=*/false, none, nullptr);
    }
    for (Switch* sw : switches_) {
      if (want == nullptr) {
        ResolveLocked(*sw, now, none, nullptr);
        continue;
      }
      auto it = expired.find(sw);
      ResolveLocked(*sw, now,
                    MakeCause("expiry", it != expired.end() ? std::move(it->second)
                                                            : std::string("an entry expired")),
                    want);
    }
    ScheduleExpiryLocked();
    ApplyGovernorSettingLocked(now, want);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
}

}  // namespace degrade::internal
