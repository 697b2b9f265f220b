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
#include "etcd/etcd_json.h"
#include "core/layer_delta.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

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
