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

// The split watch's watchers, by the ids etcd gives them in the order they
// are created: 0 for keys before PREFIX/instances/, 1 for keys after it,
// and the fence (see Watch).
constexpr int kSplitWatchers = 3;
constexpr int64_t kFenceWatcher = 2;

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

EtcdWatch::EtcdWatch(Registry& registry, EtcdSource::Config config)
    : registry_(registry),
      config_(std::move(config)),
      prefix_(NormalizeEtcdPrefix(config_.prefix)),
      range_end_(EtcdPrefixEnd(prefix_)),
      instances_dir_(absl::StrCat(prefix_, "instances/")),
      source_(absl::StrCat("etcd ", prefix_)),
      client_(config_.client) {}

SourceRunner::Config EtcdWatch::RunnerConfig() const {
  SourceRunner::Config rc;
  rc.name = "etcd";
  rc.target = absl::StrCat(absl::StrJoin(config_.client.endpoints, ", "), " ", prefix_);
  rc.source = source_;
  rc.layer = Layer::kRemote;
  rc.backoff_base = config_.backoff_initial;
  rc.backoff_cap = config_.backoff_max;
  // backoff_jitter: the runner's +-20%.
  // The first range tries each endpoint once, each within the timeout.
  rc.startup_budget =
      config_.client.timeout * static_cast<double>(config_.client.endpoints.size()) +
      absl::Seconds(1);
  rc.cache_file = config_.cache_file;
  rc.cache_min_interval = config_.cache_interval;
  rc.startup_failure_text = "no etcd endpoint answered at start";
  return rc;
}

EtcdSource::Stats EtcdWatch::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::unique_ptr<SourceRunner> StartEtcdSource(Registry& registry, EtcdSource::Config config) {
  auto watch = std::make_unique<EtcdWatch>(registry, std::move(config));
  SourceRunner::Config rc = watch->RunnerConfig();
  return std::make_unique<SourceRunner>(registry, std::move(rc), std::move(watch));
}

EtcdSource::EtcdSource(Registry& registry, Config config) {
  auto watch = std::make_unique<EtcdWatch>(registry, std::move(config));
  watch_ = watch.get();
  SourceRunner::Config rc = watch->RunnerConfig();
  runner_ = std::make_unique<SourceRunner>(registry, std::move(rc), std::move(watch));
}

EtcdSource::~EtcdSource() { runner_.reset(); }

EtcdSource::Stats EtcdSource::stats() const { return watch_->stats(); }

size_t EtcdWatch::SideOf(std::string_view key) const { return key < instances_dir_ ? 0 : 1; }

std::optional<Snapshot> EtcdWatch::WholeView() {
  std::lock_guard<std::mutex> lock(entries_mu_);
  if (!have_view_) return std::nullopt;
  return SnapshotOf(entries_);
}

absl::Status EtcdWatch::Sync(WatchSink& sink) {
  absl::StatusOr<EtcdClient::RangeResult> range = client_.RangePrefix(prefix_);
  if (!range.ok()) return range.status();
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
  // Learn the other members, so a single configured endpoint is not a
  // single point of failure. Before publishing (which confirms): a source
  // reported healthy knows its failover members. Failing here changes
  // nothing; it is tried again before each watch until it succeeds.
  DiscoverMembersOnce();
  // Rejected keys before publishing: Publish confirms the view and ends
  // start-up, and by then health must already name them.
  ReportBadKeys(sink, entries);
  if (absl::Status s = sink.Publish(SnapshotOf(entries),
                                    absl::StrCat("the prefix at revision ", range->revision));
      !s.ok()) {
    // Values passed ParseSwitchValue, so this is not expected; keep the
    // layer and the entries as they were, and read everything again.
    bad_ = bad_before;
    ReportBadKeys(sink, entries_);
    return absl::InternalError(absl::StrCat(source_, ": could not apply the prefix: ",
                                            s.message(),
                                            "; the remote layer keeps its last good state"));
  }
  {
    std::lock_guard<std::mutex> lock(entries_mu_);
    entries_ = std::move(entries);
    have_view_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.full_applies;
  }
  revision_ = range->revision;
  delivered_[0] = delivered_[1] = revision_;
  need_sync_ = false;
  sink.Confirmed();
  if (config_.on_applied) {
    int64_t layer_revision = 0;
    for (const auto& [key, e] : entries_) layer_revision = std::max(layer_revision, e.mod_revision);
    config_.on_applied(revision_, layer_revision);
  }
  return absl::OkStatus();
}

void EtcdWatch::DiscoverMembersOnce() {
  if (!config_.discover_members || discovered_) return;
  absl::StatusOr<size_t> added = client_.DiscoverMembers();
  discovered_ = added.ok();
  if (added.ok() && *added > 0) {
    registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": learned ", *added,
                                                " more member(s) of the cluster for failover"));
  }
}

bool EtcdWatch::OnMessage(WatchSink& sink, EtcdWatchMessage&& m) {
  if (m.canceled) {  // the client delivers only compaction cancels
    registry_.Log(LogLevel::kWarning,
                  absl::StrCat(source_, ": revision ", revision_ + 1,
                               " was compacted (oldest available ", m.compact_revision,
                               "); reading the prefix again"));
    need_sync_ = true;
    return false;
  }
  if (m.created) {
    sink.Established();
    ++created_;
    // The store may have moved before the split watch's watchers were all
    // registered (the fence's header says; see Watch): a watcher that
    // starts behind the store catches up in a batch of its own, out of
    // order with the other. Catch up on the whole prefix first.
    if (split_ && m.header_revision > revision_) {
      catching_up_ = true;
      progressed_ = true;  // the member answered: not a stuck watch
      return false;
    }
    return true;
  }
  if (split_ && created_ < kSplitWatchers) {
    // Something for a watcher before the fence exists: the store moved
    // while the split watch was being set up. Nothing is applied yet;
    // catch up on the whole prefix from the same revision.
    catching_up_ = true;
    progressed_ = true;
    return false;
  }
  if (split_ && m.watch_id == kFenceWatcher) {
    // The fence's key is not part of the layer (it is under instances/);
    // it only vouches for how the split watch began.
    progressed_ = true;
    return true;
  }
  if (m.events.empty()) {  // progress notification: caught up to the header
    revision_ = std::max(revision_, m.header_revision);
    if (split_) {
      // Only this watcher's side is vouched for.
      const size_t w = m.watch_id == 1 ? 1 : 0;
      delivered_[w] = std::max(delivered_[w], m.header_revision);
    } else {
      delivered_[0] = std::max(delivered_[0], m.header_revision);
      delivered_[1] = std::max(delivered_[1], m.header_revision);
    }
    progressed_ = true;
    sink.Confirmed();
    if (!split_) {
      catching_up_ = false;  // caught up: the split watch takes over
      return false;
    }
    return true;
  }
  // The split watch's two watchers each deliver their side in revision
  // order, and together in revision order while etcd keeps both synced.
  // etcd may fall behind on one (a full send buffer makes it a "slow
  // watcher" that catches up later): the other side has then been applied
  // past a revision this side still brings. Nothing is skipped for that
  // (each side is deduplicated on its own, and the sides hold different
  // keys), but the per-revision order and the revision reported as applied
  // no longer hold: read the prefix again, which restores both.
  if (split_) {
    for (const EtcdEvent& e : m.events) {
      const int64_t rev = e.kv.mod_revision;
      if (rev < revision_ && rev > delivered_[SideOf(e.kv.key)]) {
        registry_.Log(LogLevel::kWarning,
                      absl::StrCat(source_, ": etcd delivered revision ", rev, " (", e.kv.key,
                                   ") after revision ", revision_,
                                   " (its watchers fell out of step); reading the prefix again"));
        {
          std::lock_guard<std::mutex> lock(stats_mu_);
          ++stats_.out_of_order;
        }
        need_sync_ = true;
        return false;
      }
    }
  }
  // The flagd document may change any number of switches: read the prefix
  // again (one whole apply) rather than work out a delta.
  for (const EtcdEvent& e : m.events) {
    if (e.kv.key == prefix_ + "flagd" && e.kv.mod_revision > delivered_[SideOf(e.kv.key)]) {
      registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": ", e.kv.key,
                                                  " changed at revision ", e.kv.mod_revision,
                                                  "; reading the prefix again"));
      need_sync_ = true;
      return false;
    }
  }
  // One update of the layer per revision: a watcher catching up after a
  // reconnect gets several revisions in one response, and each is applied
  // in turn, as a watcher that never left saw them. Each update names only
  // the keys of its revision.
  //
  // An event is new when its side has not delivered its revision: a
  // revision written on both sides may have been half delivered when a
  // watch ended, and a watch resumes after the later side.
  int64_t last = revision_;
  int64_t reached[2] = {delivered_[0], delivered_[1]};
  int64_t layer_revision = -1;  // the last revision with a key of the layer; -1: none
  size_t applied_events = 0;
  size_t i = 0;
  while (i < m.events.size()) {
    const int64_t rev = m.events[i].kv.mod_revision;
    // For each key of this revision, its good value before it.
    std::map<std::string, std::optional<Good>> before;
    bool fresh = false;  // some event of this revision is new
    for (; i < m.events.size() && m.events[i].kv.mod_revision == rev; ++i) {
      EtcdEvent& e = m.events[i];
      const size_t side = SideOf(e.kv.key);
      if (rev <= delivered_[side]) continue;  // seen already
      fresh = true;
      reached[side] = std::max(reached[side], rev);
      if (IsInstanceKey(e.kv.key)) continue;  // another instance's registration
      layer_revision = rev;
      if (!before.contains(e.kv.key)) {
        auto it = entries_.find(e.kv.key);
        before[e.kv.key] = it == entries_.end() ? std::optional<Good>() : it->second.good;
      }
      std::optional<std::string> value;
      if (e.type == EtcdEvent::Type::kPut) value = std::move(e.kv.value);
      {
        std::lock_guard<std::mutex> lock(entries_mu_);
        Update(entries_, e.kv.key, value, rev);
      }
      ++applied_events;
    }
    if (!fresh) continue;
    {
      // Counted before the apply publishes, so whoever sees the change
      // also sees its events in stats().
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.events += applied_events;
      applied_events = 0;
    }
    if (!ApplyRevision(sink, before, rev)) return false;
    last = std::max(last, rev);
  }
  revision_ = last;
  if (split_) {
    split_delivered_ = true;
    delivered_[0] = reached[0];
    delivered_[1] = reached[1];
  } else {
    // One watcher over the whole prefix delivers in revision order: both
    // sides are complete up to here.
    delivered_[0] = delivered_[1] = last;
  }
  progressed_ = true;
  ReportBadKeys(sink, entries_);
  sink.Confirmed();
  if (config_.on_applied) config_.on_applied(revision_, layer_revision);
  // Catching up on the whole prefix: once a message reaches the store's
  // revision it was sent at, everything missed is applied, and the split
  // watch takes over from here.
  if (!split_ && last >= m.header_revision) {
    catching_up_ = false;
    return false;
  }
  return true;
}

bool EtcdWatch::ApplyRevision(WatchSink& sink,
                              const std::map<std::string, std::optional<Good>>& before,
                              int64_t revision) {
  LayerDelta delta;
  for (const auto& [key, old_good] : before) {
    auto it = entries_.find(key);
    const std::optional<Good> now_good =
        it == entries_.end() ? std::optional<Good>() : it->second.good;
    if (now_good == old_good) continue;
    const std::string_view rel = std::string_view(key).substr(prefix_.size());
    const std::optional<SwitchValue> value = now_good ? now_good->value : std::nullopt;
    if (rel == "all") {
      delta.change_all = true;
      delta.all = value;
    } else if (rel == "shed") {
      delta.change_shed = true;
      delta.shed = now_good ? now_good->shed : std::nullopt;
    } else if (rel == "governor") {
      delta.change_governor = true;
      delta.governor = now_good ? now_good->governor : std::nullopt;
    } else if (absl::StartsWith(ToAbsl(rel), "switches/")) {
      const std::string name(rel.substr(9));
      // Without its own key, a switch has what the flagd document says.
      std::optional<SwitchValue> own = value;
      if (!own.has_value()) {
        auto flagd = entries_.find(prefix_ + "flagd");
        if (flagd != entries_.end() && flagd->second.flagd.has_value()) {
          auto in_doc = flagd->second.flagd->switches.find(name);
          if (in_doc != flagd->second.flagd->switches.end()) own = in_doc->second;
        }
      }
      delta.switches[name] = std::move(own);
    } else if (absl::StartsWith(ToAbsl(rel), "groups/")) {
      delta.groups[std::string(rel.substr(7))] = value;
    }
  }
  if (delta.empty()) return true;
  const size_t changed = delta.switches.size() + delta.groups.size() + (delta.change_all ? 1 : 0) +
                         (delta.change_shed ? 1 : 0) + (delta.change_governor ? 1 : 0);
  absl::Status s = sink.Apply(
      absl::StrCat("revision ", revision, " (", changed, changed == 1 ? " entry" : " entries",
                   " changed)"),
      [&](Registry& registry, Layer layer, const std::string& source) {
        // Events name the revision; an entry's own actor speaks for it.
        Cause cause = MakeCause("etcd", absl::StrCat("revision ", revision, " applied"));
        cause.entries_of = layer;
        cause.revision = revision;
        return ApplyLayerDelta(registry, layer, std::move(delta), source, DeltaValues::kParsed,
                               cause);
      });
  if (!s.ok()) {
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
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.delta_applies;
  }
  return true;
}

absl::Status EtcdWatch::Watch(RunContext& ctx, WatchSink& sink) {
  // Stopping the runner interrupts whatever request this call is in.
  std::unique_ptr<Operation> op =
      ctx.Arm(source_, absl::Hours(24 * 365 * 100), [this] { client_.Stop(); });
  if (need_sync_) {
    if (absl::Status s = Sync(sink); !s.ok()) return s;
  }
  progressed_ = false;
  const int64_t from = revision_;
  DiscoverMembersOnce();
  EtcdClient::WatchOptions options;
  // Two watchers on one stream, around PREFIX/instances/: every instance
  // rewrites its registration after every change, and a watch of the whole
  // prefix would hand each of N instances the N registrations of every
  // change (N x N events; at N = 200, 40,000 per change).
  //
  // The two watchers deliver in revision order only while both are caught
  // up (a watcher catching up gets its own batch), so a watch that would
  // start behind the store watches the whole prefix until it has caught
  // up, in order, and then the split watch takes over.
  //
  // Whether both started caught up, the watchers' own "created" replies
  // cannot say: etcd reads the revision it reports before it registers the
  // watcher, and a write in between leaves that watcher behind. So a third
  // watcher, the fence, is created after them on an unused key: etcd
  // handles a stream's requests in turn, so the fence's reported revision
  // is at least the store's when the second was registered. If it is not
  // past where the watch starts, neither watcher started behind.
  options.key = prefix_;
  split_ = !catching_up_;
  created_ = 0;
  split_delivered_ = false;
  if (split_) {
    options.range_end = instances_dir_;
    options.more_ranges = {{EtcdPrefixEnd(instances_dir_), range_end_}, {instances_dir_, ""}};
  } else {
    options.range_end = range_end_;
  }
  options.start_revision = revision_ + 1;
  options.progress_notify = true;
  options.liveness_interval = config_.liveness_interval;
  // From the watch's liveness checker thread: the runner's Confirmed()
  // takes its own lock, so it may be called beside the loop thread.
  options.on_alive = [this, &sink] {
    progressed_ = true;
    sink.Confirmed();
  };
  absl::Status s = client_.Watch(
      options, [this, &sink](EtcdWatchMessage&& m) { return OnMessage(sink, std::move(m)); });
  if (ctx.stopping() || absl::IsCancelled(s)) return s;
  if (need_sync_) return absl::OkStatus();  // compaction: read the prefix again at once
  const bool idle = progressed_ && absl::IsDeadlineExceeded(s);
  if (split_ && split_delivered_ && !idle && !catching_up_) {
    // A split watch cut while it was delivering: the other half of its
    // last revision, or a side etcd had fallen behind on, may not have
    // come, and nothing would bring them again (a watch resumes after the
    // last revision applied). Read the prefix instead. An idle watch has
    // nothing in flight: etcd sends each revision as it happens.
    registry_.Log(LogLevel::kInfo,
                  absl::StrCat(source_, ": the watch ended while delivering, after revision ",
                               revision_, "; reading the prefix again, as part of a revision may "
                               "not have arrived"));
    need_sync_ = true;
  }
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
    return Sync(sink);  // OK: the runner watches again at once
  }
  if (idle) return absl::OkStatus();  // reopen
  return s;
}

}  // namespace degrade::internal
