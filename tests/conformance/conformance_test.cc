// The conformance vectors (tests/conformance/vectors.json) against the C++
// API, one gtest case per vector. The C and Python runners read the same
// file; see tests/conformance/README.md for the format.
//
// Layer stacks run on a local Registry whose environment is the vector's
// (injected getenv), so nothing here reads the process environment.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "degrade/env.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

#ifndef DEGRADE_CONFORMANCE_VECTORS
#define DEGRADE_CONFORMANCE_VECTORS "tests/conformance/vectors.json"
#endif

// The vectors file: $DEGRADE_CONFORMANCE_VECTORS, else the path compiled in.
const Json& Vectors() {
  static const Json* vectors = [] {
    const char* env = std::getenv("DEGRADE_CONFORMANCE_VECTORS");
    const std::string path = env != nullptr ? env : DEGRADE_CONFORMANCE_VECTORS;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto* parsed = new Json(Json::parse(text.str(), nullptr, /*allow_exceptions=*/false));
    if (parsed->is_discarded() || !parsed->is_object()) {
      // No vectors: FileHoldsEverySection fails and says so.
      std::fprintf(stderr, "conformance_test: cannot read vectors from %s\n", path.c_str());
      *parsed = Json::object();
    }
    return parsed;
  }();
  return *vectors;
}

std::vector<Json> Section(const char* name) {
  const Json& all = Vectors();
  if (!all.contains(name) || !all[name].is_array()) return {};
  return {all[name].begin(), all[name].end()};
}

std::string VectorName(const ::testing::TestParamInfo<Json>& info) {
  return info.param.value("name", "unnamed_" + std::to_string(info.index));
}

// A snapshot step's text: "text" verbatim, else "snapshot" (or "json") dumped.
std::string SnapshotText(const Json& v) {
  if (v.contains("text")) return v["text"].get<std::string>();
  return v.contains("snapshot") ? v["snapshot"].dump() : v["json"].dump();
}

// ------------------------------------------------------------------ env names

class EnvNameTest : public ::testing::TestWithParam<Json> {};

TEST_P(EnvNameTest, MapsNameToVariable) {
  const Json& v = GetParam();
  const bool group = v.contains("group");
  const std::string name = v[group ? "group" : "switch"].get<std::string>();
  const absl::Status valid = ValidateName(name, group ? "group name" : "switch name");
  if (v.contains("error")) {
    EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(valid.message()), HasSubstr(v["error"].get<std::string>()));
    return;
  }
  ASSERT_TRUE(valid.ok()) << valid;
  EXPECT_EQ(group ? EnvVarForGroup(name) : EnvVarForSwitch(name), v["env_var"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Conformance, EnvNameTest, ::testing::ValuesIn(Section("env_names")),
                         VectorName);

// ----------------------------------------------------------------- env values

class EnvValueTest : public ::testing::TestWithParam<Json> {};

TEST_P(EnvValueTest, ParsesAsTheEnvLayerDoes) {
  const Json& v = GetParam();
  const std::string var = v.value("var", "DEGRADE_RECS");
  absl::StatusOr<SwitchValue> parsed = ParseEnvValue(var, v["value"].get<std::string>());
  if (v.contains("error")) {
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(v["error"].get<std::string>()));
    return;
  }
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const bool on = parsed->state.value_or(State::kOn) == State::kOn;
  EXPECT_EQ(on ? "on" : "off", v["state"].get<std::string>());
  EXPECT_DOUBLE_EQ(on ? parsed->allow.value_or(1.0) : 1.0, v.value("allow", 1.0));
}

INSTANTIATE_TEST_SUITE_P(Conformance, EnvValueTest, ::testing::ValuesIn(Section("env_values")),
                         VectorName);

// ------------------------------------------------------------------ snapshots

class SnapshotTest : public ::testing::TestWithParam<Json> {};

TEST_P(SnapshotTest, AcceptsOrRejectsWithThePath) {
  const Json& v = GetParam();
  absl::StatusOr<Snapshot> parsed = ParseSnapshot(SnapshotText(v), "vector", absl::Now());
  if (v.contains("error")) {
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(v["error"].get<std::string>()));
    return;
  }
  EXPECT_TRUE(parsed.ok()) << parsed.status();
}

INSTANTIATE_TEST_SUITE_P(Conformance, SnapshotTest, ::testing::ValuesIn(Section("snapshots")),
                         VectorName);

// --------------------------------------------------------------- layer stacks

class StackTest : public ::testing::TestWithParam<Json> {};

TEST_P(StackTest, EffectiveStateAndDecidingLayer) {
  const Json& v = GetParam();
  std::map<std::string, std::string> env;
  if (v.contains("env")) {
    for (const auto& [var, value] : v["env"].items()) env[var] = value.get<std::string>();
  }
  Registry::Options options;
  options.getenv = [env](std::string_view var) -> std::optional<std::string> {
    auto it = env.find(std::string(var));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  options.log_sink = [](LogLevel, std::string_view) {};  // invalid env values are expected
  Registry registry(std::move(options));

  const Json switches = v.value("switches", Json::array());
  for (const Json& s : switches) {
    SwitchSpec spec;
    spec.name = s["name"].get<std::string>();
    spec.description = "conformance";
    spec.groups = s.value("groups", std::vector<std::string>{});
    spec.default_state = s.value("default", "on") == "on" ? State::kOn : State::kOff;
    spec.default_allow = s.value("default_allow", 1.0);
    absl::StatusOr<Switch*> sw = registry.Define(spec);
    if (s.contains("error")) {
      EXPECT_FALSE(sw.ok()) << "defining " << spec.name << " should fail";
      EXPECT_THAT(std::string(sw.status().message()), HasSubstr(s["error"].get<std::string>()));
    } else {
      EXPECT_TRUE(sw.ok()) << "defining " << spec.name << ": " << sw.status();
    }
  }

  int step = 0;
  const Json steps = v.value("apply", Json::array());
  for (const Json& a : steps) {
    ++step;
    const std::string layer_name = a["layer"].get<std::string>();
    absl::Status status;
    if (std::optional<Layer> layer = ParseLayerName(layer_name)) {
      status = registry.ApplySnapshotJson(*layer, SnapshotText(a), "vector");
    } else {
      // The bindings' message for a layer name that is not one.
      status = absl::InvalidArgumentError("layer \"" + layer_name + "\" is not a layer");
    }
    if (a.contains("error")) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "step " << step;
      EXPECT_THAT(std::string(status.message()), HasSubstr(a["error"].get<std::string>()))
          << "step " << step;
    } else {
      EXPECT_TRUE(status.ok()) << "step " << step << ": " << status;
    }
  }

  const Json expect = v.value("expect", Json::object());  // items() must not outlive it
  for (const auto& [name, want] : expect.items()) {
    SCOPED_TRACE("switch " + name);
    absl::StatusOr<SwitchInfo> info = registry.Get(name);
    ASSERT_TRUE(info.ok()) << info.status();
    const EffectiveState& e = info->effective;
    EXPECT_EQ(StateName(e.state), want["state"].get<std::string>());
    EXPECT_NEAR(e.allow, want.value("allow", 1.0), 1e-12);
    EXPECT_EQ(LayerName(info->deciding_layer), want["layer"].get<std::string>());
    if (want.contains("fault")) {
      if (want["fault"].is_null()) {
        EXPECT_FALSE(e.fault.has_value());
      } else {
        ASSERT_TRUE(e.fault.has_value());
        EXPECT_EQ(FaultKindName(e.fault->kind), want["fault"]["kind"].get<std::string>());
        EXPECT_NEAR(e.fault->rate, want["fault"].value("rate", 1.0), 1e-12);
        EXPECT_EQ(e.fault->delay_ms, want["fault"].value("delay_ms", 0u));
      }
    }
    if (want.contains("fault_layer")) {
      const std::string got = info->fault_layer ? std::string(LayerName(*info->fault_layer)) : "";
      EXPECT_EQ(got, want["fault_layer"].is_null() ? "" : want["fault_layer"].get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, StackTest, ::testing::ValuesIn(Section("stacks")),
                         VectorName);

// The file must hold enough vectors for the suite to mean something.
TEST(ConformanceVectorsTest, FileHoldsEverySection) {
  EXPECT_GE(Section("env_names").size(), 4u);
  EXPECT_GE(Section("env_values").size(), 10u);
  EXPECT_GE(Section("snapshots").size(), 10u);
  EXPECT_GE(Section("stacks").size(), 20u);
}

}  // namespace
}  // namespace degrade
