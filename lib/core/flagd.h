// flagd flag-definition files read as a degrade snapshot (DESIGN section 14;
// docs/openfeature.md has the mapping with examples). Not installed.
//
// A flagd document (https://flagd.dev/schema/v0/flags.json):
//   {"$schema": "...",
//    "flags": {KEY: {"state": "ENABLED"|"DISABLED", "variants": {...},
//                    "defaultVariant": NAME|null, "targeting": {...},
//                    "metadata": {...}}},
//    "$evaluators": {NAME: RULE}, "metadata": {...}}
// becomes the switches of a Snapshot:
//   - a flag whose key is a switch name, with boolean variants and no
//     targeting (absent or {}), sets the switch: defaultVariant's value true
//     is "on", false is "off";
//   - a flag whose targeting is only a fractional split between boolean
//     variants ({"fractional": [["on", 25], ["off", 75]]}, optionally
//     bucketed by targetingKey, optionally through {"$ref": EVALUATOR}) sets
//     allow to the true variants' share of the weights (0.25);
//   - state DISABLED, and a defaultVariant that is null or absent without
//     targeting (flagd: "use the code default"), leave the switch absent:
//     the lower layers decide, as they do for any absent entry;
//   - any other targeting, or variants that are not all booleans, on a flag
//     that names a switch rejects the whole document, naming the flag, what
//     it has and what is accepted;
//   - a boolean flag of that form whose key is a valid switch name that
//     this process does not define becomes an unknown entry (as a snapshot
//     naming an unknown switch does); other flags that name no switch
//     (string flags, rules, keys that are not switch names) are left out,
//     with one warning listing them.
// The document as a whole must be valid in the schema's terms (state,
// variants, defaultVariant naming a variant, ...) or it is rejected whole.
//
// Thread safety: pure functions, any thread.
#ifndef DEGRADE_LIB_CORE_FLAGD_H_
#define DEGRADE_LIB_CORE_FLAGD_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/snapshot.h"

namespace degrade::internal {

// Which format a snapshot document is in.
enum class SnapshotFormat {
  kAuto,     // flagd when the document is unambiguously flagd (LooksLikeFlagd), else degrade
  kDegrade,  // degrade/snapshot.h
  kFlagd,    // this file
};

// "auto", "degrade", "flagd".
std::string_view SnapshotFormatName(SnapshotFormat format);

// Parses a setting's value (exact, lower case). InvalidArgument naming
// `setting` (the environment variable or option), the value and what is
// accepted.
absl::StatusOr<SnapshotFormat> ParseSnapshotFormat(std::string_view value,
                                                   std::string_view setting);

// True when `json` is a flagd document: its top level is an object with a
// "flags" object and none of degrade's "switches", "groups", "all". False for
// anything else, invalid JSON included (the degrade parser then reports it).
// Documents without the text "flags" are answered without parsing.
bool LooksLikeFlagd(std::string_view json);

// Whether a name is a switch this process defines. Null: every valid switch
// name counts as one (the strictest reading).
using IsSwitchFn = std::function<bool(std::string_view)>;

// Parses a flagd document as above. `source` prefixes every message, as in
// ParseSnapshot ("file /etc/svc/flags.json: flags.recs.targeting: ...").
// Warnings (unknown fields, flags left out) are appended to `warnings` only
// when the document is accepted. Every name and value returned passes
// ValidateName and ValidateSwitchValue.
absl::StatusOr<Snapshot> ParseFlagdSnapshot(std::string_view json, std::string_view source,
                                            const IsSwitchFn& is_switch,
                                            std::vector<std::string>* warnings = nullptr);

// ParseSnapshot or ParseFlagdSnapshot as `format` says (kAuto: by
// LooksLikeFlagd). What every reader of whole snapshots calls: the config
// file, the HTTP remote and the last-known-good cache.
absl::StatusOr<Snapshot> ParseSnapshotAs(SnapshotFormat format, std::string_view json,
                                         std::string_view source, absl::Time now,
                                         const IsSwitchFn& is_switch,
                                         std::vector<std::string>* warnings = nullptr);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_FLAGD_H_
