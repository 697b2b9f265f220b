// The governor's registry side: options and their checks, the environment
// variables, the thread that runs a period every options.period, and each
// period's step: drain the latencies, move the controller, map its level
// onto the tiers in use and write the governor layer when an allow moved.
// The rule that the layer only ever reduces lives in ResolveLocked
// (registry_resolve.cc).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "core/env_parse.h"
#include "core/registry_core.h"
#include "core/str_util.h"

namespace degrade {
namespace {

using internal::ToAbsl;

int64_t SteadyNowNs() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool InRange(double v, double lo, double hi) { return !std::isnan(v) && v >= lo && v <= hi; }

}  // namespace

absl::Status ValidateGovernorOptions(const GovernorOptions& o) {
  auto bad = [](std::string_view field, const std::string& value, std::string_view accepted) {
    return absl::InvalidArgumentError(absl::StrCat("governor ", ToAbsl(field), ": ", value,
                                                   " is not valid; accepted: ",
                                                   ToAbsl(accepted)));
  };
  if (o.target <= absl::ZeroDuration() || o.target > absl::Minutes(10)) {
    return bad("target", absl::FormatDuration(o.target), "a duration in (0, 10m]");
  }
  if (!InRange(o.percentile, 0.5, 0.999)) {
    return bad("percentile", absl::StrCat(o.percentile), "a number in [0.5, 0.999]");
  }
  if (o.period < absl::Milliseconds(10) || o.period > absl::Seconds(60)) {
    return bad("period", absl::FormatDuration(o.period), "a duration in [10ms, 60s]");
  }
  if (!InRange(o.gain_down, 0, 1) || o.gain_down == 0) {
    return bad("gain_down", absl::StrCat(o.gain_down), "a number in (0, 1]");
  }
  if (!InRange(o.gain_up, 0, 1) || o.gain_up == 0) {
    return bad("gain_up", absl::StrCat(o.gain_up), "a number in (0, 1]");
  }
  if (!InRange(o.deadband, 0, 0.5)) {
    return bad("deadband", absl::StrCat(o.deadband), "a number in [0, 0.5]");
  }
  if (!InRange(o.recover_below, 0.1, 1)) {
    return bad("recover_below", absl::StrCat(o.recover_below), "a number in [0.1, 1]");
  }
  if (o.min_samples < 1 || o.min_samples > 1'000'000) {
    return bad("min_samples", absl::StrCat(o.min_samples), "a whole number in [1, 1000000]");
  }
  return absl::OkStatus();
}

LatencyTimer::LatencyTimer() noexcept : LatencyTimer(Registry::Global()) {}

LatencyTimer::LatencyTimer(Registry& registry) noexcept
    : registry_(&registry), start_ns_(SteadyNowNs()) {
  internal::RegistryAccess::Core(registry).AddInFlight(1);
}

void LatencyTimer::Finish() noexcept {
  if (done_) return;
  done_ = true;
  internal::RegistryCore& core = internal::RegistryAccess::Core(*registry_);
  core.AddInFlight(-1);
  core.RecordLatency(SteadyNowNs() - start_ns_);
}

void LatencyTimer::Cancel() noexcept {
  if (done_) return;
  done_ = true;
  internal::RegistryAccess::Core(*registry_).AddInFlight(-1);
}

namespace internal {
namespace {

void StopGlobalGovernorThreadAtExit() {
  if (Registry* global = GlobalRegistryIfCreated()) {
    RegistryAccess::Core(*global).StopGovernorThread();
  }
}

// "p95", "p99.9".
std::string PercentileName(double p) { return absl::StrCat("p", absl::StrFormat("%g", p * 100)); }

// "310 ms", "4.5 ms", "0.25 ms".
std::string Millis(double ns) {
  const double ms = ns / 1e6;
  if (ms >= 10) return absl::StrFormat("%.0f ms", ms);
  if (ms >= 1) return absl::StrFormat("%.1f ms", ms);
  return absl::StrFormat("%.2f ms", ms);
}

// "p95 310 ms > target 200 ms", or "no latencies" for a period without.
std::string Figures(const GovernorOptions& o, std::optional<double> y) {
  const double target = absl::ToDoubleNanoseconds(o.target);
  if (!y.has_value()) return "too few latencies to measure";
  return absl::StrCat(PercentileName(o.percentile), " ", Millis(*y),
                      *y > target ? " > target " : " <= target ", Millis(target));
}

}  // namespace

std::optional<GovernorOptions> RegistryCore::GovernorOptionsFromEnv(
    std::vector<PendingLog>& logs) const {
  auto raw_target = Getenv("DEGRADE_GOVERNOR_TARGET_MS");
  auto raw_percentile = Getenv("DEGRADE_GOVERNOR_PERCENTILE");
  auto raw_period = Getenv("DEGRADE_GOVERNOR_PERIOD_MS");
  if (!raw_target.has_value()) {
    if (raw_percentile.has_value() || raw_period.has_value()) {
      logs.push_back({LogLevel::kWarning,
                      "env: DEGRADE_GOVERNOR_PERCENTILE and DEGRADE_GOVERNOR_PERIOD_MS apply only "
                      "with DEGRADE_GOVERNOR_TARGET_MS; no governor"});
    }
    return std::nullopt;
  }
  auto fail = [&](const absl::Status& s) {
    logs.push_back({LogLevel::kError, absl::StrCat("env: ", s.message(), "; no governor")});
    return std::nullopt;
  };
  GovernorOptions o;
  absl::StatusOr<int64_t> target = ParseEnvInteger(
      "DEGRADE_GOVERNOR_TARGET_MS", *raw_target, "a whole number of milliseconds", 1, 600'000);
  if (!target.ok()) return fail(target.status());
  o.target = absl::Milliseconds(*target);
  if (raw_percentile.has_value()) {
    double p = 0;
    const absl::string_view text = absl::StripAsciiWhitespace(ToAbsl(*raw_percentile));
    // Digits and one point only: no sign, exponent, "inf" or "nan".
    if (text.empty() || text.find_first_not_of("0123456789.") != absl::string_view::npos ||
        !absl::SimpleAtod(text, &p) || !InRange(p, 0.5, 0.999)) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("DEGRADE_GOVERNOR_PERCENTILE: \"", ToAbsl(*raw_percentile),
                       "\" is not valid; accepted: a decimal number from 0.5 to 0.999 (0.95 "
                       "for p95)")));
    }
    o.percentile = p;
  }
  if (raw_period.has_value()) {
    absl::StatusOr<int64_t> period = ParseEnvInteger(
        "DEGRADE_GOVERNOR_PERIOD_MS", *raw_period, "a whole number of milliseconds", 10, 60'000);
    if (!period.ok()) return fail(period.status());
    o.period = absl::Milliseconds(*period);
  }
  return o;
}

absl::Status RegistryCore::ConfigureGovernor(GovernorOptions options) {
  if (absl::Status s = ValidateGovernorOptions(options); !s.ok()) return s;
  MutexLock lock(mu_);
  if (!governor_.has_value()) {
    control_ = ControllerState{};
    control_.prev_in_flight = in_flight_.load(std::memory_order_relaxed);
    governor_status_ = GovernorStatus{};
    ReadGovernorSettingLocked(governor_status_, clock_->Now());
    last_step_ns_ = 0;
  }
  governor_ = options;
  if (!timer_threads_ || governor_thread_.joinable() || governor_stop_ || stop_) {
    governor_cv_.NotifyAll();  // a new period length takes effect now
    return absl::OkStatus();
  }
  if (owner_ == GlobalRegistryIfCreated()) {
    static const bool hooked = std::atexit(StopGlobalGovernorThreadAtExit) == 0;
    (void)hooked;
  }
  governor_thread_ = std::thread([this] { GovernorLoop(); });
  return absl::OkStatus();
}

void RegistryCore::GovernorLoop() {
  mu_.Lock();
  while (!governor_stop_) {
    if (!governor_.has_value()) {
      governor_cv_.Wait(mu_);
      continue;
    }
    governor_cv_.WaitFor(mu_, governor_->period);
    if (governor_stop_) break;
    // A period is due when its length has passed since the last one (a
    // wake for new options is not one).
    const int64_t due = last_step_ns_ + absl::ToInt64Nanoseconds(governor_->period);
    if (last_step_ns_ != 0 && SteadyNowNs() < due - 1'000'000) continue;
    mu_.Unlock();
    StepGovernor();
    mu_.Lock();
  }
  mu_.Unlock();
}

void RegistryCore::StopGovernorThread() {
  std::thread thread;
  {
    MutexLock lock(mu_);
    governor_stop_ = true;
    thread.swap(governor_thread_);
  }
  governor_cv_.NotifyAll();
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();
  } else {
    thread.join();
  }
}

void RegistryCore::StopGovernor() {
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;
  {
    MutexLock step(step_mu_);
    MutexLock lock(mu_);
    if (!governor_.has_value()) return;
    governor_.reset();
    governor_status_ = GovernorStatus{};
    control_ = ControllerState{};
    if (!LayerLocked(Layer::kGovernor).empty()) {
      ReplaceLayerLocked(Layer::kGovernor, std::make_shared<const Snapshot>(),
                         MakeCause("governor", "governor stopped"),
                         WantEvents() ? &events : nullptr, old);
    }
    EnqueueLocked(events);
  }
  governor_cv_.NotifyAll();
  Deliver(std::move(events), {});
}

GovernorStatus RegistryCore::Governor() const {
  MutexLock lock(mu_);
  GovernorStatus out = governor_status_;
  out.configured = governor_.has_value();
  if (governor_.has_value()) out.options = *governor_;
  if (!out.configured) ReadGovernorSettingLocked(out, clock_->Now());
  out.in_flight = in_flight_.load(std::memory_order_relaxed);
  return out;
}

void RegistryCore::StepGovernor() {
  MutexLock step(step_mu_);
  // The drain is outside mu_: requests record all along, and a reader of
  // the status never waits for 481 atomic exchanges.
  LatencyHistogram::Counts counts;
  const uint64_t total = latencies_.Drain(counts);
  const int64_t in_flight = std::max<int64_t>(0, in_flight_.load(std::memory_order_relaxed));
  const int64_t now_ns = SteadyNowNs();
  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  std::shared_ptr<const Snapshot> old;
  {
    MutexLock lock(mu_);
    if (!governor_.has_value()) return;
    const GovernorOptions& o = *governor_;
    const absl::Time now = clock_->Now();
    const double period_ns = last_step_ns_ == 0 ? absl::ToDoubleNanoseconds(o.period)
                                                : static_cast<double>(now_ns - last_step_ns_);
    last_step_ns_ = now_ns;
    GovernorStatus& st = governor_status_;
    const bool was_enabled = st.enabled || st.periods == 0;
    ReadGovernorSettingLocked(st, now);
    PeriodFigures figures;
    figures.samples = total;
    figures.in_flight = in_flight;
    if (total >= o.min_samples) figures.measured_ns = QuantileOf(counts, total, o.percentile);
    std::optional<double> acted;
    if (st.enabled) {
      acted = StepController(o, period_ns, figures, control_);
    } else {
      control_ = ControllerState{};
      control_.prev_in_flight = in_flight;
    }
    if (st.enabled != was_enabled) {
      logs.push_back({LogLevel::kInfo, st.enabled ? "governor turned on"
                                                  : absl::StrCat("governor turned off by ",
                                                                 st.setting_actor)});
    }
    st.samples = total;
    st.measured = figures.measured_ns.has_value()
                      ? std::optional(absl::Nanoseconds(*figures.measured_ns))
                      : std::nullopt;
    st.served = control_.served;
    ++st.periods;
    st.last_period = now;

    WriteGovernorLayerLocked(Figures(o, acted), WantEvents() ? &events : nullptr);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), logs);
}

void RegistryCore::WriteGovernorLayerLocked(const std::string& figures_text,
                                            std::vector<ChangeEvent>* events,
                                            const std::string* cause_reason) {
  GovernorStatus& st = governor_status_;
  const double served = st.enabled ? control_.served : 1.0;
  // The tiers in use that it may touch, highest (shed first) first.
  std::vector<int> tiers;
  for (const Switch* sw : switches_) {
    const int t = RegistryAccess::Data(*sw).tier;
    if (t != 0 && t >= st.cap) tiers.push_back(t);
  }
  std::sort(tiers.begin(), tiers.end(), std::greater<>());
  tiers.erase(std::unique(tiers.begin(), tiers.end()), tiers.end());
  const std::vector<double> allows = TierAllows(served, tiers);
  st.tier = 0;
  st.tier_allow = 1.0;
  st.tiers_off = 0;
  // `tier`: the lowest tier it touches now, dimmed or off.
  for (size_t j = 0; j < tiers.size() && allows[j] < 1; ++j) {
    if (allows[j] <= 0) ++st.tiers_off;
    st.tier = tiers[j];
    st.tier_allow = allows[j];
  }

  // The layer: an entry per dimmed switch. An entry whose allow did not
  // move is kept as it is (its reason too), so a steady level writes
  // nothing and makes no events.
  const Snapshot& current = LayerLocked(Layer::kGovernor);
  auto next = std::make_shared<Snapshot>();
  for (const Switch* sw : switches_) {
    const SwitchData& d = RegistryAccess::Data(*sw);
    auto at = std::find(tiers.begin(), tiers.end(), d.tier);
    if (d.tier == 0 || at == tiers.end()) continue;
    const double a = allows[static_cast<size_t>(at - tiers.begin())];
    if (a >= 1) continue;
    if (auto it = current.switches.find(d.name); it != current.switches.end()) {
      const SwitchValue& v = it->second;
      const bool same = a <= 0 ? v.state == State::kOff
                               : (!v.state.has_value() && v.allow.has_value() && *v.allow == a);
      if (same) {
        next->switches.emplace(d.name, v);
        continue;
      }
    }
    SwitchValue v;
    v.actor = "governor";
    if (a <= 0) {
      v.state = State::kOff;
      v.reason = absl::StrCat("governor turned ", d.name, " off: ", figures_text);
    } else {
      v.allow = a;
      v.reason = absl::StrCat("governor dimmed ", d.name, " to ",
                              absl::StrFormat("%.0f", a * 100), "%: ", figures_text);
    }
    next->switches.emplace(d.name, std::move(v));
  }
  if (next->switches != current.switches) {
    Cause cause = MakeCause(
        "governor", cause_reason != nullptr ? *cause_reason
                    : served >= 1
                        ? absl::StrCat("governor restored full service: ", figures_text)
                        : absl::StrCat("governor serves ", absl::StrFormat("%.0f", served * 100),
                                       "% of tiered work: ", figures_text));
    cause.entries_of = Layer::kGovernor;
    std::shared_ptr<const Snapshot> old;  // small: freed under the lock
    ReplaceLayerLocked(Layer::kGovernor, std::move(next), cause, events, old);
  }
}

void RegistryCore::ReadGovernorSettingLocked(GovernorStatus& status, absl::Time now) const {
  status.enabled = true;
  status.cap = 1;
  status.setting_layer.reset();
  status.setting_actor.clear();
  status.setting_reason.clear();
  bool enabled_set = false;
  bool cap_set = false;
  // Field by field, the highest layer whose setting has not expired.
  for (int l = kLayerCount - 1; l > 0 && !(enabled_set && cap_set); --l) {
    const std::optional<GovernorSetting>& g = layers_[l]->governor;
    if (!g.has_value() || (g->expires_at.has_value() && *g->expires_at <= now)) continue;
    bool said = false;
    if (!enabled_set && g->enabled.has_value()) {
      status.enabled = *g->enabled;
      enabled_set = said = true;
    }
    if (!cap_set && g->cap.has_value()) {
      status.cap = *g->cap;
      cap_set = said = true;
    }
    if (said && !status.setting_layer.has_value()) {
      status.setting_layer = std::string(LayerName(static_cast<Layer>(l)));
      status.setting_actor = g->actor;
      status.setting_reason = g->reason;
    }
  }
}

void RegistryCore::ApplyGovernorSettingLocked(absl::Time now, std::vector<ChangeEvent>* events) {
  if (!governor_.has_value()) return;
  GovernorStatus& st = governor_status_;
  const bool was_enabled = st.enabled;
  const int was_cap = st.cap;
  ReadGovernorSettingLocked(st, now);
  if (st.enabled == was_enabled && st.cap == was_cap) return;
  if (!st.enabled) {
    control_ = ControllerState{};
    control_.prev_in_flight = in_flight_.load(std::memory_order_relaxed);
    st.served = 1.0;
  }
  std::string why = st.enabled ? absl::StrCat("governor capped at tier ", st.cap)
                               : std::string("governor turned off");
  if (st.setting_layer.has_value()) {
    absl::StrAppend(&why, " by ", st.setting_actor.empty() ? *st.setting_layer : st.setting_actor);
    if (!st.setting_reason.empty()) absl::StrAppend(&why, ": ", st.setting_reason);
  }
  WriteGovernorLayerLocked(why, events, &why);
}

absl::Status RegistryCore::SetGovernorSetting(std::optional<GovernorSetting> setting,
                                              absl::Duration ttl, Cause cause) {
  if (ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("governor: ttl ", absl::FormatDuration(ttl),
                     " is negative; accepted: a positive duration, or zero for none"));
  }
  if (setting.has_value()) {
    if (absl::Status s = ValidateGovernorSetting(*setting, "governor"); !s.ok()) return s;
    if (setting->actor.empty()) setting->actor = cause.actor.empty() ? "api" : cause.actor;
    if (cause.actor.empty()) cause.actor = setting->actor;
  } else if (cause.actor.empty()) {
    cause.actor = "api";
  }
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    const Snapshot& admin = LayerLocked(Layer::kAdmin);
    if (!setting.has_value() && !admin.governor.has_value()) return absl::OkStatus();
    if (setting.has_value() && ttl > absl::ZeroDuration()) {
      setting->expires_at = clock_->Now() + ttl;
    }
    if (cause.reason.empty()) {
      cause.reason = setting.has_value()
                         ? absl::StrCat("admin governor setting by ", setting->actor)
                         : std::string("admin governor setting cleared");
    }
    auto next = std::make_shared<Snapshot>(admin);
    next->governor = std::move(setting);
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), cause, WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status SetGovernorSettingWithCause(Registry& registry,
                                         std::optional<GovernorSetting> setting, Cause cause) {
  return RegistryAccess::Core(registry).SetGovernorSetting(std::move(setting),
                                                           absl::ZeroDuration(), std::move(cause));
}

}  // namespace internal

absl::Status Registry::SetGovernorSetting(std::optional<GovernorSetting> setting,
                                          absl::Duration ttl) {
  return core_->SetGovernorSetting(std::move(setting), ttl, internal::MakeCause("", ""));
}

absl::Status Registry::ConfigureGovernor(GovernorOptions options) {
  return core_->ConfigureGovernor(options);
}
void Registry::StopGovernor() { core_->StopGovernor(); }
GovernorStatus Registry::governor() const { return core_->Governor(); }
void Registry::RecordLatency(absl::Duration latency) noexcept {
  core_->RecordLatency(std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency)));
}
void Registry::StepGovernor() { core_->StepGovernor(); }

}  // namespace degrade
