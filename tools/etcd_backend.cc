// Backend over etcd (DESIGN section 6): degradectl --etcd ENDPOINTS --prefix P.
//
// Keys: PREFIX + "switches/" + NAME, PREFIX + "groups/" + GROUP, PREFIX +
// "all"; each value is what a snapshot holds for that entry. Writes go to
// the switch's key and replace it whole, as a PUT to the admin endpoint
// replaces the admin entry.
//
// Why ttl_s becomes expires_at: every instance applies the key when the
// watch delivers it, and again after a restart (range at start); a relative
// TTL would restart each time. An absolute time ends everywhere at once.
//
// Why values are checked with the library's own parser before a put: an
// instance rejects a bad value under a key (keeping the key's last good
// value), so a value degradectl wrote but instances refuse would look done
// and change nothing.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctl_backend.h"
#include "core/json_strict.h"
#include "ctl_json.h"
#include "ctl_strings.h"
#include "degrade/snapshot.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_source.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {
namespace {

using internal::EtcdClient;
using internal::EtcdKv;
using nlohmann::json;

constexpr std::string_view kNote =
    "etcd holds the remote layer of every instance watching this prefix; an instance's "
    "effective state also depends on its other layers (breaker and admin above, env and file "
    "below): 'degradectl --admin URL list' shows one instance's";

// What a key under the prefix stands for.
struct KeyInfo {
  std::string scope;  // "switch", "group", "all"; empty: outside the layout
  std::string name;
};

KeyInfo ClassifyKey(std::string_view prefix, std::string_view key) {
  if (!absl::StartsWith(AV(key), AV(prefix))) return {};
  std::string_view rest = key.substr(prefix.size());
  if (rest == "all") return {"all", ""};
  if (rest == "shed") return {"shed", ""};
  if (rest == "governor") return {"governor", ""};
  for (const auto& [dir, scope] : {std::pair<std::string_view, const char*>{"switches/", "switch"},
                                   {"groups/", "group"}}) {
    if (absl::StartsWith(AV(rest), AV(dir))) return {scope, std::string(rest.substr(dir.size()))};
  }
  return {};
}

std::string Rfc3339Seconds(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// One key as degradectl shows it: {name, key, value, mod_revision} plus the
// value's state, allow, fault, reason, actor, expires_at when it sets them;
// or, for a value instances reject, {..., value: null, raw, error}.
json EntryJson(const KeyInfo& info, const EtcdKv& kv, absl::Time now) {
  json out = {{"key", kv.key}, {"mod_revision", kv.mod_revision}};
  if (info.scope == "shed" || info.scope == "governor") {
    // Not a switch value: checked as instances read it, shown as stored.
    const absl::Status bad =
        info.scope == "shed"
            ? ParseShed(kv.value, absl::StrCat("etcd ", kv.key), "shed", now).status()
            : ParseGovernorSetting(kv.value, absl::StrCat("etcd ", kv.key), "governor", now)
                  .status();
    out["name"] = info.scope;
    if (!bad.ok()) {
      out["value"] = nullptr;
      out["raw"] = kv.value;
      out["error"] = std::string(SV(bad.message()));
      return out;
    }
    const json value = *internal::ParseJsonStrict(kv.value);
    out["value"] = value;
    if (value.is_object()) {
      for (const char* field : {"reason", "actor", "expires_at"}) {
        if (auto it = value.find(field); it != value.end() && it->is_string()) out[field] = *it;
      }
    }
    return out;
  }
  if (info.scope != "all") out["name"] = info.name;
  const std::string path = info.scope == "all"     ? std::string("all")
                           : info.scope == "group" ? absl::StrCat("groups.", info.name)
                                                   : absl::StrCat("switches.", info.name);
  absl::Status bad;
  if (info.scope != "all") {
    bad = ValidateName(info.name, info.scope == "group" ? "group name" : "switch name");
  }
  absl::StatusOr<SwitchValue> value = absl::InternalError("unset");
  if (bad.ok()) {
    value = ParseSwitchValue(kv.value, absl::StrCat("etcd ", kv.key), path, now);
    if (!value.ok()) bad = value.status();
  }
  if (!bad.ok()) {
    out["value"] = nullptr;
    out["raw"] = kv.value;
    out["error"] = std::string(SV(bad.message()));
    return out;
  }
  // ParseSwitchValue accepted the text, so it is JSON without duplicate keys.
  out["value"] = *internal::ParseJsonStrict(kv.value);
  if (value->state) out["state"] = *value->state == State::kOff ? "off" : "on";
  if (value->allow) {
    out["allow"] = *value->allow;
    if (!value->state) out["state"] = "on";
  }
  if (value->fault) {
    json f = {{"kind", value->fault->kind == Fault::Kind::kDelay ? "delay" : "error"},
              {"rate", value->fault->rate}};
    if (value->fault->delay_ms > 0) f["delay_ms"] = value->fault->delay_ms;
    out["fault"] = std::move(f);
  }
  if (!value->reason.empty()) out["reason"] = value->reason;
  if (!value->actor.empty()) out["actor"] = value->actor;
  if (value->expires_at) out["expires_at"] = Rfc3339Seconds(*value->expires_at);
  return out;
}

class EtcdBackend final : public Backend {
 public:
  EtcdBackend(EtcdOptions options, EtcdClient::Config config)
      : options_(std::move(options)),
        // The source's own rule, so both sides name the same keys.
        prefix_(internal::NormalizeEtcdPrefix(options_.prefix)),
        config_(std::move(config)),
        client_(std::make_unique<EtcdClient>(config_)) {}

  absl::StatusOr<Reply> List() override {
    absl::StatusOr<EtcdClient::RangeResult> range = client_->RangePrefix(prefix_);
    if (!range.ok()) return Unreachable("read", prefix_, range.status());
    const absl::Time now = absl::Now();
    json switches = json::array(), groups = json::array(), errors = json::array();
    json all = nullptr, shed = nullptr, governor = nullptr;
    json flagd = nullptr;
    for (const EtcdKv& kv : range->kvs) {
      if (kv.key == absl::StrCat(prefix_, "flagd")) {
        // A flagd flag file, read whole by instances (docs/openfeature.md);
        // `degradectl list --admin` shows what an instance made of it.
        flagd = {{"key", kv.key}, {"mod_revision", kv.mod_revision}, {"bytes", kv.value.size()}};
        continue;
      }
      const KeyInfo info = ClassifyKey(prefix_, kv.key);
      if (info.scope.empty() && absl::StartsWith(kv.key, absl::StrCat(prefix_, "instances/"))) {
        continue;  // fleet registrations: `degradectl status` shows them
      }
      if (info.scope.empty()) {
        errors.push_back(absl::StrCat(
            "etcd ", kv.key, ": not a degrade key, ignored by instances; accepted under ", prefix_,
            ": switches/NAME, groups/GROUP, all, shed, governor, flagd"));
        continue;
      }
      json entry = EntryJson(info, kv, now);
      if (entry.contains("error")) errors.push_back(entry["error"]);
      if (info.scope == "switch") {
        switches.push_back(std::move(entry));
      } else if (info.scope == "group") {
        groups.push_back(std::move(entry));
      } else if (info.scope == "shed") {
        shed = std::move(entry);
      } else if (info.scope == "governor") {
        governor = std::move(entry);
      } else {
        all = std::move(entry);
      }
    }
    json listing = {{"etcd", Where(range->revision)}, {"note", kNote},
                    {"switches", std::move(switches)}, {"groups", std::move(groups)},
                    {"all", std::move(all)},            {"errors", std::move(errors)}};
    // Only when set, so listings of prefixes without them read as before.
    if (!shed.is_null()) listing["shed"] = std::move(shed);
    if (!governor.is_null()) listing["governor"] = std::move(governor);
    if (!flagd.is_null()) listing["flagd"] = std::move(flagd);
    return Make(std::move(listing));
  }

  absl::StatusOr<Reply> Get(std::string_view name) override {
    const std::string key = SwitchKey(name);
    absl::StatusOr<EtcdClient::RangeResult> range = client_->Range(key, "");
    if (!range.ok()) return Unreachable("read", key, range.status());
    json entry;
    if (range->kvs.empty()) {
      // Not an error: etcd says nothing about the switch, so every instance
      // decides it from its other layers (and PREFIX/groups/..., PREFIX/all).
      entry = {{"name", std::string(name)}, {"key", key}, {"value", nullptr}};
    } else {
      entry = EntryJson({"switch", std::string(name)}, range->kvs.front(), absl::Now());
    }
    entry["etcd"] = Where(range->revision);
    entry["note"] = kNote;
    return Make(std::move(entry));
  }

  absl::StatusOr<Reply> Put(std::string_view name, const json& value) override {
    const absl::Time now = absl::Now();
    json stored = value;
    if (auto ttl = stored.find("ttl_s"); ttl != stored.end()) {
      if (!ttl->is_number_integer() || ttl->get<int64_t>() <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ttl_s ", ttl->dump(), " is not valid; accepted: a whole number of seconds above 0"));
      }
      stored["expires_at"] = Rfc3339Seconds(now + absl::Seconds(ttl->get<int64_t>()));
      stored.erase("ttl_s");
    }
    // When it was written: etcd keeps no time per revision, and `degradectl
    // history` shows this one.
    stored["set_at"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone());
    const std::string key = SwitchKey(name);
    const std::string text =
        stored.dump(-1, ' ', false, json::error_handler_t::replace);
    absl::StatusOr<SwitchValue> checked =
        ParseSwitchValue(text, "degradectl", absl::StrCat("switches.", AV(name)), now);
    if (!checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the value for ", key, " would be rejected by every instance (", checked.status().message(),
          "): nothing was written"));
    }
    absl::StatusOr<int64_t> revision = client_->Put(key, text);
    if (!revision.ok()) return Unreachable("write", key, revision.status());
    json entry = EntryJson({"switch", std::string(name)}, EtcdKv{key, text, *revision}, now);
    entry["etcd"] = Where(*revision);
    return Make(std::move(entry));
  }

  absl::StatusOr<Reply> Clear(std::string_view name, std::string_view /*actor*/,
                              std::string_view /*reason*/) override {
    // etcd's delete carries no value, so no actor or reason: watchers see the delete
    // and its revision only.
    const std::string key = SwitchKey(name);
    absl::StatusOr<EtcdClient::DeleteResult> deleted = client_->Delete(key);
    if (!deleted.ok()) return Unreachable("delete", key, deleted.status());
    json entry = {{"name", std::string(name)},
                  {"key", key},
                  {"value", nullptr},
                  {"deleted", deleted->deleted},
                  {"etcd", Where(deleted->revision)}};
    return Make(std::move(entry));
  }

  absl::StatusOr<Reply> SetShed(const json& body) override {
    return PutSettingKey("shed", body, [](const std::string& text, absl::Time now) {
      return ParseShed(text, "degradectl", "shed", now).status();
    });
  }

  absl::StatusOr<Reply> ClearShed(std::string_view /*actor*/,
                                  std::string_view /*reason*/) override {
    return DeleteSettingKey("shed");
  }

  absl::StatusOr<Reply> SetGovernor(const json& body) override {
    return PutSettingKey("governor", body, [](const std::string& text, absl::Time now) {
      return ParseGovernorSetting(text, "degradectl", "governor", now).status();
    });
  }

  absl::StatusOr<Reply> ClearGovernor(std::string_view /*actor*/,
                                      std::string_view /*reason*/) override {
    return DeleteSettingKey("governor");
  }

  absl::Status Watch(WatchStop& stop, const WatchSink& sink) override;

 private:
  // The key PREFIX + `name` ("shed", "governor") set to `body`, its ttl_s
  // turned into expires_at, after `check` (how instances will read it)
  // accepts the text: a value every instance would reject is not written.
  absl::StatusOr<Reply> PutSettingKey(
      std::string_view name, const json& body,
      const std::function<absl::Status(const std::string&, absl::Time)>& check) {
    const absl::Time now = absl::Now();
    json stored = body;
    if (auto ttl = stored.find("ttl_s"); ttl != stored.end()) {
      if (!ttl->is_number_integer() || ttl->get<int64_t>() <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ttl_s ", ttl->dump(), " is not valid; accepted: a whole number of seconds above 0"));
      }
      stored["expires_at"] = Rfc3339Seconds(now + absl::Seconds(ttl->get<int64_t>()));
      stored.erase("ttl_s");
    }
    const std::string key = absl::StrCat(prefix_, AV(name));
    const std::string text = stored.dump(-1, ' ', false, json::error_handler_t::replace);
    if (absl::Status checked = check(text, now); !checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("the value for ", key,
                                                     " would be rejected by every instance (",
                                                     checked.message(), "): nothing was written"));
    }
    absl::StatusOr<int64_t> revision = client_->Put(key, text);
    if (!revision.ok()) return Unreachable("write", key, revision.status());
    json entry = EntryJson({std::string(name), ""}, EtcdKv{key, text, *revision}, now);
    entry["etcd"] = Where(*revision);
    return Make(std::move(entry));
  }

  // Deletes PREFIX + `name`. As Clear: etcd's delete carries no actor or
  // reason.
  absl::StatusOr<Reply> DeleteSettingKey(std::string_view name) {
    const std::string key = absl::StrCat(prefix_, AV(name));
    absl::StatusOr<EtcdClient::DeleteResult> deleted = client_->Delete(key);
    if (!deleted.ok()) return Unreachable("delete", key, deleted.status());
    json entry = {{"name", std::string(name)},
                  {"key", key},
                  {"value", nullptr},
                  {"deleted", deleted->deleted},
                  {"etcd", Where(deleted->revision)}};
    return Make(std::move(entry));
  }

  // Reports a change of `key` from `old_text` to `new_text` (null: absent).
  void Emit(const std::string& key, const std::string* old_text, const std::string* new_text,
            int64_t revision, const WatchStop& stop, const WatchSink& sink) const;

  std::string SwitchKey(std::string_view name) const {
    return absl::StrCat(prefix_, "switches/", AV(name));
  }

  json Where(int64_t revision) const {
    return {{"endpoints", config_.endpoints}, {"prefix", prefix_}, {"revision", revision}};
  }

  static absl::StatusOr<Reply> Make(json j) {
    Reply reply;
    reply.body = j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    reply.json = std::move(j);
    return reply;
  }

  // The client's message names every endpoint tried and its error; add what
  // was being done and what to check.
  absl::Status Unreachable(std::string_view what, std::string_view key,
                           const absl::Status& status) const {
    std::string hint;
    // etcd answers a wrong password with InvalidArgument ("authentication
    // failed"), a missing permission with PermissionDenied.
    const bool auth = status.code() == absl::StatusCode::kUnauthenticated ||
                      status.code() == absl::StatusCode::kPermissionDenied ||
                      absl::StrContains(status.message(), "authenticat");
    if (auth) {
      hint = "check --etcd-user (or DEGRADE_ETCD_USER) and DEGRADE_ETCD_PASSWORD; the user needs "
             "read and write permission on the prefix";
    } else if (status.code() == absl::StatusCode::kInvalidArgument ||
               status.code() == absl::StatusCode::kFailedPrecondition) {
      hint = "etcd refused the request";
    } else {
      hint = absl::StrCat("is etcd running at ", absl::StrJoin(config_.endpoints, ", "),
                          "? (--etcd)");
    }
    return absl::Status(status.code(), absl::StrCat("cannot ", AV(what), " ", AV(key), " in etcd: ",
                                                    status.message(), ": ", hint));
  }

  EtcdOptions options_;
  const std::string prefix_;
  EtcdClient::Config config_;
  std::unique_ptr<EtcdClient> client_;
};

// ------------------------------------------------------------------ watch

// The value of a key as WatchEvent holds it: the JSON, or the text as a
// string when it is not JSON or repeats a key (instances reject it; the
// operator should see what was written).
json ValueOf(const std::string& text) {
  absl::StatusOr<json> j = internal::ParseJsonStrict(text);
  return j.ok() ? *std::move(j) : json(text);
}

void EtcdBackend::Emit(const std::string& key, const std::string* old_text,
                       const std::string* new_text, int64_t revision, const WatchStop& stop,
                       const WatchSink& sink) const {
  if (stop.stopped() || !sink.on_event) return;
  const KeyInfo info = ClassifyKey(prefix_, key);
  if (info.scope.empty()) return;  // outside the layout: instances ignore it too
  WatchEvent e;
  e.time = absl::Now();
  e.scope = info.scope;
  e.name = info.name;
  e.key = key;
  e.revision = revision;
  e.old_layer = e.layer = "etcd";
  if (old_text != nullptr) e.old_value = ValueOf(*old_text);
  if (new_text != nullptr) {
    e.new_value = ValueOf(*new_text);
    e.actor = Str(e.new_value, "actor");
    e.reason = Str(e.new_value, "reason");
    e.expires_at = Str(e.new_value, "expires_at");
  }
  sink.on_event(e);
}

absl::Status EtcdBackend::Watch(WatchStop& stop, const WatchSink& sink) {
  const auto notice = [&](const std::string& text) {
    if (sink.on_notice) sink.on_notice(text);
  };
  // Stop() on the client is permanent and interrupts the stream at once;
  // it also waits for the stream's request to return, so it must not run on
  // this thread (--count stops from inside on_event): here the message
  // callback's `return !stop.stopped()` ends the stream instead.
  const std::thread::id watcher = std::this_thread::get_id();
  const uint64_t stop_id = stop.OnStop([this, watcher] {
    if (std::this_thread::get_id() != watcher) client_->Stop();
  });
  struct Cleanup {
    WatchStop& stop;
    uint64_t id;
    ~Cleanup() { stop.RemoveOnStop(id); }
  } cleanup{stop, stop_id};

  std::map<std::string, EtcdKv> known;  // key -> last value seen
  int64_t revision = 0;                 // every change up to here is reported
  // Ranges the prefix; reports differences from `known` when `report`.
  const auto sync = [&](bool report) -> absl::Status {
    absl::StatusOr<EtcdClient::RangeResult> range = client_->RangePrefix(prefix_);
    if (!range.ok()) return range.status();
    std::map<std::string, EtcdKv> now;
    for (EtcdKv& kv : range->kvs) now.emplace(kv.key, std::move(kv));
    if (report) {
      std::vector<std::string> keys;
      keys.reserve(known.size() + now.size());
      for (const auto& [k, kv] : known) keys.push_back(k);
      for (const auto& [k, kv] : now) {
        if (!known.contains(k)) keys.push_back(k);
      }
      std::sort(keys.begin(), keys.end());
      for (const std::string& k : keys) {
        const auto o = known.find(k);
        const auto n = now.find(k);
        if (o != known.end() && n != now.end() && o->second.value == n->second.value) continue;
        Emit(k, o == known.end() ? nullptr : &o->second.value,
             n == now.end() ? nullptr : &n->second.value,
             n == now.end() ? range->revision : n->second.mod_revision, stop, sink);
      }
    }
    known = std::move(now);
    revision = range->revision;
    return absl::OkStatus();
  };

  if (absl::Status s = sync(false); !s.ok()) {
    if (stop.stopped()) return absl::OkStatus();
    return Unreachable("read", prefix_, s);
  }
  notice(absl::StrCat("watching etcd ", absl::StrJoin(config_.endpoints, ","), " prefix ", prefix_,
                      " from revision ", revision + 1, " (etcd's own stream); Ctrl-C to stop"));

  bool lost = false;
  absl::Duration backoff = absl::Milliseconds(100);
  bool resync = false;
  while (!stop.stopped()) {
    if (resync) {
      if (absl::Status s = sync(true); !s.ok()) {
        if (stop.stopped()) break;
        if (!lost) notice(absl::StrCat("lost etcd: ", s.message(), "; retrying"));
        lost = true;
        stop.SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      resync = false;
    }
    bool established = false;
    EtcdClient::WatchOptions options;
    options.key = prefix_;
    options.range_end = internal::EtcdPrefixEnd(prefix_);
    options.start_revision = revision + 1;
    const absl::Status s = client_->Watch(options, [&](internal::EtcdWatchMessage&& m) {
      if (m.canceled && m.compact_revision > 0) {
        // The history we would resume from is gone: range again, report the
        // difference, watch from there.
        notice(absl::StrCat("etcd compacted past revision ", revision + 1,
                            "; reading the prefix again"));
        resync = true;
        return false;
      }
      if (m.created) {
        established = true;
        if (lost) {
          notice(absl::StrCat("back in contact with etcd at ", client_->current_endpoint(),
                              "; resuming from revision ", revision + 1));
          lost = false;
        }
        backoff = absl::Milliseconds(100);
      }
      for (internal::EtcdEvent& e : m.events) {
        const auto old = known.find(e.kv.key);
        const std::string* old_value = old == known.end() ? nullptr : &old->second.value;
        if (e.type == internal::EtcdEvent::Type::kDelete) {
          Emit(e.kv.key, old_value, nullptr, e.kv.mod_revision, stop, sink);
          if (old != known.end()) known.erase(old);
        } else {
          Emit(e.kv.key, old_value, &e.kv.value, e.kv.mod_revision, stop, sink);
          known[e.kv.key] = e.kv;
        }
        revision = std::max(revision, e.kv.mod_revision);
      }
      return !stop.stopped();
    });
    if (stop.stopped() || s.code() == absl::StatusCode::kCancelled) break;
    if (resync || s.ok()) continue;
    // A stream that ran and then ended is resumed at once, quietly: the
    // client closes a watch idle for a minute, and a member may restart.
    // Only a resume that cannot get a stream going is news.
    if (established) continue;
    if (!lost) {
      notice(absl::StrCat("lost the etcd watch: ", s.message(), "; resuming from revision ",
                          revision + 1, " when a member answers"));
      lost = true;
    }
    stop.SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseEtcdEndpoints(std::string_view list,
                                                            std::string_view what) {
  constexpr std::string_view kAccepted =
      "accepted: http://HOST:PORT, https://HOST:PORT or HOST:PORT (http), no path, "
      "comma-separated, e.g. 127.0.0.1:2379";
  std::vector<std::string> out;
  for (absl::string_view e : absl::StrSplit(AV(list), ',')) {
    e = absl::StripAsciiWhitespace(e);
    if (e.empty()) continue;
    const std::string shown = absl::StrCat(AV(what), " \"", e, "\"");
    absl::StatusOr<HttpUrl> url = ParseHttpUrl(SV(e), what, "http://127.0.0.1:2379");
    if (!url.ok()) return url.status();
    if (!url->base_path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(shown, ": has a path (\"", url->base_path, "\"); ", AV(kAccepted)));
    }
    out.push_back(absl::StrCat(url->scheme, "://", url->authority));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(what), " \"", AV(list), "\" names no etcd member; ", AV(kAccepted)));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeEtcdBackend(EtcdOptions options) {
  EtcdClient::Config config;
  config.endpoints = options.endpoints;
  config.user = options.user;
  config.password = options.password;
  config.ca_file = options.ca_file;
  config.timeout = options.timeout;
  if (absl::Status s = EtcdClient::Validate(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--etcd: ", s.message()));
  }
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError(
        "no etcd prefix given: pass --prefix /degrade/SERVICE (the DEGRADE_ETCD_PREFIX the "
        "instances watch) or set DEGRADE_ETCD_PREFIX");
  }
  return std::unique_ptr<Backend>(new EtcdBackend(std::move(options), std::move(config)));
}

}  // namespace degrade::ctl
