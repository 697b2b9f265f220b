// Fuzz target: snapshot JSON parsing and validation (DESIGN section 3).
//
// Input: the bytes of a snapshot document, as a file, an HTTP body or an
// admin bulk write would carry it. The same bytes are also parsed as one
// switch value (an etcd value, an admin PUT body).
//
// Properties checked, beyond "no crash, no sanitizer report":
//   - an accepted snapshot names only valid switch and group names, every
//     value passes ValidateSwitchValue, a shed ValidateShed and a governor
//     setting ValidateGovernorSetting;
//   - it serialises (SnapshotToJson) and parses back to an equal snapshot,
//     and serialising that gives the same text (a fixed point);
//   - a registry accepts it as a layer, and the layer then holds it;
//   - a rejected snapshot has an InvalidArgument status whose message starts
//     with the source and is valid UTF-8 (it goes into JSON error bodies),
//     and leaves the warnings vector untouched;
//   - parsing is deterministic: the same input gives the same result twice.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "fuzz_check.h"
#include "fuzz_util.h"

namespace {

using degrade::Snapshot;
using degrade::SwitchValue;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

void CheckValue(const SwitchValue& value, std::string_view path) {
  const absl::Status valid = degrade::ValidateSwitchValue(value, path);
  DEGRADE_FUZZ_CHECK(valid.ok(), valid.ToString());
  const std::string json = degrade::SwitchValueToJson(value);
  absl::StatusOr<SwitchValue> again = degrade::ParseSwitchValue(json, "round trip", "v", kNow);
  DEGRADE_FUZZ_CHECK(again.ok(), json + " -> " + again.status().ToString());
  DEGRADE_FUZZ_CHECK(*again == value, json + " reads back as " + degrade::SwitchValueToJson(*again));
}

void CheckRejection(const absl::Status& status, std::string_view source) {
  DEGRADE_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
  const std::string_view message(status.message().data(), status.message().size());
  DEGRADE_FUZZ_CHECK(message.starts_with(source), std::string(message));
  DEGRADE_FUZZ_CHECK(degrade::fuzz::IsValidUtf8(message), std::string(message));
  // Bounded: a hostile payload cannot make a huge log line or error body.
  DEGRADE_FUZZ_CHECK(message.size() < 2048, std::string(message.substr(0, 200)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kSource = "fuzz";

  std::vector<std::string> warnings = {"sentinel"};
  absl::StatusOr<Snapshot> parsed = degrade::ParseSnapshot(input, kSource, kNow, &warnings);
  absl::StatusOr<Snapshot> twice = degrade::ParseSnapshot(input, kSource, kNow);
  DEGRADE_FUZZ_CHECK(parsed.ok() == twice.ok(), "nondeterministic parse");

  if (!parsed.ok()) {
    CheckRejection(parsed.status(), kSource);
    DEGRADE_FUZZ_CHECK(parsed.status() == twice.status(), "nondeterministic message");
    DEGRADE_FUZZ_CHECK(warnings.size() == 1, "warnings appended for a rejected snapshot");
  } else {
    DEGRADE_FUZZ_CHECK(*parsed == *twice, "nondeterministic parse");
    DEGRADE_FUZZ_CHECK(!warnings.empty() && warnings[0] == "sentinel", "warnings replaced");
    for (size_t i = 1; i < warnings.size(); ++i) {
      DEGRADE_FUZZ_CHECK(warnings[i].starts_with(kSource), warnings[i]);
      DEGRADE_FUZZ_CHECK(degrade::fuzz::IsValidUtf8(warnings[i]), warnings[i]);
    }
    const Snapshot& snapshot = *parsed;
    for (const auto& [name, value] : snapshot.switches) {
      DEGRADE_FUZZ_CHECK(degrade::ValidateName(name).ok(), name);
      CheckValue(value, "switch");
    }
    for (const auto& [name, value] : snapshot.groups) {
      DEGRADE_FUZZ_CHECK(degrade::ValidateName(name, "group name").ok(), name);
      CheckValue(value, "group");
    }
    if (snapshot.all) CheckValue(*snapshot.all, "all");
    if (snapshot.shed) {
      const absl::Status valid = degrade::ValidateShed(*snapshot.shed);
      DEGRADE_FUZZ_CHECK(valid.ok(), valid.ToString());
    }
    if (snapshot.governor) {
      const absl::Status valid = degrade::ValidateGovernorSetting(*snapshot.governor);
      DEGRADE_FUZZ_CHECK(valid.ok(), valid.ToString());
    }

    const std::string json = degrade::SnapshotToJson(snapshot);
    absl::StatusOr<Snapshot> again = degrade::ParseSnapshot(json, "round trip", kNow);
    DEGRADE_FUZZ_CHECK(again.ok(), json + " -> " + again.status().ToString());
    DEGRADE_FUZZ_CHECK(*again == snapshot, json + " reads back as " + degrade::SnapshotToJson(*again));
    DEGRADE_FUZZ_CHECK(degrade::SnapshotToJson(*again) == json, "serialisation is not a fixed point");

    // A registry takes it as a layer, all of it. Unknown names are kept.
    degrade::Registry registry(degrade::fuzz::QuietRegistryOptions());
    const absl::Status applied =
        registry.ApplySnapshot(degrade::Layer::kFile, snapshot, "fuzz file");
    DEGRADE_FUZZ_CHECK(applied.ok(), applied.ToString());
    DEGRADE_FUZZ_CHECK(registry.LayerSnapshot(degrade::Layer::kFile) == snapshot,
                       "the file layer does not hold the snapshot applied");
  }

  // The same bytes as one switch value (etcd value, admin PUT body).
  absl::StatusOr<SwitchValue> value =
      degrade::ParseSwitchValue(input, kSource, "switches.x", kNow);
  if (value.ok()) {
    CheckValue(*value, "value");
  } else {
    CheckRejection(value.status(), kSource);
  }
  return 0;
}
