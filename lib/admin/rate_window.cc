// Per-switch rates over the last minute (rate_window.h).
#include "admin/rate_window.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace degrade::internal {
namespace {

// Shorter than this, a difference of counters says more about when the
// samples fell than about the rate.
constexpr absl::Duration kMinCovered = absl::Seconds(1);

RateWindow::Options Clamped(RateWindow::Options o) {
  if (o.interval <= absl::ZeroDuration()) o.interval = absl::Seconds(5);
  o.window = std::max(o.window, o.interval);
  return o;
}

uint64_t Since(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

// Whole events per minute: over at most a minute, one event counts as at
// least one.
uint64_t PerMinute(uint64_t delta, absl::Duration covered) {
  return static_cast<uint64_t>(
      std::llround(static_cast<double>(delta) * absl::FDivDuration(absl::Minutes(1), covered)));
}

}  // namespace

RateWindow::RateWindow(const Registry& registry, Options options)
    : registry_(registry),
      options_(Clamped(options)),
      // One sample per interval across the window, and the one just outside
      // it that a sample falling late would otherwise leave missing.
      capacity_(static_cast<size_t>(options_.window / options_.interval) + 1) {
  Sample();
  if (options_.thread) thread_ = std::thread([this] { Run(); });
}

RateWindow::~RateWindow() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void RateWindow::Run() {
  while (true) {
    {
      MutexLock lock(mu_);
      const absl::Time due = absl::Now() + options_.interval;
      while (!stop_ && absl::Now() < due) wake_.WaitFor(mu_, due - absl::Now());
      if (stop_) return;
    }
    Sample();
  }
}

void RateWindow::Sample() {
  // List() outside our lock: it takes the registry's.
  const std::vector<SwitchInfo> infos = registry_.List();
  const absl::Time now = registry_.clock().Now();
  MutexLock lock(mu_);
  std::map<std::string, Ring, std::less<>> next;
  for (const SwitchInfo& info : infos) {
    if (!info.defined) continue;
    auto node = rings_.extract(info.name);
    Ring ring = node.empty() ? Ring{} : std::move(node.mapped());
    if (ring.points.size() != capacity_) ring.points.assign(capacity_, Point{});
    ring.points[ring.next] = Point{.time = now,
                                   .calls = info.counters.calls,
                                   .fallbacks = info.counters.fallbacks,
                                   .failures = info.counters.primary_failures};
    ring.next = (ring.next + 1) % capacity_;
    ring.size = std::min(ring.size + 1, capacity_);
    next.emplace(info.name, std::move(ring));
  }
  // Names no longer listed leave with the rings not moved over.
  rings_ = std::move(next);
}

std::optional<RateWindow::Rate> RateWindow::RateOf(const std::string& name,
                                                   const Counters& counters) const {
  const absl::Time now = registry_.clock().Now();
  MutexLock lock(mu_);
  auto it = rings_.find(name);
  if (it == rings_.end()) return std::nullopt;
  const Ring& ring = it->second;
  const Point* oldest = nullptr;
  for (size_t i = 0; i < ring.size; ++i) {
    const Point& p = ring.points[i];
    if (p.time > now || now - p.time > options_.window) continue;
    if (oldest == nullptr || p.time < oldest->time) oldest = &p;
  }
  if (oldest == nullptr || now - oldest->time < kMinCovered) return std::nullopt;
  const absl::Duration covered = now - oldest->time;
  return Rate{.calls_per_min = PerMinute(Since(counters.calls, oldest->calls), covered),
              .fallbacks_per_min = PerMinute(Since(counters.fallbacks, oldest->fallbacks), covered),
              .failures_per_min =
                  PerMinute(Since(counters.primary_failures, oldest->failures), covered),
              .covered = covered};
}

void RateWindow::AddTo(nlohmann::json& switch_json) const {
  nlohmann::json& out = switch_json["rate_1m"];
  out = nullptr;
  const auto name = switch_json.find("name");
  const auto defined = switch_json.find("defined");
  const auto c = switch_json.find("counters");
  if (name == switch_json.end() || !name->is_string() || defined == switch_json.end() ||
      !defined->is_boolean() || !defined->get<bool>() || c == switch_json.end() ||
      !c->is_object()) {
    return;
  }
  const auto count = [&](const char* key) -> uint64_t {
    const auto v = c->find(key);
    return v != c->end() && v->is_number_unsigned() ? v->get<uint64_t>() : 0;
  };
  Counters counters;
  counters.calls = count("calls");
  counters.fallbacks = count("fallbacks");
  counters.primary_failures = count("primary_failures");
  const std::optional<Rate> rate = RateOf(name->get<std::string>(), counters);
  if (!rate) return;
  out = {{"calls", rate->calls_per_min},
         {"fallbacks", rate->fallbacks_per_min},
         {"failures", rate->failures_per_min},
         // Tenths of a second: what a reader can use, without float noise.
         {"window_s", std::round(absl::ToDoubleSeconds(rate->covered) * 10) / 10}};
}

void RateWindow::AddToListing(nlohmann::json& listing) const {
  const auto switches = listing.find("switches");
  if (switches == listing.end() || !switches->is_array()) return;
  for (nlohmann::json& s : *switches) AddTo(s);
}

}  // namespace degrade::internal
