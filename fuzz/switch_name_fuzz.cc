// Fuzz target: switch and group names (DESIGN sections 1 and 4): validation,
// the name -> environment variable mapping, and the collision checks a
// registry makes when switches are defined.
//
// Input: a sequence of switch specs, each a name and up to three group
// names (FuzzedDataProvider strings), defined one after another in a fresh
// registry.
//
// Properties checked against a small independent model of the rules:
//   - ValidateName accepts exactly 1-128 characters of [a-z0-9._-] starting
//     with [a-z0-9], and its message names the rule when it refuses;
//   - EnvVarForSwitch / EnvVarForGroup give DEGRADE_[A-Z0-9_]+ (upper case,
//     '.' and '-' -> '_'), and distinct names that map to one variable are
//     exactly those that differ only in '.' / '-' / '_';
//   - Define succeeds exactly when the model says so: valid names, a
//     variable that is not one of degrade's own (DEGRADE_ALL,
//     DEGRADE_CONFIG_FILE, ..., DEGRADE_GROUP_*), not already the variable
//     of another switch or of a group, and groups whose variables are not
//     someone else's; the error code is InvalidArgument for a bad name and
//     AlreadyExists for a collision; a failed Define changes nothing (Find,
//     List);
//   - afterwards no two defined switches share a variable, and every defined
//     switch is found by name.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "degrade/env.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"
#include "fuzz_check.h"
#include "fuzz_util.h"

namespace {

bool ModelValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  const auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name[0])) return false;
  for (char c : name) {
    if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

std::string ModelVar(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  for (char c : name) {
    if (c == '.' || c == '-') {
      out.push_back('_');
    } else if (c >= 'a' && c <= 'z') {
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// DESIGN section 4's own variables, and the ones degrade adds (runtime.h).
bool ModelReserved(std::string_view var) {
  // The variables DESIGN.md, docs/fleet.md, docs/governor.md and
  // docs/degradectl.md give, written out again here.
  static const std::set<std::string, std::less<>> kOwn = {
      "DEGRADE_ALL",
      "DEGRADE_SHED",
      "DEGRADE_CONFIG_FILE",
      "DEGRADE_CONFIG_FORMAT",
      "DEGRADE_FILE_POLL_MS",
      "DEGRADE_REMOTE_URLS",
      "DEGRADE_REMOTE_FORMAT",
      "DEGRADE_REMOTE_INTERVAL_MS",
      "DEGRADE_REMOTE_TIMEOUT_MS",
      "DEGRADE_REMOTE_CA_FILE",
      "DEGRADE_ETCD_ENDPOINTS",
      "DEGRADE_ETCD_PREFIX",
      "DEGRADE_ETCD_USER",
      "DEGRADE_ETCD_PASSWORD",
      "DEGRADE_ETCD_CA_FILE",
      "DEGRADE_ETCD_REGISTER",
      "DEGRADE_ETCD_REGISTER_TTL_S",
      "DEGRADE_INSTANCE_ID",
      "DEGRADE_CACHE_FILE",
      "DEGRADE_ADMIN_ADDR",
      "DEGRADE_ADMIN_TOKEN",
      "DEGRADE_ADMIN_ALLOW_REMOTE",
      "DEGRADE_ADMIN_TLS_CERT",
      "DEGRADE_ADMIN_TLS_KEY",
      "DEGRADE_ADMIN_ALLOWED_HOSTS",
      "DEGRADE_ADMIN_URL",
      "DEGRADE_LOG_CHANGES",
      "DEGRADE_GOVERNOR_TARGET_MS",
      "DEGRADE_GOVERNOR_PERCENTILE",
      "DEGRADE_GOVERNOR_PERIOD_MS",
  };
  return kOwn.contains(var) || var.starts_with("DEGRADE_GROUP_");
}

struct Model {
  std::map<std::string, std::string> owners;  // variable -> "switch X" / "group G"
  std::set<std::string> switches;

  // The status code Define should return.
  absl::StatusCode Define(const std::string& name, const std::vector<std::string>& groups) {
    if (!ModelValidName(name)) return absl::StatusCode::kInvalidArgument;
    for (const std::string& g : groups) {
      if (!ModelValidName(g)) return absl::StatusCode::kInvalidArgument;
    }
    if (switches.contains(name)) return absl::StatusCode::kAlreadyExists;
    const std::string var = ModelVar("DEGRADE_", name);
    if (ModelReserved(var) || owners.contains(var)) return absl::StatusCode::kAlreadyExists;
    std::map<std::string, std::string> mine;  // this spec's group variables
    for (const std::string& g : groups) {
      const std::string gvar = ModelVar("DEGRADE_GROUP_", g);
      if (auto it = mine.find(gvar); it != mine.end() && it->second != g) {
        return absl::StatusCode::kAlreadyExists;
      }
      if (auto it = owners.find(gvar); it != owners.end() && it->second != "group " + g) {
        return absl::StatusCode::kAlreadyExists;
      }
      mine.emplace(gvar, g);
    }
    owners[var] = "switch " + name;
    for (const std::string& g : groups) owners.emplace(ModelVar("DEGRADE_GROUP_", g), "group " + g);
    switches.insert(name);
    return absl::StatusCode::kOk;
  }
};

// Names near the interesting boundaries come from the corpus; this only
// makes sure short inputs still produce several specs.
std::string TakeName(FuzzedDataProvider& in) { return in.ConsumeRandomLengthString(160); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  degrade::Registry registry(degrade::fuzz::QuietRegistryOptions());
  Model model;

  for (int spec_index = 0; spec_index < 8 && in.remaining_bytes() > 0; ++spec_index) {
    std::string name = TakeName(in);
    std::vector<std::string> groups(in.ConsumeIntegralInRange<size_t>(0, 3));
    for (std::string& g : groups) g = TakeName(in);

    // Validation and the mapping, name by name.
    for (const std::string* n : [&] {
           std::vector<const std::string*> all = {&name};
           for (const std::string& g : groups) all.push_back(&g);
           return all;
         }()) {
      const absl::Status valid = degrade::ValidateName(*n);
      DEGRADE_FUZZ_CHECK(valid.ok() == ModelValidName(*n), "ValidateName disagrees on \"" + *n + "\"");
      if (!valid.ok()) {
        DEGRADE_FUZZ_CHECK(valid.code() == absl::StatusCode::kInvalidArgument, valid.ToString());
        DEGRADE_FUZZ_CHECK(valid.message().find("accepted: 1-128 characters") != absl::string_view::npos,
                           valid.ToString());
        DEGRADE_FUZZ_CHECK(degrade::fuzz::IsValidUtf8(std::string_view(valid.message().data(),
                                                                       valid.message().size())),
                           valid.ToString());
        continue;
      }
      const std::string var = degrade::EnvVarForSwitch(*n);
      DEGRADE_FUZZ_CHECK(var == ModelVar("DEGRADE_", *n), var);
      DEGRADE_FUZZ_CHECK(degrade::EnvVarForGroup(*n) == ModelVar("DEGRADE_GROUP_", *n), *n);
      for (char c : var) {
        DEGRADE_FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_', var);
      }
      DEGRADE_FUZZ_CHECK(degrade::IsReservedEnvVar(var) == ModelReserved(var), var);
      // Two valid names share a variable exactly when they differ only in
      // '.', '-' and '_'.
      if (valid.ok() && ModelValidName(name) && *n != name) {
        std::string a = *n, b = name;
        for (char& c : a) c = (c == '.' || c == '-') ? '_' : c;
        for (char& c : b) c = (c == '.' || c == '-') ? '_' : c;
        DEGRADE_FUZZ_CHECK((a == b) == (var == degrade::EnvVarForSwitch(name)), *n + " / " + name);
      }
    }

    const size_t listed_before = registry.List().size();
    const absl::StatusCode expected = model.Define(name, groups);
    absl::StatusOr<degrade::Switch*> defined =
        registry.Define({.name = name, .description = "fuzz", .groups = groups});
    DEGRADE_FUZZ_CHECK(defined.status().code() == expected,
                       "Define(\"" + name + "\") gave " + defined.status().ToString() +
                           ", the model expected code " + absl::StatusCodeToString(expected));
    if (defined.ok()) {
      DEGRADE_FUZZ_CHECK(registry.Find(name) == *defined, name);
      DEGRADE_FUZZ_CHECK((*defined)->name() == name, name);
    } else {
      DEGRADE_FUZZ_CHECK(registry.List().size() == listed_before, "a failed Define changed the list");
      // The message names the switch (bounded, never the whole input).
      DEGRADE_FUZZ_CHECK(!defined.status().message().empty(), "empty message");
    }
  }

  // Every defined switch: found, and its variable is its own.
  std::set<std::string> vars;
  for (const degrade::SwitchInfo& info : registry.List()) {
    if (!info.defined) continue;
    DEGRADE_FUZZ_CHECK(model.switches.contains(info.name), info.name);
    DEGRADE_FUZZ_CHECK(vars.insert(info.env_var).second, "two switches share " + info.env_var);
    DEGRADE_FUZZ_CHECK(!degrade::IsReservedEnvVar(info.env_var), info.env_var);
  }
  DEGRADE_FUZZ_CHECK(vars.size() == model.switches.size(), "switch count differs from the model");
  return 0;
}
