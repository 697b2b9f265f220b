// The fleet view. See registration_view.h.
//
// Why the comparison goes by deciding layer and revision, not only by
// state: an instance whose env says "off" while etcd says "off" agrees by
// accident; the question is whether etcd's value is in force there. An
// instance agrees on a switch that etcd decides when its remote layer
// decides it with etcd's state; on a switch etcd says nothing about, when
// it has the state most of the fleet has (each instance then decides from
// its own lower layers, and an env pin or a file shows up as the odd one).
//
// Why the latest revision also comes from the instances: a delete leaves
// no key whose mod_revision would show it; an instance that applied it
// reports it as its layer_revision.
#include "etcd/registration_view.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/json_strict.h"
#include "core/str_util.h"
#include "degrade/snapshot.h"
#include "etcd/etcd_source.h"
#include "etcd/registration.h"

namespace degrade::internal {
namespace {

using json = nlohmann::json;

absl::Status Bad(const std::string& key, std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("registration ", key, ": ", ToAbsl(path), " ",
                                                 ToAbsl(problem),
                                                 "; accepted: what a degrade instance writes"));
}

// The etcd value that decides a switch's state for one instance (switch
// key, else one of its groups, else all), when there is one in force.
struct Decider {
  std::string key;
  std::string scope;  // "switch", "group:<g>", "all"
  int64_t mod_revision = 0;
  SwitchValue value;
  json raw;
};

std::string StateOf(const SwitchValue& v) {
  if (v.state.has_value()) return *v.state == State::kOff ? "off" : "on";
  return "on";  // allow alone means on
}

std::string Shown(const std::string& state, double allow) {
  if (state == "on" && allow < 1.0) return absl::StrCat("on ", allow * 100, "%");
  return state;
}

}  // namespace

absl::StatusOr<InstanceRecord> ParseRegistration(const std::string& key,
                                                 const std::string& value) {
  absl::StatusOr<json> parsed = ParseJsonStrict(value);
  if (!parsed.ok()) return Bad(key, "value", ToStd(parsed.status().message()));
  const json& j = *parsed;
  if (!j.is_object()) return Bad(key, "value", "is not an object");
  InstanceRecord r;
  r.key = key;
  const auto str = [&](const char* f, std::string& out) -> absl::Status {
    auto it = j.find(f);
    if (it == j.end() || !it->is_string()) return Bad(key, f, "is missing or not a string");
    out = it->get<std::string>();
    return absl::OkStatus();
  };
  const auto num = [&](const char* f, int64_t& out) -> absl::Status {
    auto it = j.find(f);
    if (it == j.end() || !it->is_number_integer()) {
      return Bad(key, f, "is missing or not a whole number");
    }
    out = it->get<int64_t>();
    return absl::OkStatus();
  };
  for (auto [f, out] : {std::pair<const char*, std::string*>{"id", &r.id},
                        {"host", &r.host},
                        {"version", &r.version},
                        {"started_at", &r.started_at},
                        {"written_at", &r.written_at}}) {
    if (absl::Status s = str(f, *out); !s.ok()) return s;
  }
  for (auto [f, out] : {std::pair<const char*, int64_t*>{"pid", &r.pid},
                        {"revision", &r.revision},
                        {"layer_revision", &r.layer_revision}}) {
    if (absl::Status s = num(f, *out); !s.ok()) return s;
  }
  if (auto src = j.find("sources"); src != j.end() && src->is_array()) {
    for (const json& h : *src) {
      if (!h.is_object()) continue;
      if (h.value("healthy", true)) continue;
      r.unhealthy.push_back(absl::StrCat(h.value("name", std::string("?")), ": ",
                                         h.value("last_error", std::string())));
    }
  }
  auto sws = j.find("switches");
  if (sws == j.end() || !sws->is_object()) return Bad(key, "switches", "is missing or not an object");
  for (const auto& [name, s] : sws->items()) {
    if (!s.is_object()) return Bad(key, absl::StrCat("switches.", name), "is not an object");
    InstanceRecord::Switch sw;
    sw.state = s.value("state", std::string());
    if (sw.state != "on" && sw.state != "off") {
      return Bad(key, absl::StrCat("switches.", name, ".state"), "is not on or off");
    }
    if (auto a = s.find("allow"); a != s.end() && a->is_number()) sw.allow = a->get<double>();
    if (auto f = s.find("fault"); f != s.end()) sw.fault = *f;
    sw.layer = s.value("layer", std::string());
    if (auto g = s.find("groups"); g != s.end() && g->is_array()) {
      for (const json& x : *g) {
        if (x.is_string()) sw.groups.push_back(x.get<std::string>());
      }
    }
    r.switches.emplace(name, std::move(sw));
  }
  return r;
}

absl::StatusOr<FleetSnapshot> ReadFleet(EtcdClient& client, std::string_view prefix) {
  FleetSnapshot out;
  out.prefix = NormalizeEtcdPrefix(prefix);
  absl::StatusOr<EtcdClient::RangeResult> range = client.RangePrefix(out.prefix);
  if (!range.ok()) return range.status();
  out.revision = range->revision;
  const std::string dir = absl::StrCat(out.prefix, ToAbsl(kInstancesDir));
  for (EtcdKv& kv : range->kvs) {
    if (!absl::StartsWith(kv.key, dir)) {
      out.layer.push_back(std::move(kv));
      continue;
    }
    absl::StatusOr<InstanceRecord> r = ParseRegistration(kv.key, kv.value);
    if (!r.ok()) {
      out.errors.push_back(ToStd(r.status().message()));
      continue;
    }
    r->mod_revision = kv.mod_revision;
    out.instances.push_back(*std::move(r));
  }
  std::sort(out.instances.begin(), out.instances.end(),
            [](const InstanceRecord& a, const InstanceRecord& b) { return a.id < b.id; });
  return out;
}

std::vector<std::string> DefinedSwitches(const FleetSnapshot& fleet) {
  std::set<std::string> names;
  for (const InstanceRecord& r : fleet.instances) {
    for (const auto& [name, sw] : r.switches) names.insert(name);
  }
  return {names.begin(), names.end()};
}

json CompareFleet(const FleetSnapshot& fleet, std::string_view only_switch, absl::Time now) {
  // etcd's values that are in force: valid and not expired.
  std::map<std::string, Decider> switch_keys, group_keys;
  std::optional<Decider> all;
  // PREFIX/shed (a shed level: every switch of that tier or higher is off
  // in the remote layer). Which switches it covers depends on tiers, which
  // the comparison does not redo: a switch the remote layer decides with no
  // other key of etcd for it is taken as decided by the shed level.
  bool shed_key = false;
  int64_t latest = 0;
  for (const EtcdKv& kv : fleet.layer) {
    latest = std::max(latest, kv.mod_revision);
    const std::string rel = kv.key.substr(fleet.prefix.size());
    if (rel == "shed") {
      shed_key = true;
      continue;
    }
    std::string scope, name;
    if (rel == "all") {
      scope = "all";
    } else if (absl::StartsWith(rel, "switches/")) {
      scope = "switch";
      name = rel.substr(9);
    } else if (absl::StartsWith(rel, "groups/")) {
      name = rel.substr(7);
      scope = absl::StrCat("group:", name);
    } else {
      continue;
    }
    absl::StatusOr<SwitchValue> v = ParseSwitchValue(kv.value, "etcd", "value", now);
    if (!v.ok() || !v->SetsState()) continue;
    if (v->expires_at.has_value() && *v->expires_at <= now) continue;
    Decider d{kv.key, scope, kv.mod_revision, *v, *ParseJsonStrict(kv.value)};
    if (scope == "all") {
      all = std::move(d);
    } else if (scope == "switch") {
      switch_keys.emplace(name, std::move(d));
    } else {
      group_keys.emplace(name, std::move(d));
    }
  }
  for (const InstanceRecord& r : fleet.instances) latest = std::max(latest, r.layer_revision);

  json instances = json::array();
  size_t current = 0;
  bool agree = !fleet.instances.empty();
  for (const InstanceRecord& r : fleet.instances) {
    json problems = json::array();
    const bool is_current = r.revision >= latest;
    if (is_current) {
      ++current;
    } else {
      problems.push_back(absl::StrCat("stale: applied revision ", r.revision,
                                      ", the latest change is revision ", latest));
    }
    for (const std::string& u : r.unhealthy) {
      problems.push_back(absl::StrCat("source unhealthy: ", u));
    }
    if (!problems.empty()) agree = false;
    instances.push_back({{"id", r.id},
                         {"host", r.host},
                         {"pid", r.pid},
                         {"version", r.version},
                         {"started_at", r.started_at},
                         {"written_at", r.written_at},
                         {"revision", r.revision},
                         {"current", is_current},
                         {"healthy", r.unhealthy.empty()},
                         {"problems", std::move(problems)}});
  }

  // Every switch some instance defines or etcd names.
  std::set<std::string> names;
  for (const InstanceRecord& r : fleet.instances) {
    for (const auto& [name, sw] : r.switches) names.insert(name);
  }
  for (const auto& [name, d] : switch_keys) names.insert(name);
  if (!only_switch.empty()) {
    const std::string only(only_switch);
    names = {only};
  }

  json disagreements = json::array();
  for (const std::string& name : names) {
    // Each instance's deciding etcd value for this switch.
    json rows = json::array();
    json etcd_shown = nullptr;
    if (auto k = switch_keys.find(name); k != switch_keys.end()) {
      etcd_shown = {{"key", k->second.key},
                    {"scope", k->second.scope},
                    {"mod_revision", k->second.mod_revision},
                    {"value", k->second.raw}};
    }
    // For switches etcd says nothing about: the most common state; on a
    // tie, the one the code's default gives (an env pin or a file is the
    // odd one out, not the declaration).
    std::map<std::string, std::pair<int, bool>> votes;  // count, some from the default layer
    for (const InstanceRecord& r : fleet.instances) {
      auto it = r.switches.find(name);
      if (it == r.switches.end()) continue;
      const InstanceRecord::Switch& sw = it->second;
      bool decided = false;
      for (const auto& [g, d] : group_keys) {
        decided = decided || std::find(sw.groups.begin(), sw.groups.end(), g) != sw.groups.end();
      }
      if (!switch_keys.contains(name) && !decided && !all.has_value()) {
        auto& v = votes[Shown(sw.state, sw.allow)];
        ++v.first;
        v.second = v.second || sw.layer == "default";
      }
    }
    std::string majority;
    std::pair<int, bool> best = {0, false};
    for (const auto& [shown, v] : votes) {
      if (v > best) {
        best = v;
        majority = shown;
      }
    }
    for (const InstanceRecord& r : fleet.instances) {
      auto it = r.switches.find(name);
      if (it == r.switches.end()) {
        // Only etcd's own key for the switch asks something of it; a group
        // or `all` does not name it (a rolling deploy has both versions).
        if (!switch_keys.contains(name)) continue;
        rows.push_back({{"id", r.id},
                        {"state", nullptr},
                        {"allow", nullptr},
                        {"fault", nullptr},
                        {"layer", nullptr},
                        {"why", absl::StrCat("the switch is not defined there (version ",
                                             r.version, ")")}});
        continue;
      }
      const InstanceRecord::Switch& sw = it->second;
      const Decider* d = nullptr;
      if (auto k = switch_keys.find(name); k != switch_keys.end()) {
        d = &k->second;
      } else {
        for (const std::string& g : sw.groups) {
          if (auto k2 = group_keys.find(g); k2 != group_keys.end()) {
            d = &k2->second;
            break;
          }
        }
        if (d == nullptr && all.has_value()) d = &*all;
      }
      std::string why;
      if (d != nullptr) {
        if (etcd_shown.is_null()) {
          etcd_shown = {{"key", d->key},
                        {"scope", d->scope},
                        {"mod_revision", d->mod_revision},
                        {"value", d->raw}};
        }
        const std::string want = StateOf(d->value);
        const double want_allow = d->value.allow.value_or(1.0);
        const bool same = sw.layer == "remote" && sw.state == want &&
                          (want == "off" || sw.allow == want_allow);
        if (!same) {
          if (sw.layer == "breaker" || sw.layer == "governor" || sw.layer == "admin") {
            why = absl::StrCat("decided by its ", sw.layer, " layer, above etcd");
          } else if (r.revision < d->mod_revision) {
            why = absl::StrCat("stale: applied revision ", r.revision, ", etcd's value is from revision ",
                               d->mod_revision);
          } else if (!r.unhealthy.empty()) {
            why = absl::StrCat("its source is unhealthy (", r.unhealthy.front(), ")");
          } else {
            why = absl::StrCat("decided by its ", sw.layer, " layer; etcd's value (", d->key,
                               ") is not in force there");
          }
        }
      } else if (sw.layer == "remote" && !shed_key) {
        why = absl::StrCat("still holds a value etcd no longer has (applied revision ",
                           r.revision, ", latest ", latest, ")");
      } else if (Shown(sw.state, sw.allow) != majority) {
        why = absl::StrCat("decided by its ", sw.layer,
                           " layer (etcd says nothing about it); most instances are ", majority);
      }
      if (why.empty()) continue;
      rows.push_back({{"id", r.id},
                      {"state", sw.state},
                      {"allow", sw.allow},
                      {"fault", sw.fault},
                      {"layer", sw.layer},
                      {"why", std::move(why)}});
    }
    if (rows.empty()) continue;
    agree = false;
    disagreements.push_back(
        {{"switch", name}, {"etcd", std::move(etcd_shown)}, {"instances", std::move(rows)}});
  }
  return {{"prefix", fleet.prefix},
          {"revision", fleet.revision},
          {"latest_revision", latest},
          {"registered", fleet.instances.size()},
          {"current", current},
          {"agree", agree},
          {"instances", std::move(instances)},
          {"disagreements", std::move(disagreements)},
          {"errors", fleet.errors}};
}

}  // namespace degrade::internal
