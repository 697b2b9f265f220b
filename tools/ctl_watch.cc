// degradectl watch by polling (see ctl_watch.h), and WatchStop.
#include "ctl_watch.h"

#include <cstdint>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ctl_json.h"

namespace degrade::ctl {

using nlohmann::json;

// ----------------------------------------------------------------- WatchStop

void WatchStop::Stop() {
  std::lock_guard<std::mutex> callbacks_lock(callbacks_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  for (auto& [id, fn] : callbacks_) fn();
  callbacks_.clear();
}

bool WatchStop::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool WatchStop::SleepFor(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return stopped_; });
}

uint64_t WatchStop::OnStop(std::function<void()> fn) {
  std::lock_guard<std::mutex> callbacks_lock(callbacks_mu_);
  bool already = false;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    already = stopped_;
    id = next_id_++;
  }
  // Stop() ran before us: it will not run this one, so run it here (still
  // under callbacks_mu_, so RemoveOnStop keeps its promise).
  if (already) {
    fn();
  } else {
    callbacks_.emplace(id, std::move(fn));
  }
  return id;
}

void WatchStop::RemoveOnStop(uint64_t id) {
  std::lock_guard<std::mutex> callbacks_lock(callbacks_mu_);
  callbacks_.erase(id);
}

// -------------------------------------------------------------------- diffs

namespace {

// name -> entry of a listing's "switches".
std::map<std::string, const json*> ByName(const json& listing) {
  std::map<std::string, const json*> out;
  if (!listing.is_object()) return out;
  auto it = listing.find("switches");
  if (it == listing.end() || !it->is_array()) return out;
  for (const json& sw : *it) {
    std::string name = Str(sw, "name");
    if (!name.empty()) out.emplace(std::move(name), &sw);
  }
  return out;
}

// What makes two entries the same for watch; counters are left out.
json Fingerprint(const json& sw) {
  return {EffectiveStateJson(sw), Str(sw, "layer"),  Str(sw, "fault_layer"),
          Str(sw, "reason"),      Str(sw, "actor"),  Str(sw, "expires_at")};
}

// The value `layer` holds for the switch itself (scope "switch"), or null.
const json* LayerEntry(const json& sw, const std::string& layer) {
  auto layers = sw.find("layers");
  if (layers == sw.end() || !layers->is_array()) return nullptr;
  for (const json& entry : *layers) {
    if (Str(entry, "layer") != layer) continue;
    auto value = entry.find("value");
    if (value != entry.end() && value->is_object() && value->contains("fault")) return &*value;
  }
  return nullptr;
}

}  // namespace

json EffectiveStateJson(const json& sw) {
  json out = {{"state", Str(sw, "state")}};
  if (!sw.is_object()) return out;
  if (auto it = sw.find("allow"); it != sw.end() && it->is_number() && it->get<double>() != 1.0) {
    out["allow"] = *it;
  }
  if (auto it = sw.find("fault"); it != sw.end() && it->is_object()) out["fault"] = *it;
  return out;
}

std::vector<WatchEvent> DiffListings(const json& before, const json& after, absl::Time now) {
  const std::map<std::string, const json*> old_by_name = ByName(before);
  const std::map<std::string, const json*> new_by_name = ByName(after);
  std::vector<std::string> names;
  names.reserve(old_by_name.size() + new_by_name.size());
  for (const auto& [name, sw] : old_by_name) names.push_back(name);
  for (const auto& [name, sw] : new_by_name) {
    if (!old_by_name.contains(name)) names.push_back(name);
  }
  std::vector<WatchEvent> events;
  for (const std::string& name : names) {
    const auto o = old_by_name.find(name);
    const auto n = new_by_name.find(name);
    const json* old_sw = o == old_by_name.end() ? nullptr : o->second;
    const json* new_sw = n == new_by_name.end() ? nullptr : n->second;
    if (old_sw != nullptr && new_sw != nullptr && Fingerprint(*old_sw) == Fingerprint(*new_sw)) {
      continue;
    }
    WatchEvent e;
    e.time = now;
    e.name = name;
    if (old_sw != nullptr) {
      e.old_value = EffectiveStateJson(*old_sw);
      e.old_layer = Str(*old_sw, "layer");
    }
    // A switch that is gone keeps the last reason and actor it had: they
    // say what was lost.
    const json& current = new_sw != nullptr ? *new_sw : *old_sw;
    if (new_sw != nullptr) {
      e.new_value = EffectiveStateJson(*new_sw);
      e.layer = Str(*new_sw, "layer");
      e.fault_layer = Str(*new_sw, "fault_layer");
      e.expires_at = Str(*new_sw, "expires_at");
    }
    // The default layer's actor and reason are placeholders ("code",
    // "default") that say nothing.
    if (Str(current, "layer") != "default") {
      e.actor = Str(current, "actor");
      e.reason = Str(current, "reason");
    }
    // Only the fault changed: the entry that set it says who and why, not
    // the one deciding the state (often the code's default).
    if (old_sw != nullptr && new_sw != nullptr && !e.fault_layer.empty() &&
        e.old_layer == e.layer && e.old_value.value("state", "") == e.new_value.value("state", "") &&
        e.old_value.value("allow", 1.0) == e.new_value.value("allow", 1.0)) {
      if (const json* entry = LayerEntry(*new_sw, e.fault_layer)) {
        e.actor = Str(*entry, "actor");
        e.reason = Str(*entry, "reason");
        e.expires_at = Str(*entry, "expires_at");
      }
    }
    events.push_back(std::move(e));
  }
  return events;
}

// ------------------------------------------------------------------ polling

absl::Status PollWatch(Backend& backend, const std::string& where, absl::Duration interval,
                       WatchStop& stop, const WatchSink& sink) {
  absl::StatusOr<Reply> first = backend.List();
  if (!first.ok()) return first.status();
  json last = std::move(first->json);
  bool in_contact = true;
  const auto notice = [&](const std::string& text) {
    if (sink.on_notice) sink.on_notice(text);
  };
  notice(absl::StrCat("watching ", where, ": reading its listing every ",
                      absl::FormatDuration(interval), "; Ctrl-C to stop"));
  while (!stop.SleepFor(interval)) {
    absl::StatusOr<Reply> now = backend.List();
    if (stop.stopped()) break;  // a request cut short by Stop() is no news
    if (!now.ok()) {
      if (in_contact) {
        notice(absl::StrCat("lost contact with ", where, ": ", now.status().message(),
                            "; retrying every ", absl::FormatDuration(interval)));
        in_contact = false;
      }
      continue;
    }
    if (!in_contact) {
      notice(absl::StrCat("back in contact with ", where,
                          "; changes made meanwhile follow, stamped now"));
      in_contact = true;
    }
    for (const WatchEvent& e : DiffListings(last, now->json, absl::Now())) {
      if (stop.stopped()) break;
      if (sink.on_event) sink.on_event(e);
    }
    last = std::move(now->json);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------- change stream

WatchEvent StreamEventToWatchEvent(const json& event) {
  WatchEvent e;
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, Str(event, "time"), &t, &error)) e.time = t;
  e.name = Str(event, "switch");
  if (event.is_object()) {
    if (auto it = event.find("old"); it != event.end() && it->is_object()) e.old_value = *it;
    if (auto it = event.find("new"); it != event.end() && it->is_object()) e.new_value = *it;
    if (auto it = event.find("revision"); it != event.end() && it->is_number_integer()) {
      e.revision = it->get<int64_t>();
    }
  }
  e.old_layer = Str(event, "old_layer");
  e.layer = Str(event, "layer");
  e.fault_layer = Str(event, "fault_layer");
  e.actor = Str(event, "actor");
  e.reason = Str(event, "reason");
  e.expires_at = Str(event, "expires_at");
  return e;
}

namespace {

uint64_t Unsigned(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() || it->get<int64_t>() >= 0 ? it->get<uint64_t>() : 0;
}

}  // namespace

absl::Status StreamWatch(const EventsFetch& fetch, const std::string& where, absl::Duration retry,
                         WatchStop& stop, const WatchSink& sink, bool* no_stream) {
  *no_stream = false;
  const auto notice = [&](const std::string& text) {
    if (sink.on_notice) sink.on_notice(text);
  };
  absl::StatusOr<json> first = fetch(std::nullopt);
  if (!first.ok()) {
    if (first.status().code() == absl::StatusCode::kNotFound) {
      *no_stream = true;
      return absl::OkStatus();
    }
    return first.status();
  }
  std::optional<uint64_t> after = Unsigned(*first, "next");
  notice(absl::StrCat("watching ", where, ": its change stream; Ctrl-C to stop"));
  bool in_contact = true;
  while (!stop.stopped()) {
    absl::StatusOr<json> got = fetch(after);
    if (stop.stopped()) break;  // a request cut short by Stop() is no news
    if (!got.ok()) {
      if (got.status().code() == absl::StatusCode::kInvalidArgument) {
        // `after` is beyond the service's latest event: it restarted.
        notice(absl::StrCat(where, " restarted; changes made while it restarted are not "
                                   "known; watching from now"));
        after.reset();
        continue;
      }
      if (in_contact) {
        notice(absl::StrCat("lost contact with ", where, ": ", got.status().message(),
                            "; retrying every ", absl::FormatDuration(retry)));
        in_contact = false;
      }
      if (stop.SleepFor(retry)) break;
      continue;
    }
    if (!in_contact) {
      notice(absl::StrCat("back in contact with ", where));
      in_contact = true;
    }
    if (!after.has_value()) {  // after a restart: from now on
      after = Unsigned(*got, "next");
      continue;
    }
    if (const uint64_t missed = Unsigned(*got, "missed"); missed > 0) {
      notice(absl::StrCat(missed, missed == 1 ? " event" : " events",
                          " missed: the service keeps only its most recent changes"));
    }
    if (auto it = got->find("events"); it != got->end() && it->is_array()) {
      for (const json& event : *it) {
        if (stop.stopped()) break;
        if (sink.on_event) sink.on_event(StreamEventToWatchEvent(event));
      }
    }
    after = Unsigned(*got, "next");
  }
  return absl::OkStatus();
}

}  // namespace degrade::ctl
