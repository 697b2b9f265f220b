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
#include "etcd/etcd_source.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "etcd/etcd_json.h"
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
}

EtcdSource::~EtcdSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  client_.Stop();  // interrupts the watch or request in flight
  thread_.join();
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
    return true;
  }
  Entry& e = entries[key];
  e.kind = kind;
  e.name = name;
  e.mod_revision = mod_revision;
  const std::string source = absl::StrCat("etcd key ", key);
  if (kind != Kind::kAll) {
    absl::Status s =
        ValidateName(name, kind == Kind::kSwitch ? "switch name" : "group name");
    if (!s.ok()) {
      e.error = absl::StrCat(source, ": ", s.message());
      return true;
    }
  }
  std::vector<std::string> warnings;
  absl::StatusOr<SwitchValue> parsed =
      ParseSwitchValue(*value, source, "value", registry_.clock().Now(), &warnings);
  if (!parsed.ok()) {
    e.error = ToStd(parsed.status().message());
    return true;
  }
  for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
  e.good = *std::move(parsed);
  e.error.clear();
  return true;
}

bool EtcdSource::Publish(std::map<std::string, Entry> entries, std::string_view why) {
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
  if (published_.has_value() && *published_ == snapshot) {
    entries_ = std::move(entries);
    return true;
  }
  Snapshot copy = snapshot;
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
  published_ = copy;
  ++health_.applied;
  health_.last_success = registry_.clock().Now();
  registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": applied ", ToAbsl(why), " (", switches,
                                              " switches, ", groups, " groups)"));
  cache_.Save(copy);
  return true;
}

bool EtcdSource::Sync() {
  absl::StatusOr<EtcdClient::RangeResult> range = client_.RangePrefix(prefix_);
  if (!range.ok()) {
    if (!absl::IsCancelled(range.status())) Failed(range.status());
    return false;
  }
  std::map<std::string, Entry> entries;
  for (EtcdKv& kv : range->kvs) {
    auto old = entries_.find(kv.key);
    if (old != entries_.end() && old->second.mod_revision == kv.mod_revision) {
      entries.insert(*old);
      continue;
    }
    // Start from the old entry, so a bad new value keeps the last good one.
    if (old != entries_.end()) entries.insert(*old);
    Update(entries, kv.key, kv.value, kv.mod_revision);
  }
  if (!Publish(std::move(entries), absl::StrCat("the prefix at revision ", range->revision))) {
    Failed(absl::InternalError(absl::StrCat(source_, ": could not apply the prefix")));
    return false;
  }
  revision_ = range->revision;
  need_sync_ = false;
  connection_error_.clear();
  failures_ = 0;
  health_.consecutive_failures = 0;
  ReportHealth();
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
  if (m.created) {
    watching_ = true;
    connection_error_.clear();
    failures_ = 0;
    health_.consecutive_failures = 0;
    health_.last_success = registry_.clock().Now();
    ReportHealth();
    return true;
  }
  if (m.events.empty()) {  // progress notification: caught up to the header
    revision_ = std::max(revision_, m.header_revision);
    return true;
  }
  // One step per revision: a watcher catching up after a reconnect gets
  // several revisions in one message, and each is published in turn, as a
  // watcher that never left saw them.
  size_t i = 0;
  while (i < m.events.size()) {
    const int64_t rev = m.events[i].kv.mod_revision;
    std::map<std::string, Entry> entries = entries_;
    bool changed = false;
    for (; i < m.events.size() && m.events[i].kv.mod_revision == rev; ++i) {
      EtcdEvent& e = m.events[i];
      if (rev <= revision_) continue;  // seen already
      std::optional<std::string> value;
      if (e.type == EtcdEvent::Type::kPut) value = std::move(e.kv.value);
      changed = Update(entries, e.kv.key, value, rev) || changed;
    }
    if (rev <= revision_) continue;
    if (changed && !Publish(std::move(entries), absl::StrCat("revision ", rev))) {
      need_sync_ = true;
      return false;
    }
    revision_ = rev;
  }
  health_.last_success = registry_.clock().Now();
  ReportHealth();
  return true;
}

absl::Status EtcdSource::WatchOnce() {
  EtcdClient::WatchOptions options;
  options.key = prefix_;
  options.range_end = range_end_;
  options.start_revision = revision_ + 1;
  options.progress_notify = true;
  return client_.Watch(options, [this](EtcdWatchMessage&& m) { return OnMessage(std::move(m)); });
}

void EtcdSource::ReportHealth() {
  std::vector<std::string> bad;
  std::set<std::string> bad_keys;
  for (const auto& [key, e] : entries_) {
    if (e.error.empty()) continue;
    bad_keys.insert(key);
    bad.push_back(e.error);
    auto it = logged_bad_.find(key);
    if (it == logged_bad_.end() || it->second != e.error) {
      logged_bad_[key] = e.error;
      registry_.Log(LogLevel::kError,
                    absl::StrCat(e.error, e.good.has_value()
                                              ? "; the entry keeps its last good value"
                                              : "; the entry stays unset"));
      health_.last_error_time = registry_.clock().Now();
    }
  }
  for (auto it = logged_bad_.begin(); it != logged_bad_.end();) {
    if (bad_keys.count(it->first) == 0) {
      registry_.Log(LogLevel::kInfo, absl::StrCat("etcd key ", it->first, ": fixed or deleted"));
      it = logged_bad_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string> problems;
  if (!connection_error_.empty()) problems.push_back(connection_error_);
  if (!bad.empty()) {
    const size_t shown = std::min(bad.size(), kBadKeysShown);
    std::string text = absl::StrCat(bad.size(), bad.size() == 1 ? " key" : " keys",
                                    " rejected (each keeps its last good value): ",
                                    absl::StrJoin(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(shown), "; "));
    if (shown < bad.size()) absl::StrAppend(&text, "; and ", bad.size() - shown, " more");
    problems.push_back(std::move(text));
  }
  health_.healthy = problems.empty();
  if (!problems.empty()) health_.last_error = absl::StrJoin(problems, "; ");
  registry_.ReportSourceHealth(health_);
}

void EtcdSource::Failed(const absl::Status& status) {
  ++failures_;
  ++health_.consecutive_failures;
  const std::string message = ToStd(status.message());
  // Log the first failure and then at 2, 4, 8, ... in a row, so an outage
  // is visible without a line per retry.
  if ((failures_ & (failures_ - 1)) == 0) {
    registry_.Log(LogLevel::kError,
                  absl::StrCat(message, " (", failures_, failures_ == 1 ? " failure" : " failures",
                               " in a row); the remote layer keeps its last good state"));
  }
  connection_error_ = message;
  health_.last_error_time = registry_.clock().Now();
  ReportHealth();
}

absl::Duration EtcdSource::NextBackoff() {
  absl::Duration d = config_.backoff_initial;
  for (int64_t i = 1; i < failures_ && d < config_.backoff_max; ++i) d *= 2;
  d = std::min(d, config_.backoff_max);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return d * (1.0 + kBackoffJitter * (2.0 * u - 1.0));
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
    watching_ = false;
    absl::Status s = WatchOnce();
    if (stopping() || absl::IsCancelled(s)) break;
    if (need_sync_) continue;  // compaction: read the prefix again at once
    const bool was_watching = watching_;
    watching_ = false;
    if (was_watching && absl::IsDeadlineExceeded(s)) continue;  // idle: just reopen
    Failed(s);
    // A watch that was running is resumed at once (on the next member);
    // attempts that fail from the start back off.
    if (was_watching) {
      failures_ = 0;
      continue;
    }
    if (!wait(NextBackoff())) break;
  }
}

}  // namespace degrade::internal
