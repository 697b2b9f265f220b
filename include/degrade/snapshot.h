// degrade/snapshot.h: the JSON snapshot format, parsed and written.
//
// A snapshot is what one layer says: settings per switch, per group, and for
// all switches. The same format is used by the config file, HTTP polling, the
// admin endpoint's bulk writes and (one entry per key) etcd:
//
//   {
//     "switches": {
//       "recommendations": "off",
//       "search.suggest": {"state": "on", "allow": 0.25},
//       "analytics": {"state": "off", "reason": "INC-4211 vendor 5xx",
//                     "actor": "oncall", "expires_at": "2026-11-21T12:00:00Z"},
//       "payments.fraud-score": {"fault": {"kind": "error", "rate": 1.0}}
//     },
//     "groups": {"tier2": "off"},
//     "all": "on",
//     "shed": 3,
//     "governor": "on"
//   }
//
// A value is "on", "off" (exactly, lower case), or an object with any of:
//   state       "on" | "off"
//   allow       number in [0, 1]; without state it means on. An error with
//               state "off" (allow is only meaningful while on).
//   fault       {"kind": "error"|"delay" (required), "rate": number in [0, 1]
//               (default 1), "delay_ms": integer in [0, 600000] (default 0;
//               200.0 counts as an integer)}; a "delay" fault needs
//               delay_ms >= 1. Or the string "off": SwitchValue::fault_cleared.
//   reason      string of at most kMaxReasonLength bytes
//   actor       string of at most kMaxReasonLength bytes
//   expires_at  RFC 3339 time ("2026-11-21T12:00:00Z", any offset, any
//               fraction of a second)
//   ttl_s       number of seconds in (0, 2592000] (30 days); becomes
//               expires_at = now + ttl_s when parsed. An error together with
//               expires_at.
//   set_at      RFC 3339 time: when the value was written (degradectl
//               --etcd writes it, for `degradectl history`); checked, then
//               ignored: it decides nothing
//   breaker     a circuit breaker policy (degrade/breaker.h), every field
//               optional, defaults as in BreakerPolicy:
//                 window          "count" | "time"
//                 window_size     integer: seconds in [1, 3600] for "time",
//                                 calls in [1, 10000] for "count"
//                 min_calls       integer in [1, 1000000]
//                 failure_ratio   number in (0, 1]
//                 slow_call_ms    integer in [0, 600000] (0: not timed)
//                 slow_call_ratio number in (0, 1]
//                 open_s          number of seconds in (0, 86400]
//                 half_open_calls integer in [1, 1000]
//               (integers may be written 20.0). Or the string "off":
//               SwitchValue::breaker_cleared.
// "shed" (docs/shedding.md) is the layer's shed level: an integer in [0, 9]
// (0 means none and parses to no shed; 3.0 counts as an integer), or an
// object {"level": integer in [0, 9], "reason", "actor", "expires_at" |
// "ttl_s"} with the same rules as a value's fields of those names. Every
// switch whose tier (SwitchSpec::tier) is not 0 and is at least the level is
// off in that layer, unless the same layer sets the switch itself or one of
// its groups: within a layer, switch > group > shed > all. An object with
// level 0 is no shed (its other fields are dropped).
//
// "governor" (docs/governor.md) is the layer's say about the automatic
// brownout governor: "on", "off", or an object with any of {"enabled": bool,
// "cap": integer in [1, 9], "reason", "actor", "expires_at" | "ttl_s"}. The
// highest layer with a governor entry that has not expired decides whether
// the governor may act (enabled; absent = no say) and the lowest tier it may
// touch (cap: the governor never dims a switch whose tier is below cap;
// absent = no say). "on" is {"enabled": true}, "off" {"enabled": false}.
//
// Unknown fields (in the top level, in a value, in a fault, in a breaker, in
// shed and governor objects) are ignored with a warning.
// A wrong type or value anywhere rejects the whole snapshot, and so does null
// where a value is expected: null is not "absent". Booleans are not numbers.
// Objects and arrays nested deeper than 64 levels are rejected as invalid
// JSON.
//
// Messages: "<source>: <JSON path>: <value> <problem>; accepted: <what is>".
// A path component that is not [A-Za-z0-9_]+ is quoted
// (switches."search.suggest".allow); values are compact JSON cut to about 64
// bytes. Messages are valid UTF-8 whatever the input.
//
// Thread safety: all functions are pure and may be called from any thread.
#ifndef DEGRADE_SNAPSHOT_H_
#define DEGRADE_SNAPSHOT_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/export.h"
#include "degrade/state.h"

namespace degrade {

// A layer's shed level (the snapshot's "shed"): every switch with a tier
// (SwitchSpec::tier) of at least `level` is off in that layer, unless the
// layer sets the switch or one of its groups.
struct Shed {
  // 1 (shed every tiered switch) to 9 (shed only tier 9). Snapshots never
  // hold 0: "shed": 0 parses to no shed.
  int level = 0;
  std::string reason;  // at most kMaxReasonLength bytes, as a value's
  std::string actor;
  // After this instant the shed is ignored, as if absent (removed from the
  // admin layer).
  std::optional<absl::Time> expires_at;

  friend bool operator==(const Shed&, const Shed&) = default;
};

// A layer's say about the governor (the snapshot's "governor"). The highest
// layer whose setting has not expired decides; an absent field there means
// "no say" for that field, and the next layer below that sets it decides.
struct GovernorSetting {
  // Whether the governor may act at all.
  std::optional<bool> enabled;
  // 1 to 9: the lowest tier the governor may dim (it never touches a switch
  // whose tier is below cap, nor one of tier 0).
  std::optional<int> cap;
  std::string reason;
  std::string actor;
  std::optional<absl::Time> expires_at;

  friend bool operator==(const GovernorSetting&, const GovernorSetting&) = default;
};

inline constexpr int kMaxShedLevel = 9;

struct Snapshot {
  // Keyed by switch name. Names need not be defined in this process (one
  // config serves several versions of a service); they must be valid names.
  std::map<std::string, SwitchValue> switches;
  // Keyed by group name.
  std::map<std::string, SwitchValue> groups;
  // The layer's setting for every switch.
  std::optional<SwitchValue> all;
  // The layer's shed level (level 1-9), if any.
  std::optional<Shed> shed;
  // The layer's governor setting, if any.
  std::optional<GovernorSetting> governor;

  bool empty() const noexcept {
    return switches.empty() && groups.empty() && !all && !shed && !governor;
  }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// Limits that keep a hostile or broken payload bounded.
inline constexpr size_t kMaxReasonLength = 1024;   // reason and actor, bytes
inline constexpr size_t kMaxSnapshotEntries = 100'000;

// Parses `json` as a whole snapshot. `source` names where it came from and
// prefixes every message ("file /etc/svc/degrade.json"). `now` turns ttl_s
// into expires_at. The top level must be an object; "switches" and "groups"
// must be objects whose keys pass ValidateName; "all" is one value; "shed"
// and "governor" as described at the top of this file. `{}` is an empty
// snapshot.
//
// Returns InvalidArgument on malformed JSON (the message has the line and
// column: "<source>: invalid JSON: parse error at line 1, column 25: ..."),
// on JSON nested deeper than 64 levels, on an object anywhere in the
// document that has the same key twice (parsers disagree on which one wins,
// so none is guessed), naming the object's path:
//   file x.json: switches.analytics: duplicate key "state"; each key may
//   appear once
// on an expires_at outside years 1000 to 9999 UTC (it could not be written
// back as RFC 3339), on more than kMaxSnapshotEntries switches and groups
// together, or on any
// wrong type or value, naming the JSON path, the bad value and what is
// accepted, e.g.
//   file /etc/svc/degrade.json: switches."search.suggest".allow: 1.5 is not
//   in [0, 1]
// Unknown fields are not errors: one message per field is appended to
// `warnings` (when not null), e.g.
//   file x.json: switches.recs.colour: unknown field, ignored
// Warnings are appended only when the snapshot is accepted; on an error
// `warnings` is left as it was.
DEGRADE_EXPORT absl::StatusOr<Snapshot> ParseSnapshot(std::string_view json,
                                                      std::string_view source, absl::Time now,
                                                      std::vector<std::string>* warnings = nullptr);

// Parses one switch value (the right-hand side of a snapshot entry), as held
// by an etcd key or sent to the admin endpoint's PUT. `path` is used in
// messages in place of the JSON path ("switches.recs"), and is used as given
// (not quoted): "<source>: switches.recs.allow: 2 is not in [0, 1]". It
// prefixes JSON syntax errors too ("<source>: switches.recs: invalid JSON:
// ..."). Errors and warnings as for ParseSnapshot.
DEGRADE_EXPORT absl::StatusOr<SwitchValue> ParseSwitchValue(
    std::string_view json, std::string_view source, std::string_view path, absl::Time now,
    std::vector<std::string>* warnings = nullptr);

// Writes a snapshot (or one value) as compact JSON with sorted keys, so equal
// snapshots give equal text. A value with only a state and nothing else is
// written as the short form "on" / "off"; an empty value as {}; empty
// "switches"/"groups" and an absent "all" are left out. Faults are written in
// full ({"delay_ms":0,"kind":"error","rate":1.0}), fault_cleared as
// "fault": "off", breakers in full (every field), breaker_cleared as
// "breaker": "off", times as RFC 3339 UTC with every significant digit of the
// fraction. A shed with only a level is written as the number ("shed": 3),
// else as the object; a governor setting with only `enabled` as "on"/"off",
// else as the object. Never fails: text that is not UTF-8 is written with U+FFFD.
// ParseSnapshot reads the result back to an equal value whenever every name
// passes ValidateName and every value passes ValidateSwitchValue.
DEGRADE_EXPORT std::string SnapshotToJson(const Snapshot& snapshot);
DEGRADE_EXPORT std::string SwitchValueToJson(const SwitchValue& value);

// Switch and group names: 1-128 characters of [a-z0-9._-], starting with
// [a-z0-9]. Returns InvalidArgument naming the value, the problem and the
// rule, e.g.
//   switch name "Recs": has 'R' at position 0 (names are lower case);
//   accepted: 1-128 characters of [a-z0-9._-], starting with a letter or digit
// `what` starts the message ("switch name", "group name").
DEGRADE_EXPORT absl::Status ValidateName(std::string_view name,
                                         std::string_view what = "switch name");

// Checks a value's ranges: allow and rate in [0, 1] (not NaN), delay_ms at
// most kMaxFaultDelayMs and, for a "delay" fault, at least 1, allow only
// without state off, not both a fault and fault_cleared, a breaker policy's
// fields in the ranges listed above and not both a policy and
// breaker_cleared, reason and actor at
// most kMaxReasonLength bytes of valid UTF-8, expires_at in years 1000 to
// 9999 UTC (so it is written back as RFC 3339), enums in
// range. Returns InvalidArgument on the first problem, as
// "<path>.<field>: <value> <problem>", e.g. "value.allow: 1.5 is not in
// [0, 1]". ParseSwitchValue's results always pass; it is for values built
// in code (Registry::SetOverride).
DEGRADE_EXPORT absl::Status ValidateSwitchValue(const SwitchValue& value,
                                                std::string_view path = "value");

// Parses a shed as an etcd key PREFIX + "shed" or an admin body holds it:
// the number or the object form (see the top of this file). `path` is used
// in messages as for ParseSwitchValue ("shed"). Returns nullopt for level 0
// (no shed). Errors and warnings as for ParseSnapshot.
DEGRADE_EXPORT absl::StatusOr<std::optional<Shed>> ParseShed(
    std::string_view json, std::string_view source, std::string_view path, absl::Time now,
    std::vector<std::string>* warnings = nullptr);
// Parses a governor setting ("on", "off" or the object), as for ParseShed.
DEGRADE_EXPORT absl::StatusOr<GovernorSetting> ParseGovernorSetting(
    std::string_view json, std::string_view source, std::string_view path, absl::Time now,
    std::vector<std::string>* warnings = nullptr);
// The shed and governor setting as SnapshotToJson writes them.
DEGRADE_EXPORT std::string ShedToJson(const Shed& shed);
DEGRADE_EXPORT std::string GovernorSettingToJson(const GovernorSetting& setting);

// Checks a shed built in code: level in [1, 9], reason and actor as for
// ValidateSwitchValue, expires_at in years 1000 to 9999. InvalidArgument as
// "<path>.level: 12 is not in [1, 9]; accepted: ...".
DEGRADE_EXPORT absl::Status ValidateShed(const Shed& shed, std::string_view path = "shed");
// Checks a governor setting built in code: cap in [1, 9], texts and expiry
// as above.
DEGRADE_EXPORT absl::Status ValidateGovernorSetting(const GovernorSetting& setting,
                                                    std::string_view path = "governor");

}  // namespace degrade

#endif  // DEGRADE_SNAPSHOT_H_
