// The etcd source's keys: how a key under the prefix becomes an entry of
// the remote layer (or is rejected, keeping its last good value), the layer
// the entries make, and how rejected keys are reported. See etcd_source.h
// for the layout; etcd_source.cc reads and watches the keys.
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/flagd.h"
#include "core/str_util.h"
#include "etcd/etcd_source.h"

namespace degrade::internal {
namespace {

// Rejected keys named in the source's health; the rest are counted.
constexpr size_t kBadKeysShown = 5;

}  // namespace

bool EtcdWatch::IsInstanceKey(std::string_view key) const {
  return key.size() > prefix_.size() && absl::StartsWith(ToAbsl(key), prefix_) &&
         absl::StartsWith(ToAbsl(key.substr(prefix_.size())), "instances/");
}

bool EtcdWatch::Update(std::map<std::string, Entry>& entries, const std::string& key,
                       const std::optional<std::string>& value, int64_t mod_revision) {
  const std::string_view rel = std::string_view(key).substr(
      absl::StartsWith(key, prefix_) ? prefix_.size() : key.size());
  Kind kind = Kind::kOutside;
  std::string name;
  if (!absl::StartsWith(key, prefix_)) {
    kind = Kind::kOutside;
  } else if (rel == "all") {
    kind = Kind::kAll;
  } else if (rel == "shed") {
    kind = Kind::kShed;
  } else if (rel == "governor") {
    kind = Kind::kGovernor;
  } else if (rel == "flagd") {
    kind = Kind::kFlagd;
  } else if (absl::StartsWith(ToAbsl(rel), "switches/")) {
    kind = Kind::kSwitch;
    name = std::string(rel.substr(9));
  } else if (absl::StartsWith(ToAbsl(rel), "groups/")) {
    kind = Kind::kGroup;
    name = std::string(rel.substr(7));
  }
  if (kind == Kind::kOutside) {
    if (IsInstanceKey(key)) return false;  // fleet registrations: not the layer's
    if (warned_outside_.insert(key).second) {
      registry_.Log(LogLevel::kWarning,
                    absl::StrCat("etcd key ", key, ": outside the layout, ignored; accepted: ",
                                 prefix_, "switches/NAME, ", prefix_, "groups/GROUP, ", prefix_,
                                 "all, ", prefix_, "shed, ", prefix_, "governor, ", prefix_,
                                 "flagd"));
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
  if (kind == Kind::kFlagd) {
    std::vector<std::string> warnings;
    absl::StatusOr<Snapshot> parsed = ParseFlagdSnapshot(
        *value, source, [this](std::string_view n) { return registry_.Find(n) != nullptr; },
        &warnings);
    if (parsed.ok()) {
      for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
      e.flagd = *std::move(parsed);
    } else {
      e.error = ToStd(parsed.status().message());
    }
  } else if (kind == Kind::kSwitch || kind == Kind::kGroup) {
    absl::Status s =
        ValidateName(name, kind == Kind::kSwitch ? "switch name" : "group name");
    if (!s.ok()) e.error = absl::StrCat(source, ": ", s.message());
  }
  if (e.error.empty() && kind != Kind::kFlagd) {
    std::vector<std::string> warnings;
    const absl::Time now = registry_.clock().Now();
    Good good;
    absl::Status parsed;
    if (kind == Kind::kShed) {
      absl::StatusOr<std::optional<Shed>> shed = ParseShed(*value, source, "shed", now, &warnings);
      parsed = shed.status();
      if (shed.ok()) good.shed = *std::move(shed);
    } else if (kind == Kind::kGovernor) {
      absl::StatusOr<GovernorSetting> governor =
          ParseGovernorSetting(*value, source, "governor", now, &warnings);
      parsed = governor.status();
      if (governor.ok()) good.governor = *std::move(governor);
    } else {
      absl::StatusOr<SwitchValue> v = ParseSwitchValue(*value, source, "value", now, &warnings);
      parsed = v.status();
      if (v.ok()) good.value = *std::move(v);
    }
    if (parsed.ok()) {
      for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
      e.good = std::move(good);
    } else {
      e.error = ToStd(parsed.message());
    }
  }
  if (e.error.empty()) {
    bad_.erase(key);
  } else {
    bad_[key] = e.error;
  }
  return true;
}

Snapshot EtcdWatch::SnapshotOf(const std::map<std::string, Entry>& entries) {
  Snapshot snapshot;
  for (const auto& [key, e] : entries) {
    if (e.kind == Kind::kFlagd && e.flagd.has_value()) {
      // A switch's own key wins: emplace leaves an entry already there, and
      // a later switches/ key overwrites.
      for (const auto& [name, value] : e.flagd->switches) snapshot.switches.emplace(name, value);
    }
    if (!e.good.has_value()) continue;
    switch (e.kind) {
      case Kind::kSwitch:
        snapshot.switches[e.name] = *e.good->value;
        break;
      case Kind::kGroup:
        snapshot.groups[e.name] = *e.good->value;
        break;
      case Kind::kAll:
        snapshot.all = *e.good->value;
        break;
      case Kind::kShed:
        snapshot.shed = e.good->shed;
        break;
      case Kind::kGovernor:
        snapshot.governor = e.good->governor;
        break;
      case Kind::kFlagd:
      case Kind::kOutside:
        break;
    }
  }
  return snapshot;
}

void EtcdWatch::ReportBadKeys(WatchSink& sink, const std::map<std::string, Entry>& entries) {
  for (const auto& [key, error] : bad_) {
    auto it = logged_bad_.find(key);
    if (it != logged_bad_.end() && it->second == error) continue;
    logged_bad_[key] = error;
    auto e = entries.find(key);
    const bool has_good =
        e != entries.end() && (e->second.good.has_value() || e->second.flagd.has_value());
    registry_.Log(LogLevel::kError,
                  absl::StrCat(error, has_good ? "; the entry keeps its last good value"
                                               : "; the entry stays unset"));
  }
  for (auto it = logged_bad_.begin(); it != logged_bad_.end();) {
    if (bad_.count(it->first) == 0) {
      registry_.Log(LogLevel::kInfo, absl::StrCat("etcd key ", it->first, ": fixed or deleted"));
      it = logged_bad_.erase(it);
    } else {
      ++it;
    }
  }
  std::string text;
  if (!bad_.empty()) {
    std::vector<std::string> shown;
    for (const auto& [key, error] : bad_) {
      if (shown.size() == kBadKeysShown) break;
      shown.push_back(error);
    }
    text = absl::StrCat(bad_.size(), bad_.size() == 1 ? " key" : " keys",
                        " rejected (each keeps its last good value): ", absl::StrJoin(shown, "; "));
    if (shown.size() < bad_.size()) absl::StrAppend(&text, "; and ", bad_.size() - shown.size(), " more");
  }
  sink.SetProblems(std::move(text));
}

}  // namespace degrade::internal
