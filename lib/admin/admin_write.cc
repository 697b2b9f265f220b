// Admin write bodies (admin_write.h).
#include "admin/admin_write.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/snapshot_rules.h"
#include "core/str_util.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {
namespace {

using snapshot::Child;
using snapshot::Json;

// As SnapshotToJson writes times: UTC, "Z", the fraction only when there
// is one.
std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// Calls `visit(path, value)` for every entry of `s`, in the order of the
// document's keys (switches, groups, then all).
template <typename Visit>
absl::Status ForEachEntry(Snapshot& s, Visit visit) {
  for (auto& [name, value] : s.switches) {
    if (absl::Status st = visit(Child("switches", name), value); !st.ok()) return st;
  }
  for (auto& [name, value] : s.groups) {
    if (absl::Status st = visit(Child("groups", name), value); !st.ok()) return st;
  }
  if (s.all) return visit(std::string("all"), *s.all);
  return absl::OkStatus();
}

// The write's top-level ttl_s, which ParseSnapshot reads as an unknown field
// (the snapshot format has no ttl_s of its own at the top). The body has
// already been accepted by ParseSnapshot, so it is JSON nested at most 64
// deep.
absl::StatusOr<std::optional<double>> TopLevelTtl(std::string_view body) {
  const Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::optional<double>();
  const auto it = doc.find("ttl_s");
  if (it == doc.end()) return std::optional<double>();
  const auto bad = [&](std::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(kBulkWriteSource), ": ttl_s: ", snapshot::Render(*it), " ", ToAbsl(problem),
        "; accepted: ", ToAbsl(snapshot::kAcceptedTtl)));
  };
  if (!it->is_number()) return bad("is not a number");
  const double ttl = it->get<double>();
  if (!std::isfinite(ttl) || ttl <= 0 || ttl > snapshot::kMaxTtlSeconds) {
    return bad("is not in (0, 2592000]");
  }
  return std::optional<double>(ttl);
}

}  // namespace

absl::Status CheckExpiryInFuture(const SwitchValue& value, std::string_view source,
                                 std::string_view path, absl::Time now) {
  if (!value.expires_at || *value.expires_at > now) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(source), ": ", ToAbsl(path), ".expires_at: \"", Rfc3339(*value.expires_at),
      "\" is not in the future (now ", Rfc3339(absl::FromUnixSeconds(absl::ToUnixSeconds(now))),
      "); accepted: an RFC 3339 time after now, or ttl_s (DELETE clears an override)"));
}

absl::StatusOr<BulkWrite> ParseBulkWrite(std::string_view body, absl::Time now,
                                         std::string_view default_actor,
                                         const std::function<bool(std::string_view)>& defined) {
  BulkWrite out;
  absl::StatusOr<Snapshot> parsed = ParseSnapshot(body, kBulkWriteSource, now, &out.warnings);
  if (!parsed.ok()) return parsed.status();
  out.snapshot = *std::move(parsed);
  absl::StatusOr<std::optional<double>> ttl = TopLevelTtl(body);
  if (!ttl.ok()) return ttl.status();
  out.ttl_s = *ttl;
  if (out.ttl_s) {
    // Not unknown here: it is the bulk write's own field.
    const std::string ignored =
        absl::StrCat(ToAbsl(kBulkWriteSource), ": ttl_s: unknown field, ignored");
    std::erase(out.warnings, ignored);
  }

  // The same answer as the single-switch PUT, which refuses a name not
  // defined here (404): a bulk write holding one is refused whole, and every
  // such name is listed so that one round trip fixes them all.
  std::vector<std::string> undefined;
  for (const auto& entry : out.snapshot.switches) {
    if (!defined(entry.first)) undefined.push_back(absl::StrCat("\"", entry.first, "\""));
  }
  if (!undefined.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(kBulkWriteSource), ": ", undefined.size() == 1 ? "switch " : "switches ",
        absl::StrJoin(undefined, ", "), undefined.size() == 1 ? " is" : " are",
        " not defined in this process; accepted: switches defined here (GET "
        "/degrade/v1/switches lists them); nothing was changed"));
  }

  const absl::Time expires = now + absl::Seconds(out.ttl_s.value_or(0));
  size_t entries = 0;
  std::optional<std::string> common_actor;
  std::optional<std::string> common_reason;
  bool actors_agree = true;
  bool reasons_agree = true;
  absl::Status status = ForEachEntry(out.snapshot, [&](const std::string& path, SwitchValue& v) {
    if (out.ttl_s) {
      if (v.expires_at) {
        return absl::InvalidArgumentError(absl::StrCat(
            ToAbsl(kBulkWriteSource), ": ", path,
            ": has its own expiry (expires_at or ttl_s) while the write has ttl_s ",
            snapshot::FormatNumber(*out.ttl_s), "; accepted: one or the other"));
      }
      v.expires_at = expires;
    }
    if (absl::Status s = CheckExpiryInFuture(v, kBulkWriteSource, path, now); !s.ok()) return s;
    if (v.actor.empty()) v.actor = std::string(default_actor);
    ++entries;
    if (!common_actor) common_actor = v.actor;
    actors_agree = actors_agree && *common_actor == v.actor;
    if (!common_reason) common_reason = v.reason;
    reasons_agree = reasons_agree && *common_reason == v.reason;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  // The shed and governor setting are written like entries: the write's
  // ttl_s, an expiry in the future, the default actor.
  auto author = [&](std::string_view path, std::string& actor,
                    std::optional<absl::Time>& expires_at) -> absl::Status {
    SwitchValue probe;
    if (out.ttl_s) {
      if (expires_at) {
        return absl::InvalidArgumentError(absl::StrCat(
            ToAbsl(kBulkWriteSource), ": ", ToAbsl(path),
            ": has its own expiry (expires_at or ttl_s) while the write has ttl_s ",
            snapshot::FormatNumber(*out.ttl_s), "; accepted: one or the other"));
      }
      expires_at = expires;
    }
    probe.expires_at = expires_at;
    if (absl::Status s = CheckExpiryInFuture(probe, kBulkWriteSource, path, now); !s.ok()) {
      return s;
    }
    if (actor.empty()) actor = std::string(default_actor);
    return absl::OkStatus();
  };
  if (out.snapshot.shed) {
    Shed& shed = *out.snapshot.shed;
    if (absl::Status s = author("shed", shed.actor, shed.expires_at); !s.ok()) return s;
  }
  if (out.snapshot.governor) {
    GovernorSetting& g = *out.snapshot.governor;
    if (absl::Status s = author("governor", g.actor, g.expires_at); !s.ok()) return s;
  }
  out.actor = actors_agree && common_actor ? *common_actor : std::string(default_actor);
  out.reason = reasons_agree && common_reason && !common_reason->empty()
                   ? *common_reason
                   : absl::StrCat("bulk write of ", entries, entries == 1 ? " entry" : " entries");
  return out;
}

absl::StatusOr<Shed> ParseShedWrite(std::string_view body, absl::Time now,
                                    std::string_view default_actor,
                                    std::vector<std::string>* warnings) {
  absl::StatusOr<std::optional<Shed>> parsed = ParseShed(body, kShedWriteSource, "shed", now, warnings);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(kShedWriteSource),
                     ": shed.level: 0 is not a shed level to set; accepted: an integer in [1, 9] "
                     "(DELETE /degrade/v1/shed clears the shed)"));
  }
  Shed shed = **std::move(parsed);
  if (shed.expires_at && *shed.expires_at <= now) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(kShedWriteSource), ": shed.expires_at: \"", Rfc3339(*shed.expires_at),
        "\" is not in the future (now ", Rfc3339(absl::FromUnixSeconds(absl::ToUnixSeconds(now))),
        "); accepted: an RFC 3339 time after now, or ttl_s (DELETE clears the shed)"));
  }
  if (shed.actor.empty()) shed.actor = std::string(default_actor);
  return shed;
}

}  // namespace degrade::internal
