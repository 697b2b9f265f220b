// degradectl's fleet commands. See ctl_fleet.h.
//
// Why --wait watches the registrations instead of reading them again and
// again: with hundreds of instances each read moves every registration
// (about 1 KB each); a watch of PREFIX/instances/ delivers each instance's
// new value once, as it is written, which is also the moment to time.
//
// Why history watches the whole prefix and drops the registrations itself:
// the watch must end when it reaches the revision read at the start, and
// the registrations, rewritten after every change, are usually the newest
// keys under the prefix; a watch of the layer's keys alone would wait out
// its idle timeout every time.
#include "ctl_fleet.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/json_strict.h"
#include "ctl_args.h"
#include "ctl_json.h"
#include "ctl_render.h"
#include "ctl_strings.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_watch_parser.h"
#include "etcd/registration.h"
#include "etcd/registration_view.h"

namespace degrade::ctl {
namespace {

using internal::EtcdClient;
using internal::EtcdKv;
using internal::EtcdWatchMessage;
using nlohmann::json;

std::string Dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

std::string InstancesDir(const FleetTarget& t) {
  return absl::StrCat(t.prefix, AV(internal::kInstancesDir));
}

absl::Status Unreadable(const FleetTarget& t, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("cannot read ", t.prefix, " in etcd: ", s.message(),
                                             ": is etcd running at ",
                                             absl::StrJoin(t.client.endpoints, ", "),
                                             "? (--etcd)"));
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.0f ms", absl::ToDoubleMilliseconds(d));
}

// Nearest rank.
absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string ShownState(const json& row) {
  if (!row["state"].is_string()) return "-";
  std::string s = row["state"].get<std::string>();
  if (s == "on" && row["allow"].is_number() && row["allow"].get<double>() < 1.0) {
    s = absl::StrCat("on ", row["allow"].get<double>() * 100, "%");
  }
  if (row["layer"].is_string()) absl::StrAppend(&s, " (", row["layer"].get<std::string>(), ")");
  return s;
}

std::string EtcdShown(const json& etcd) {
  if (!etcd.is_object()) return "etcd says nothing about it";
  return absl::StrCat("etcd: ", ValueLabel(etcd["value"]), ", ",
                      etcd["key"].get<std::string>(), " rev ", etcd["mod_revision"].dump());
}

void RenderDisagreements(const json& view, std::ostream& out) {
  for (const json& d : view["disagreements"]) {
    out << "  " << d["switch"].get<std::string>() << " (" << EtcdShown(d["etcd"]) << "):\n";
    for (const json& row : d["instances"]) {
      out << "    " << row["id"].get<std::string>() << ": " << ShownState(row) << ": "
          << row["why"].get<std::string>() << "\n";
    }
  }
}

std::string RenderStatus(const json& view) {
  std::ostringstream out;
  out << "fleet under " << view["prefix"].get<std::string>() << " (etcd revision "
      << view["revision"].dump() << ")\n";
  const size_t registered = view["registered"].get<size_t>();
  if (registered == 0) {
    out << "no instance is registered under " << view["prefix"].get<std::string>()
        << "instances/ (none running, or all with DEGRADE_ETCD_REGISTER=off)\n";
    return out.str();
  }
  out << registered << (registered == 1 ? " instance" : " instances") << " registered; "
      << view["current"].dump() << " applied the latest change ("
      << (view["latest_revision"].get<int64_t>() > 0
              ? absl::StrCat("revision ", view["latest_revision"].get<int64_t>())
              : std::string("no change in etcd yet"))
      << ")\n";
  size_t w = 2;
  for (const json& i : view["instances"]) w = std::max(w, i["id"].get<std::string>().size());
  out << absl::StrFormat("%-*s  %-16s %8s  %-10s %9s  %s\n", static_cast<int>(w), "ID", "HOST",
                         "PID", "VERSION", "REVISION", "PROBLEMS");
  for (const json& i : view["instances"]) {
    std::vector<std::string> problems;
    for (const json& p : i["problems"]) problems.push_back(p.get<std::string>());
    out << absl::StrFormat("%-*s  %-16s %8d  %-10s %9d  %s\n", static_cast<int>(w),
                           i["id"].get<std::string>(), i["host"].get<std::string>(),
                           i["pid"].get<int64_t>(), i["version"].get<std::string>(),
                           i["revision"].get<int64_t>(),
                           problems.empty() ? std::string("-") : absl::StrJoin(problems, "; "));
  }
  if (!view["disagreements"].empty()) {
    out << "disagreements:\n";
    RenderDisagreements(view, out);
  }
  for (const json& e : view["errors"]) out << "error: " << e.get<std::string>() << "\n";
  out << (view["agree"].get<bool>() ? "every instance agrees with etcd\n"
                                    : "the fleet does not agree with etcd\n");
  return out.str();
}

// Watches PREFIX/instances/ from `from` until `done` says so or `deadline`;
// `on_put` gets each registration written, `on_delete` each one gone.
absl::Status WatchInstances(const FleetTarget& target, int64_t from, absl::Time deadline,
                            const std::function<bool(const EtcdKv&)>& on_put,
                            const std::function<bool(const std::string&)>& on_delete) {
  EtcdClient::Config config = target.client;
  config.watch_idle_timeout = std::max(deadline - absl::Now(), absl::Milliseconds(1));
  EtcdClient client(config);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread timer([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, absl::ToChronoNanoseconds(std::max(deadline - absl::Now(),
                                                         absl::ZeroDuration())),
                [&] { return finished; });
    if (!finished) client.Stop();
  });
  EtcdClient::WatchOptions options;
  const std::string dir = InstancesDir(target);
  options.key = dir;
  options.range_end = internal::EtcdPrefixEnd(dir);
  options.start_revision = from;
  options.progress_notify = false;
  absl::Status s;
  while (absl::Now() < deadline) {
    bool more = true;
    s = client.Watch(options, [&](EtcdWatchMessage&& m) {
      for (internal::EtcdEvent& e : m.events) {
        options.start_revision = std::max(options.start_revision, e.kv.mod_revision + 1);
        const bool go_on = e.type == internal::EtcdEvent::Type::kDelete ? on_delete(e.kv.key)
                                                                          : on_put(e.kv);
        if (!go_on) {
          more = false;
          return false;
        }
      }
      return true;
    });
    if (!more || client.stopped()) break;
    if (!s.ok() && !absl::IsDeadlineExceeded(s) && !absl::IsUnavailable(s)) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_one();
  timer.join();
  return absl::IsCancelled(s) || absl::IsDeadlineExceeded(s) ? absl::OkStatus() : s;
}

}  // namespace

int FleetStatus(const FleetTarget& target, std::string_view only_switch, bool as_json,
                std::ostream& out, std::ostream& err) {
  EtcdClient client(target.client);
  absl::StatusOr<internal::FleetSnapshot> fleet = internal::ReadFleet(client, target.prefix);
  if (!fleet.ok()) {
    err << "degradectl: " << Unreadable(target, fleet.status()).message() << "\n";
    return 1;
  }
  const json view = internal::CompareFleet(*fleet, only_switch, absl::Now());
  if (as_json) {
    out << Dump(view) << "\n";
  } else {
    out << RenderStatus(view);
  }
  return view["agree"].get<bool>() ? 0 : 1;
}

absl::Status CheckSwitchKnown(const FleetTarget& target, std::string_view name) {
  EtcdClient client(target.client);
  absl::StatusOr<internal::FleetSnapshot> fleet = internal::ReadFleet(client, target.prefix);
  if (!fleet.ok()) return Unreadable(target, fleet.status());
  if (fleet->instances.empty()) return absl::OkStatus();
  const std::vector<std::string> defined = internal::DefinedSwitches(*fleet);
  if (std::find(defined.begin(), defined.end(), name) != defined.end()) return absl::OkStatus();
  const std::string nearest = NearestName(name, defined);
  return absl::FailedPreconditionError(absl::StrCat(
      "no registered instance defines the switch \"", AV(name), "\" (", fleet->instances.size(),
      fleet->instances.size() == 1 ? " instance" : " instances", " under ",
      InstancesDir(target), ")",
      nearest.empty() ? "" : absl::StrCat("; did you mean \"", nearest, "\"?"),
      "; nothing was written; pass --force to write it anyway (for a switch a release "
      "about to roll out defines)"));
}

int FleetWait(const FleetTarget& target, int64_t revision, absl::Time started,
              std::string_view name, absl::Duration timeout, bool as_json, json* report,
              std::ostream& out, std::ostream& err) {
  const absl::Time deadline = started + timeout;
  EtcdClient client(target.client);
  absl::StatusOr<internal::FleetSnapshot> fleet = internal::ReadFleet(client, target.prefix);
  if (!fleet.ok()) {
    err << "degradectl: the write was made, but waiting for the fleet failed: "
        << Unreadable(target, fleet.status()).message() << "\n";
    return 1;
  }
  // id -> when it reported `revision` (nullopt: not yet).
  std::map<std::string, std::optional<absl::Duration>> confirmed;
  std::map<std::string, std::string> key_to_id;
  std::set<std::string> left;
  const absl::Time read_at = absl::Now();
  for (const internal::InstanceRecord& r : fleet->instances) {
    key_to_id[r.key] = r.id;
    confirmed[r.id] = r.revision >= revision ? std::optional(read_at - started) : std::nullopt;
  }
  const auto pending = [&] {
    size_t n = 0;
    for (const auto& [id, t] : confirmed) n += t.has_value() ? 0 : 1;
    return n;
  };
  absl::Status watched;
  if (!confirmed.empty() && pending() > 0) {
    watched = WatchInstances(
        target, fleet->revision + 1, deadline,
        [&](const EtcdKv& kv) {
          absl::StatusOr<internal::InstanceRecord> r =
              internal::ParseRegistration(kv.key, kv.value);
          if (!r.ok()) return true;
          key_to_id[kv.key] = r->id;
          auto& slot = confirmed[r->id];
          if (!slot.has_value() && r->revision >= revision) slot = absl::Now() - started;
          return pending() > 0;
        },
        [&](const std::string& key) {
          auto it = key_to_id.find(key);
          if (it != key_to_id.end() && confirmed.contains(it->second) &&
              !confirmed[it->second].has_value()) {
            left.insert(it->second);
            confirmed.erase(it->second);
          }
          return pending() > 0;
        });
  }
  std::vector<absl::Duration> times;
  std::vector<std::string> late;
  for (const auto& [id, t] : confirmed) {
    if (t.has_value()) {
      times.push_back(*t);
    } else {
      late.push_back(id);
    }
  }
  // What the confirmed instances now say about the switch.
  json disagreements = json::array();
  if (absl::StatusOr<internal::FleetSnapshot> after = internal::ReadFleet(client, target.prefix);
      after.ok()) {
    const json view = internal::CompareFleet(*after, name, absl::Now());
    for (const json& d : view["disagreements"]) {
      json rows = json::array();
      for (const json& row : d["instances"]) {
        const std::string id = row["id"].get<std::string>();
        if (std::find(late.begin(), late.end(), id) == late.end()) rows.push_back(row);
      }
      if (rows.empty()) continue;
      json copy = d;
      copy["instances"] = std::move(rows);
      disagreements.push_back(std::move(copy));
    }
  }
  const bool ok = !confirmed.empty() && late.empty() && disagreements.empty();
  json result = {{"revision", revision},
                 {"registered", confirmed.size()},
                 {"confirmed", times.size()},
                 {"p50_ms", absl::ToDoubleMilliseconds(Percentile(times, 0.5))},
                 {"max_ms", absl::ToDoubleMilliseconds(Percentile(times, 1.0))},
                 {"not_confirmed", late},
                 {"left", std::vector<std::string>(left.begin(), left.end())},
                 {"disagreements", disagreements},
                 {"timeout_ms", absl::ToDoubleMilliseconds(timeout)},
                 {"ok", ok}};
  if (!watched.ok()) result["error"] = std::string(SV(watched.message()));
  if (as_json) {
    *report = std::move(result);
  } else if (confirmed.empty()) {
    out << "fleet: no instance is registered under " << InstancesDir(target)
        << " (none running, or all with DEGRADE_ETCD_REGISTER=off): nothing confirmed the "
           "change\n";
  } else {
    out << "fleet: " << times.size() << " of " << confirmed.size()
        << (confirmed.size() == 1 ? " instance" : " instances") << " applied revision "
        << revision;
    if (!times.empty()) {
      out << " (p50 " << Ms(Percentile(times, 0.5)) << ", max " << Ms(Percentile(times, 1.0))
          << " after the write)";
    }
    out << "\n";
    if (!late.empty()) {
      out << "did not confirm within " << absl::FormatDuration(timeout) << ": "
          << absl::StrJoin(late, ", ") << "\n";
    }
    if (!left.empty()) {
      out << "left the fleet during the wait: " << absl::StrJoin(left, ", ") << "\n";
    }
    if (!disagreements.empty()) {
      out << "disagree:\n";
      RenderDisagreements(json{{"disagreements", disagreements}}, out);
    }
    if (!watched.ok()) err << "degradectl: watching the fleet: " << watched.message() << "\n";
  }
  return ok ? 0 : 1;
}

namespace {

struct Change {
  int64_t revision = 0;
  std::string key;
  std::optional<std::string> old_value, new_value;
};

std::string Rel(const FleetTarget& t, const std::string& key) {
  return absl::StartsWith(key, t.prefix) ? key.substr(t.prefix.size()) : key;
}

json ValueJson(const std::optional<std::string>& text) {
  if (!text.has_value()) return nullptr;
  absl::StatusOr<json> j = internal::ParseJsonStrict(*text);
  return j.ok() ? *std::move(j) : json(*text);
}

}  // namespace

int FleetHistory(const FleetTarget& target, std::string_view only_switch, bool as_json,
                 std::ostream& out, std::ostream& err) {
  const auto fail = [&](const absl::Status& s) {
    err << "degradectl: " << Unreadable(target, s).message() << "\n";
    return 1;
  };
  const std::string dir = InstancesDir(target);
  const std::string end = internal::EtcdPrefixEnd(target.prefix);
  const std::string only_key =
      only_switch.empty() ? std::string() : absl::StrCat(target.prefix, "switches/", AV(only_switch));
  // The keys shown: the layer's (or the one switch's), not the registrations.
  const auto shown = [&](const std::string& key) {
    if (!only_key.empty()) return key == only_key;
    return !absl::StartsWith(key, dir);
  };
  EtcdClient client(target.client);
  absl::StatusOr<EtcdClient::RangeResult> now = client.Range(target.prefix, "");
  if (!now.ok()) return fail(now.status());
  const int64_t current = now->revision;

  EtcdClient::Config config = target.client;
  // etcd sends a catching-up watcher what it has at once (in batches of up
  // to 1,000 revisions, 100 ms apart); a second of silence means there is
  // no more. The registrations under the prefix can make that large.
  config.watch_idle_timeout = absl::Seconds(1);
  config.max_watch_message_bytes = size_t{64} << 20;
  // Where etcd's history starts: a watch from revision 1 is canceled with
  // the oldest revision kept when older ones were compacted.
  int64_t cut = 0;
  {
    EtcdClient probe_client(config);
    EtcdClient::WatchOptions probe;
    probe.key = target.prefix;
    probe.range_end = end;
    probe.start_revision = 1;
    probe.progress_notify = false;
    absl::Status s = probe_client.Watch(probe, [&](EtcdWatchMessage&& m) {
      if (m.canceled) cut = m.compact_revision;
      return m.created && m.events.empty() && !m.canceled;  // until the first answer
    });
    if (!s.ok() && !absl::IsDeadlineExceeded(s)) return fail(s);
  }
  // The values in force at the cut, then every event after it.
  std::map<std::string, std::string> state;
  std::vector<Change> changes;
  for (int attempt = 0; attempt < 3; ++attempt) {
    state.clear();
    changes.clear();
    absl::Status failed;
    if (cut > 0) {
      absl::StatusOr<EtcdClient::RangeResult> base = client.RangeAt(target.prefix, end, cut);
      if (base.ok()) {
        for (EtcdKv& kv : base->kvs) {
          if (shown(kv.key)) state[kv.key] = std::move(kv.value);
        }
      } else {
        failed = base.status();
      }
    }
    if (failed.ok() && current >= std::max<int64_t>(cut + 1, 1)) {
      EtcdClient watch_client(config);
      EtcdClient::WatchOptions options;
      options.key = target.prefix;
      options.range_end = end;
      options.start_revision = cut > 0 ? cut + 1 : 1;
      options.progress_notify = false;
      bool compacted = false;
      absl::Status s = watch_client.Watch(options, [&](EtcdWatchMessage&& m) {
        if (m.canceled) {
          compacted = true;
          cut = m.compact_revision;
          return false;
        }
        for (internal::EtcdEvent& e : m.events) {
          if (e.kv.mod_revision > current) return false;
          if (shown(e.kv.key)) {
            Change c;
            c.revision = e.kv.mod_revision;
            c.key = e.kv.key;
            if (e.type == internal::EtcdEvent::Type::kPut) c.new_value = std::move(e.kv.value);
            changes.push_back(std::move(c));
          }
          if (e.kv.mod_revision == current) return false;
        }
        return true;
      });
      if (compacted) {
        failed = absl::OutOfRangeError("compacted while reading");
      } else if (!s.ok() && !absl::IsDeadlineExceeded(s)) {
        failed = s;
      }
    }
    if (failed.ok()) break;
    if (!absl::IsOutOfRange(failed) || attempt == 2) return fail(failed);
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const Change& a, const Change& b) { return a.revision < b.revision; });
  json rows = json::array();
  for (Change& c : changes) {
    auto it = state.find(c.key);
    if (it != state.end()) c.old_value = it->second;
    if (c.new_value.has_value()) {
      state[c.key] = *c.new_value;
    } else if (it != state.end()) {
      state.erase(it);
    }
    const json nv = ValueJson(c.new_value);
    rows.push_back({{"revision", c.revision},
                    {"key", c.key},
                    {"time", Str(nv, "set_at").empty() ? json(nullptr) : json(Str(nv, "set_at"))},
                    {"actor", Str(nv, "actor")},
                    {"reason", Str(nv, "reason")},
                    {"old", ValueJson(c.old_value)},
                    {"new", nv}});
  }
  const std::string cut_text =
      cut > 0 ? absl::StrCat("history cut at revision ", cut,
                             ": etcd compacted the revisions before it; changes before then are "
                             "not known")
              : std::string("complete: etcd has compacted nothing");
  if (as_json) {
    out << Dump({{"prefix", target.prefix},
                 {"revision", current},
                 {"compacted_before", cut > 0 ? json(cut) : json(nullptr)},
                 {"note", cut_text},
                 {"changes", rows}})
        << "\n";
    return 0;
  }
  out << "history of " << target.prefix;
  if (!only_switch.empty()) out << "switches/" << only_switch;
  out << " up to etcd revision " << current << " (" << cut_text << ")\n";
  if (rows.empty()) {
    out << "(no change)\n";
    return 0;
  }
  out << absl::StrFormat("%8s  %-24s  %-28s  %-34s  %-10s  %s\n", "REVISION", "TIME", "KEY",
                         "CHANGE", "ACTOR", "REASON");
  for (const json& r : rows) {
    const std::string change =
        absl::StrCat(r["old"].is_null() ? "(none)" : ValueLabel(r["old"]), " -> ",
                     r["new"].is_null() ? "(none)" : ValueLabel(r["new"]));
    out << absl::StrFormat("%8d  %-24s  %-28s  %-34s  %-10s  %s\n", r["revision"].get<int64_t>(),
                           r["time"].is_string() ? r["time"].get<std::string>() : "-",
                           Rel(target, r["key"].get<std::string>()), change,
                           r["actor"].get<std::string>().empty() ? "-" : r["actor"].get<std::string>(),
                           r["reason"].get<std::string>().empty() ? "-"
                                                                  : r["reason"].get<std::string>());
  }
  return 0;
}

}  // namespace degrade::ctl
