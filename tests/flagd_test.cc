// flagd flag-definition files read as snapshots (lib/core/flagd.h): the
// mapping, and one refusal per kind of input degrade cannot follow, each
// naming the flag and what is accepted. tests/openfeature/flagd_conformance
// checks the same mapping against flagd's own evaluator.
#include "core/flagd.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "degrade/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace degrade::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The switches this "process" defines.
bool IsSwitch(std::string_view name) {
  return name == "recs" || name == "search.suggest" || name == "ads";
}

absl::StatusOr<Snapshot> Parse(std::string_view json, std::vector<std::string>* warnings = nullptr) {
  return ParseFlagdSnapshot(json, "file f.json", IsSwitch, warnings);
}

std::string ErrorText(std::string_view json) {
  absl::StatusOr<Snapshot> s = Parse(json);
  EXPECT_FALSE(s.ok()) << "accepted: " << (s.ok() ? SnapshotToJson(*s) : "");
  return s.ok() ? std::string() : std::string(s.status().message());
}

TEST(FlagdTest, DefaultVariantFalseTurnsTheSwitchOff) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "off"}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->switches.count("recs"), 1u);
  EXPECT_EQ(s->switches.at("recs").state, State::kOff);
  EXPECT_FALSE(s->switches.at("recs").allow.has_value());
  EXPECT_EQ(s->switches.at("recs").reason, "flagd: defaultVariant \"off\"");
}

TEST(FlagdTest, DefaultVariantTrueTurnsTheSwitchOn) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"yes": true, "no": false}, "defaultVariant": "yes", "targeting": {}}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->switches.at("recs").state, State::kOn);
}

TEST(FlagdTest, FractionalSplitSetsAllowToTheTrueShare) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"fractional": [["on", 25], ["off", 75]]}}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->switches.at("recs").state.has_value());
  EXPECT_EQ(s->switches.at("recs").allow, 0.25);
}

TEST(FlagdTest, FractionalBucketedByTargetingKeyThroughAnEvaluatorIsAccepted) {
  absl::StatusOr<Snapshot> s = Parse(R"({"$evaluators": {"tenth": {"fractional": [
      {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}, ["on", 1], ["off", 9]]}},
      "flags": {"recs": {"state": "ENABLED", "variants": {"on": true, "off": false},
      "defaultVariant": "off", "targeting": {"$ref": "tenth"}}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->switches.at("recs").allow, 0.1);
}

TEST(FlagdTest, FractionalWeightDefaultsToOne) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"fractional": [{"var": "targetingKey"}, ["on"], ["off"]]}}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->switches.at("recs").allow, 0.5);
}

TEST(FlagdTest, DisabledFlagLeavesTheSwitchAbsent) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "DISABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "off"}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->empty());
}

TEST(FlagdTest, NullDefaultVariantLeavesTheSwitchAbsent) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": null}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->empty());
}

TEST(FlagdTest, BooleanFlagNamingNoSwitchIsKeptAsAnUnknownEntry) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {"new-checkout": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "off"}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->switches.at("new-checkout").state, State::kOff);
}

TEST(FlagdTest, OtherFlagsNamingNoSwitchAreLeftOutWithOneWarning) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {
      "color": {"state": "ENABLED", "variants": {"red": "#f00"}, "defaultVariant": "red"},
      "myBoolFlag": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"},
      "beta": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
               "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "on", null]}}}})",
                                     &warnings);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->empty());
  EXPECT_THAT(warnings, ElementsAre("file f.json: 3 flags name no switch and cannot set one (not "
                                    "a switch name, not boolean, or targeting other than a "
                                    "fractional split), left out: \"beta\", \"color\", "
                                    "\"myBoolFlag\""));
}

TEST(FlagdTest, RuleTargetingOnASwitchRejectsTheDocumentNamingTheFlag) {
  EXPECT_EQ(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "on", "off"]}}}})"),
            "file f.json: flags.recs.targeting: {\"if\":[{\"==\":[{\"var\":\"tier\"},\"gold\"]},"
            "\"on\",\"off\"]} is targeting that degrade cannot follow for switch flag "
            "flags.recs; accepted: no targeting, {}, or a fractional split between boolean "
            "variants: {\"fractional\": [[\"on\", 25], [\"off\", 75]]}, optionally bucketed by "
            "{\"var\": \"targetingKey\"} and optionally through {\"$ref\": EVALUATOR}");
}

TEST(FlagdTest, StringVariantsOnASwitchRejectTheDocument) {
  EXPECT_THAT(ErrorText(R"({"flags": {"search.suggest": {"state": "ENABLED",
      "variants": {"on": "yes", "off": "no"}, "defaultVariant": "on"}}})"),
              HasSubstr("file f.json: flags.\"search.suggest\".variants.off: \"no\" is not a "
                        "boolean, so the flag cannot set a switch; accepted: boolean variants"));
}

TEST(FlagdTest, BucketingByAnotherAttributeIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"fractional": [{"var": "email"}, ["on", 50], ["off", 50]]}}}})"),
              HasSubstr("flags.recs.targeting.fractional[0]: {\"var\":\"email\"} buckets by "
                        "something other than the targeting key"));
}

TEST(FlagdTest, ComputedWeightIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"fractional": [["on", {"var": "pct"}], ["off", 50]]}}}})"),
              HasSubstr("flags.recs.targeting.fractional[0][1]: {\"var\":\"pct\"} is not a "
                        "weight (degrade does not compute weights); accepted: an integer >= 0"));
}

TEST(FlagdTest, ZeroTotalWeightIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"fractional": [["on", 0], ["off", 0]]}}}})"),
              HasSubstr("flags.recs.targeting.fractional: weights sum to 0"));
}

TEST(FlagdTest, UnknownEvaluatorIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "targeting": {"$ref": "nope"}}}})"),
              HasSubstr("flags.recs.targeting.\"$ref\": \"nope\" names no evaluator of the "
                        "document"));
}

TEST(FlagdTest, MissingStateIsRefusedForAnyFlag) {
  EXPECT_EQ(ErrorText(R"({"flags": {"color": {"variants": {"red": "#f00"}}}})"),
            "file f.json: flags.color: has no state; accepted: \"state\": \"ENABLED\" or "
            "\"DISABLED\"");
}

TEST(FlagdTest, DefaultVariantNamingNoVariantIsRefused) {
  EXPECT_EQ(ErrorText(R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "of"}}})"),
            "file f.json: flags.recs.defaultVariant: \"of\" names no variant of the flag; "
            "accepted: one of its variants, or null");
}

TEST(FlagdTest, FlagsArrayIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": [{"key": "recs"}]})"),
              HasSubstr("file f.json: flags: [{\"key\":\"recs\"}] is not an object of flags"));
}

TEST(FlagdTest, InvalidJsonIsRefused) {
  EXPECT_THAT(ErrorText(R"({"flags": )"), HasSubstr("file f.json: invalid JSON"));
}

TEST(FlagdTest, DetectionNeedsFlagsAndNoDegradeField) {
  EXPECT_TRUE(LooksLikeFlagd(R"({"flags": {}})"));
  EXPECT_FALSE(LooksLikeFlagd(R"({"flags": {}, "switches": {}})"));
  EXPECT_FALSE(LooksLikeFlagd(R"({"switches": {"flags": "off"}})"));
  EXPECT_FALSE(LooksLikeFlagd(R"({"flags": [1]})"));
  EXPECT_FALSE(LooksLikeFlagd(R"({"flags": )"));
}

TEST(FlagdTest, AutoFormatReadsBothFormats) {
  absl::StatusOr<Snapshot> flagd = ParseSnapshotAs(
      SnapshotFormat::kAuto, R"({"flags": {"recs": {"state": "ENABLED",
      "variants": {"on": true, "off": false}, "defaultVariant": "off"}}})",
      "f", absl::UnixEpoch(), IsSwitch);
  ASSERT_TRUE(flagd.ok()) << flagd.status();
  EXPECT_EQ(flagd->switches.at("recs").state, State::kOff);
  absl::StatusOr<Snapshot> plain = ParseSnapshotAs(
      SnapshotFormat::kAuto, R"({"switches": {"recs": "off"}})", "f", absl::UnixEpoch(), IsSwitch);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->switches.at("recs").state, State::kOff);
}

TEST(FlagdTest, FlagdFormatRefusesADegradeSnapshot) {
  absl::StatusOr<Snapshot> s = ParseSnapshotAs(SnapshotFormat::kFlagd,
                                               R"({"switches": {"recs": "off"}})", "f",
                                               absl::UnixEpoch(), IsSwitch);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "f: has no \"flags\"; accepted: a flagd document, {\"flags\": {KEY: FLAG, ...}}");
}

TEST(FlagdTest, FormatNamesParseAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseSnapshotFormat("flagd", "DEGRADE_CONFIG_FORMAT"), SnapshotFormat::kFlagd);
  absl::StatusOr<SnapshotFormat> bad = ParseSnapshotFormat("yaml", "DEGRADE_CONFIG_FORMAT");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("DEGRADE_CONFIG_FORMAT: \"yaml\" is not a snapshot format; accepted: "
                        "\"auto\""));
}

TEST(FlagdTest, EverythingReturnedPassesValidation) {
  absl::StatusOr<Snapshot> s = Parse(R"({"flags": {
      "recs": {"state": "ENABLED", "variants": {"on": true, "off": false},
               "targeting": {"fractional": [["on", 1], ["off", 2]]}},
      "ads": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}})");
  ASSERT_TRUE(s.ok()) << s.status();
  for (const auto& [name, value] : s->switches) {
    EXPECT_TRUE(ValidateName(name).ok()) << name;
    EXPECT_TRUE(ValidateSwitchValue(value).ok()) << name;
  }
}

}  // namespace
}  // namespace degrade::internal
