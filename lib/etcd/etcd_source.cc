// etcd source. See etcd_source.h for the behaviour.
//
// Why the last revision seen comes from the events' mod_revision and not the
// message header: a watcher catching up gets batches stamped with the
// store's current revision while later batches are still to come, so the
// header may run ahead of what has been delivered. Only a progress
// notification (sent to a watcher that is caught up) vouches for its header.
//
// Why an entry whose mod_revision is unchanged is not parsed again on a
// re-range: a value with ttl_s becomes expires_at = now + ttl_s when parsed;
// parsing it again after a reconnect would push its expiry back.
//
// Why a watched revision is applied as a delta and the prefix as a whole: a
// revision names the few keys that changed, and applying only those keeps
// the cost of a change independent of the prefix's size (10,000 keys made
// each change re-apply 10,000 entries); a range is the whole truth, and
// replacing the layer with it also drops whatever the cache had applied.
#include "etcd/etcd_source.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "etcd/etcd_json.h"
#include "core/layer_delta.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr double kBackoffJitter = 0.20;
constexpr size_t kBadKeysShown = 5;

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

std::string NormalizeEtcdPrefix(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty() && out.back() == '/') out.pop_back();
  out.push_back('/');
  return out;
}

absl::Status EtcdSource::Validate(const Config& config) {
  if (absl::Status s = EtcdClient::Validate(config.client); !s.ok()) return s;
  if (config.prefix.empty()) {
    return absl::InvalidArgumentError(
        "etcd_prefix is empty; accepted: a key prefix such as /degrade/shop");
  }
  if (config.backoff_initial <= absl::ZeroDuration() ||
      config.backoff_max < config.backoff_initial) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd backoff ", absl::FormatDuration(config.backoff_initial), " to ",
        absl::FormatDuration(config.backoff_max),
        " is not valid; accepted: 0 < backoff_initial <= backoff_max"));
  }
  if (config.liveness_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd liveness_interval ", absl::FormatDuration(config.liveness_interval),
        " is negative; accepted: a positive duration (default 3s), or 0 for no checks"));
  }
  if (config.cache_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd cache_interval ", absl::FormatDuration(config.cache_interval),
        " is negative; accepted: a duration of 0 or more (default 1s)"));
  }
  if (config.stuck_after < 1) {
    return absl::InvalidArgumentError(absl::StrCat("etcd stuck_after ", config.stuck_after,
                                                   " is below 1; accepted: 1 or more (default 3)"));
  }
  return absl::OkStatus();
}

EtcdSource::EtcdSource(Registry& registry, Config config)
    : registry_(registry),
      config_(std::move(config)),
      prefix_(NormalizeEtcdPrefix(config_.prefix)),
      range_end_(EtcdPrefixEnd(prefix_)),
      source_(absl::StrCat("etcd ", prefix_)),
      client_(config_.client),
      cache_(registry, config_.cache_file) {
  // Not std::random_device: it may throw. Jitter needs spread, not secrecy.
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  std::seed_seq seed{static_cast<uint64_t>(ticks),
                     static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this))};
  rng_.seed(seed);
  health_.name = "etcd";
  health_.target = absl::StrCat(absl::StrJoin(config_.client.endpoints, ", "), " ", prefix_);
  health_.healthy = false;

  if (!Sync()) cache_.ApplyAtStart("no etcd endpoint answered at start");
  thread_ = std::thread([this] { Loop(); });
  if (!config_.cache_file.empty()) cache_thread_ = std::thread([this] { CacheLoop(); });
}

EtcdSource::~EtcdSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  client_.Stop();  // interrupts the watch or request in flight
  thread_.join();
  if (cache_thread_.joinable()) cache_thread_.join();
}

EtcdSource::Stats EtcdSource::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

bool EtcdSource::Update(std::map<std::string, Entry>& entries, const std::string& key,
                        const std::optional<std::string>& value, int64_t mod_revision) {
  const std::string_view rel = std::string_view(key).substr(
      absl::StartsWith(key, prefix_) ? prefix_.size() : key.size());
  Kind kind = Kind::kOutside;
  std::string name;
  if (!absl::StartsWith(key, prefix_)) {
    kind = Kind::kOutside;
  } else if (rel == "all") {
    kind = Kind::kAll;
  } else if (absl::StartsWith(ToAbsl(rel), "switches/")) {
    kind = Kind::kSwitch;
    name = std::string(rel.substr(9));
  } else if (absl::StartsWith(ToAbsl(rel), "groups/")) {
    kind = Kind::kGroup;
    name = std::string(rel.substr(7));
  }
  if (kind == Kind::kOutside) {
    if (warned_outside_.insert(key).second) {
      registry_.Log(LogLevel::kWarning,
                    absl::StrCat("etcd key ", key, ": outside the layout, ignored; accepted: ",
                                 prefix_, "switches/NAME, ", prefix_, "groups/GROUP, ", prefix_,
                                 "all"));
    }
    return false;
  }
  if (!value.has_value()) {
    entries.erase(key);
    bad_.erase(key);
    return true;
  }
  Entry& e = entries[key];
  e.kind = kind;
  e.name = name;
  e.mod_revision = mod_revision;
  const std::string source = absl::StrCat("etcd key ", key);
  e.error.clear();
  if (kind != Kind::kAll) {
    absl::Status s =
        ValidateName(name, kind == Kind::kSwitch ? "switch name" : "group name");
    if (!s.ok()) e.error = absl::StrCat(source, ": ", s.message());
  }
  if (e.error.empty()) {
    std::vector<std::string> warnings;
    absl::StatusOr<SwitchValue> parsed =
        ParseSwitchValue(*value, source, "value", registry_.clock().Now(), &warnings);
    if (parsed.ok()) {
      for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
      e.good = *std::move(parsed);
    } else {
      e.error = ToStd(parsed.status().message());
    }
  }
  if (e.error.empty()) {
    bad_.erase(key);
  } else {
    bad_[key] = e.error;
  }
  return true;
}

bool EtcdSource::PublishAll(std::map<std::string, Entry> entries, std::string_view why) {
  Snapshot snapshot;
  for (const auto& [key, e] : entries) {
    if (!e.good.has_value()) continue;
    switch (e.kind) {
      case Kind::kSwitch:
        snapshot.switches[e.name] = *e.good;
        break;
      case Kind::kGroup:
        snapshot.groups[e.name] = *e.good;
        break;
      case Kind::kAll:
        snapshot.all = *e.good;
        break;
      case Kind::kOutside:
        break;
    }
  }
  const size_t switches = snapshot.switches.size(), groups = snapshot.groups.size();
  if (absl::Status s = registry_.ApplySnapshot(Layer::kRemote, std::move(snapshot), source_);
      !s.ok()) {
    // Values passed ParseSwitchValue, so this is not expected; keep the
    // layer and the entries as they were, and read everything again.
    registry_.Log(LogLevel::kError, absl::StrCat(source_, ": ", s.message(),
                                                 "; the remote layer keeps its last good state"));
    return false;
  }
  entries_ = std::move(entries);
  published_ = true;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.full_applies;
  }
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    ++health_.applied;
    health_.last_success = registry_.clock().Now();
  }
  registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": applied ", ToAbsl(why), " (", switches,
                                              " switches, ", groups, " groups)"));
  MarkCacheDirty();
  return true;
}

bool EtcdSource::Sync() {
  absl::StatusOr<EtcdClient::RangeResult> range = client_.RangePrefix(prefix_);
  if (!range.ok()) {
    if (!absl::IsCancelled(range.status())) Failed(range.status());
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.full_reads;
    stats_.range_pages += range->pages;
  }
  std::map<std::string, Entry> entries;
  const std::map<std::string, std::string> bad_before = bad_;
  bad_.clear();
  for (EtcdKv& kv : range->kvs) {
    auto old = entries_.find(kv.key);
    if (old != entries_.end() && old->second.mod_revision == kv.mod_revision) {
      entries.insert(*old);
      if (auto b = bad_before.find(kv.key); b != bad_before.end()) bad_.insert(*b);
      continue;
    }
    // Start from the old entry, so a bad new value keeps the last good one.
    if (old != entries_.end()) entries.insert(*old);
    Update(entries, kv.key, kv.value, kv.mod_revision);
  }
  if (!PublishAll(std::move(entries), absl::StrCat("the prefix at revision ", range->revision))) {
    bad_ = bad_before;
    Failed(absl::InternalError(absl::StrCat(source_, ": could not apply the prefix")));
    return false;
  }
  revision_ = range->revision;
  need_sync_ = false;
  ReportHealth();
  Progress();
  // Learn the other members once, so a single configured endpoint is not a
  // single point of failure. Failing here changes nothing.
  if (config_.discover_members && !discovered_) {
    discovered_ = client_.DiscoverMembers().ok();
  }
  return true;
}

bool EtcdSource::OnMessage(EtcdWatchMessage&& m) {
  if (m.canceled) {  // the client delivers only compaction cancels
    registry_.Log(LogLevel::kWarning,
                  absl::StrCat(source_, ": revision ", revision_ + 1,
                               " was compacted (oldest available ", m.compact_revision,
                               "); reading the prefix again"));
    need_sync_ = true;
    return false;
  }
  if (m.created) return true;  // progress is what it delivers next
  if (m.events.empty()) {  // progress notification: caught up to the header
    revision_ = std::max(revision_, m.header_revision);
    progressed_ = true;
    Progress();
    return true;
  }
  // One update of the layer per revision: a watcher catching up after a
  // reconnect gets several revisions in one response, and each is applied
  // in turn, as a watcher that never left saw them. Each update names only
  // the keys of its revision.
  int64_t last = revision_;
  size_t applied_events = 0;
  size_t i = 0;
  while (i < m.events.size()) {
    const int64_t rev = m.events[i].kv.mod_revision;
    // For each key of this revision, its good value before it.
    std::map<std::string, std::optional<SwitchValue>> before;
    for (; i < m.events.size() && m.events[i].kv.mod_revision == rev; ++i) {
      EtcdEvent& e = m.events[i];
      if (rev <= revision_) continue;  // seen already
      if (!before.contains(e.kv.key)) {
        auto it = entries_.find(e.kv.key);
        before[e.kv.key] = it == entries_.end() ? std::optional<SwitchValue>() : it->second.good;
      }
      std::optional<std::string> value;
      if (e.type == EtcdEvent::Type::kPut) value = std::move(e.kv.value);
      Update(entries_, e.kv.key, value, rev);
      ++applied_events;
    }
    if (rev <= revision_) continue;
    if (!ApplyRevision(before, rev)) return false;
    last = rev;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.events += applied_events;
  }
  revision_ = last;
  progressed_ = true;
  ReportHealth();
  Progress();
  return true;
}

bool EtcdSource::ApplyRevision(const std::map<std::string, std::optional<SwitchValue>>& before,
                               int64_t revision) {
  LayerDelta delta;
  for (const auto& [key, old_good] : before) {
    auto it = entries_.find(key);
    const std::optional<SwitchValue> now_good =
        it == entries_.end() ? std::optional<SwitchValue>() : it->second.good;
    if (now_good == old_good) continue;
    const std::string_view rel = std::string_view(key).substr(prefix_.size());
    if (rel == "all") {
      delta.change_all = true;
      delta.all = now_good;
    } else if (absl::StartsWith(ToAbsl(rel), "switches/")) {
      delta.switches[std::string(rel.substr(9))] = now_good;
    } else if (absl::StartsWith(ToAbsl(rel), "groups/")) {
      delta.groups[std::string(rel.substr(7))] = now_good;
    }
  }
  if (delta.empty()) return true;
  const size_t changed = delta.switches.size() + delta.groups.size() + (delta.change_all ? 1 : 0);
  if (absl::Status s = ApplyLayerDelta(registry_, Layer::kRemote, std::move(delta), source_);
      !s.ok()) {
    // Values passed ParseSwitchValue, so this is not expected: the entries
    // no longer match the layer, so read everything again.
    registry_.Log(LogLevel::kError,
                  absl::StrCat(source_, ": ", s.message(),
                               "; the remote layer keeps its last good state; reading the "
                               "prefix again"));
    need_sync_ = true;
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    ++health_.applied;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.delta_applies;
  }
  registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": applied revision ", revision, " (",
                                              changed, changed == 1 ? " entry" : " entries",
                                              " changed)"));
  MarkCacheDirty();
  return true;
}

absl::Status EtcdSource::WatchOnce() {
  EtcdClient::WatchOptions options;
  options.key = prefix_;
  options.range_end = range_end_;
  options.start_revision = revision_ + 1;
  options.progress_notify = true;
  options.liveness_interval = config_.liveness_interval;
  options.on_alive = [this] {
    progressed_ = true;
    Progress();
  };
  return client_.Watch(options, [this](EtcdWatchMessage&& m) { return OnMessage(std::move(m)); });
}

void EtcdSource::Progress() {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (failures_ > 0 || !connection_error_.empty()) {
    if (!logged_problem_.empty()) {
      registry_.Log(LogLevel::kInfo,
                    absl::StrCat(source_, ": etcd answers again (after ", failures_,
                                 failures_ == 1 ? " failure" : " failures", ")"));
    }
    logged_problem_.clear();
  }
  failures_ = 0;
  connection_error_.clear();
  health_.consecutive_failures = 0;
  health_.last_success = registry_.clock().Now();
  health_.healthy = bad_text_.empty();
  if (health_.healthy) {
    health_.last_error.clear();
  } else {
    health_.last_error = bad_text_;
  }
  registry_.ReportSourceHealth(health_);
}

void EtcdSource::ReportHealth() {
  for (const auto& [key, error] : bad_) {
    auto it = logged_bad_.find(key);
    if (it != logged_bad_.end() && it->second == error) continue;
    logged_bad_[key] = error;
    auto e = entries_.find(key);
    const bool has_good = e != entries_.end() && e->second.good.has_value();
    registry_.Log(LogLevel::kError,
                  absl::StrCat(error, has_good ? "; the entry keeps its last good value"
                                               : "; the entry stays unset"));
    std::lock_guard<std::mutex> lock(health_mu_);
    health_.last_error_time = registry_.clock().Now();
  }
  for (auto it = logged_bad_.begin(); it != logged_bad_.end();) {
    if (bad_.count(it->first) == 0) {
      registry_.Log(LogLevel::kInfo, absl::StrCat("etcd key ", it->first, ": fixed or deleted"));
      it = logged_bad_.erase(it);
    } else {
      ++it;
    }
  }
  std::string bad_text;
  if (!bad_.empty()) {
    std::vector<std::string> shown;
    for (const auto& [key, error] : bad_) {
      if (shown.size() == kBadKeysShown) break;
      shown.push_back(error);
    }
    bad_text = absl::StrCat(bad_.size(), bad_.size() == 1 ? " key" : " keys",
                            " rejected (each keeps its last good value): ",
                            absl::StrJoin(shown, "; "));
    if (shown.size() < bad_.size()) absl::StrAppend(&bad_text, "; and ", bad_.size() - shown.size(), " more");
  }
  std::lock_guard<std::mutex> lock(health_mu_);
  bad_text_ = std::move(bad_text);
  std::vector<std::string> problems;
  if (!connection_error_.empty()) problems.push_back(connection_error_);
  if (!bad_text_.empty()) problems.push_back(bad_text_);
  health_.healthy = problems.empty();
  health_.last_error = absl::StrJoin(problems, "; ");
  registry_.ReportSourceHealth(health_);
}

void EtcdSource::Failed(const absl::Status& status) {
  std::string message = ToStd(status.message());
  // The same problem seen on another member is the same problem: the log
  // says it once, until the source recovers.
  std::string problem = message;
  for (const std::string& ep : client_.endpoints()) {
    problem = absl::StrReplaceAll(problem, {{ep, "<member>"}});
  }
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    ++failures_;
    ++health_.consecutive_failures;
    if (problem != logged_problem_) {
      logged_problem_ = problem;
      registry_.Log(LogLevel::kError,
                    absl::StrCat(message, "; the remote layer keeps its last good state (logged "
                                          "once until etcd answers again)"));
    }
    connection_error_ = std::move(message);
    health_.last_error_time = registry_.clock().Now();
  }
  ReportHealth();
}

absl::Duration EtcdSource::NextBackoff() {
  int64_t failures = 0;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    failures = failures_;
  }
  absl::Duration d = config_.backoff_initial;
  for (int64_t i = 1; i < failures && d < config_.backoff_max; ++i) d *= 2;
  d = std::min(d, config_.backoff_max);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return d * (1.0 + kBackoffJitter * (2.0 * u - 1.0));
}

void EtcdSource::MarkCacheDirty() {
  if (config_.cache_file.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  cache_dirty_ = true;
  cv_.notify_all();
}

void EtcdSource::CacheLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || cache_dirty_; });
    if (!cache_dirty_) return;  // stopping, nothing pending
    cache_dirty_ = false;
    lock.unlock();
    // The layer as it is now: every change marked dirty before this read
    // is in it.
    cache_.Save(registry_.LayerSnapshot(Layer::kRemote));
    {
      std::lock_guard<std::mutex> stats_lock(stats_mu_);
      ++stats_.cache_writes;
    }
    lock.lock();
    // At most one write per cache_interval; a stop ends the wait early
    // and writes what is pending.
    cv_.wait_for(lock, absl::ToChronoNanoseconds(config_.cache_interval), [this] { return stop_; });
  }
}

void EtcdSource::Loop() {
  auto wait = [this](absl::Duration d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stop_; });
    return !stop_;
  };
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  };
  while (!stopping()) {
    if (need_sync_) {
      if (!Sync()) {
        if (!wait(NextBackoff())) break;
        continue;
      }
    }
    progressed_ = false;
    const int64_t from = revision_;
    absl::Status s = WatchOnce();
    if (stopping() || absl::IsCancelled(s)) break;
    if (need_sync_) continue;  // compaction: read the prefix again at once
    if (progressed_) {
      stuck_revision_ = -1;
      stuck_count_ = 0;
    } else if (stuck_revision_ != from) {
      stuck_revision_ = from;
      stuck_count_ = 1;
    } else {
      ++stuck_count_;
    }
    // A catch-up too large for one watch message, or watches that keep
    // ending without delivering anything: the watch cannot get past this
    // revision, so read the current state in pages and watch after it.
    const bool too_large = absl::IsResourceExhausted(s);
    if (too_large || stuck_count_ >= config_.stuck_after) {
      registry_.Log(
          LogLevel::kWarning,
          absl::StrCat(source_, ": the watch cannot progress past revision ", revision_, " (",
                       too_large ? "the catch-up is larger than the watch message limit"
                                 : absl::StrCat(stuck_count_, " watches in a row ended with "
                                                              "nothing delivered"),
                       ": ", s.message(), "); reading the prefix in pages and watching after it"));
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        ++stats_.stuck_recoveries;
      }
      stuck_revision_ = -1;
      stuck_count_ = 0;
      need_sync_ = true;
      Failed(s);
      continue;
    }
    if (progressed_ && absl::IsDeadlineExceeded(s)) continue;  // idle: just reopen
    Failed(s);
    // A watch that made progress is resumed at once (on the next member);
    // attempts that fail from the start back off.
    if (progressed_) continue;
    if (!wait(NextBackoff())) break;
  }
}

}  // namespace degrade::internal
