#include "degrade/snapshot.h"

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kSource = "file x.json";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

absl::StatusOr<Snapshot> Parse(std::string_view json,
                               std::vector<std::string>* warnings = nullptr) {
  return ParseSnapshot(json, kSource, kNow, warnings);
}

// The status of parsing `value` as the switch "a".
absl::Status ParseAsSwitchA(std::string_view value) {
  return Parse(std::string(R"({"switches": {"a": )") + std::string(value) + "}}").status();
}

absl::Time ParseRfc3339(std::string_view text) {
  absl::Time time;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, absl::string_view(text.data(), text.size()),
                              &time, &error))
      << error;
  return time;
}

// --- Accepted input ---------------------------------------------------------

TEST(SnapshotTest, EmptyObjectIsEmptySnapshot) {
  absl::StatusOr<Snapshot> snapshot = Parse("{}");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_TRUE(snapshot->empty());
}

TEST(SnapshotTest, DesignExampleParsesToExpectedStruct) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> snapshot = Parse(R"({
    "switches": {
      "recommendations": "off",
      "search.suggest": {"state": "on", "allow": 0.25},
      "analytics": {"state": "off", "reason": "INC-4211 vendor 5xx", "actor": "oncall",
                    "expires_at": "2026-11-21T12:00:00Z"},
      "payments.fraud-score": {"fault": {"kind": "error", "rate": 1.0}}
    },
    "groups": {"tier2": "off"},
    "all": "on"
  })",
                                            &warnings);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();

  Snapshot expected;
  expected.switches["recommendations"] = Off();
  SwitchValue suggest = On();
  suggest.allow = 0.25;
  expected.switches["search.suggest"] = suggest;
  SwitchValue analytics = Off();
  analytics.reason = "INC-4211 vendor 5xx";
  analytics.actor = "oncall";
  analytics.expires_at =
      absl::FromCivil(absl::CivilSecond(2026, 11, 21, 12, 0, 0), absl::UTCTimeZone());
  expected.switches["analytics"] = analytics;
  SwitchValue fraud;
  fraud.fault = Fault{.kind = Fault::Kind::kError, .rate = 1.0, .delay_ms = 0};
  expected.switches["payments.fraud-score"] = fraud;
  expected.groups["tier2"] = Off();
  expected.all = On();

  EXPECT_EQ(*snapshot, expected);
  EXPECT_THAT(warnings, IsEmpty());
}

TEST(SnapshotTest, AllowWithoutStateLeavesStateUnset) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"allow": 0.5}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const SwitchValue& value = snapshot->switches.at("a");
  EXPECT_FALSE(value.state.has_value());
  EXPECT_EQ(value.allow, 0.5);
  EXPECT_TRUE(value.SetsState());
}

TEST(SnapshotTest, AllowAcceptsBothEndsAndIntegers) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"allow": 0}, "b": {"allow": 1}, "c": {"allow": 1.0}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").allow, 0.0);
  EXPECT_EQ(snapshot->switches.at("b").allow, 1.0);
  EXPECT_EQ(snapshot->switches.at("c").allow, 1.0);
}

TEST(SnapshotTest, FaultDefaultsRateToOneAndDelayToZero) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"fault": {"kind": "error"}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").fault,
            (Fault{.kind = Fault::Kind::kError, .rate = 1.0, .delay_ms = 0}));
}

TEST(SnapshotTest, DelayFaultWithDelayParses) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"fault": {"kind": "delay", "rate": 0.5, "delay_ms": 200}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").fault,
            (Fault{.kind = Fault::Kind::kDelay, .rate = 0.5, .delay_ms = 200}));
}

TEST(SnapshotTest, IntegralFloatDelayIsAnInteger) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"fault": {"kind": "delay", "delay_ms": 200.0}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").fault->delay_ms, 200u);
}

TEST(SnapshotTest, FaultOffSetsFaultCleared) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"fault": "off"}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const SwitchValue& value = snapshot->switches.at("a");
  EXPECT_TRUE(value.fault_cleared);
  EXPECT_FALSE(value.fault.has_value());
  EXPECT_TRUE(value.SetsFault());
  EXPECT_FALSE(value.SetsState());
}

TEST(SnapshotTest, ExpiresAtWithOffsetIsTheSameInstant) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"expires_at": "2026-11-21T14:00:00.5+02:00"}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").expires_at,
            ParseRfc3339("2026-11-21T12:00:00Z") + absl::Milliseconds(500));
}

TEST(SnapshotTest, TtlIsAddedToNow) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"ttl_s": 90.5}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").expires_at, kNow + absl::Milliseconds(90'500));
}

TEST(SnapshotTest, TtlOfThirtyDaysIsAccepted) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"ttl_s": 2592000}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").expires_at, kNow + absl::Hours(24 * 30));
}

TEST(SnapshotTest, ReasonOfExactlyMaxLengthIsAccepted) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"reason": ")" + std::string(kMaxReasonLength, 'x') + R"("}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").reason.size(), kMaxReasonLength);
}

TEST(SnapshotTest, EmptyValueObjectSetsNothing) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"groups": {"tier2": {}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->groups.at("tier2"), SwitchValue{});
}

// --- Warnings ---------------------------------------------------------------

TEST(SnapshotTest, UnknownTopLevelFieldWarnsAndParses) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"version": 2, "all": "off"})", &warnings);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->all, Off());
  EXPECT_THAT(warnings, ElementsAre("file x.json: version: unknown field, ignored"));
}

TEST(SnapshotTest, UnknownValueFieldWarnsWithPathAndParses) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"search.suggest": {"state": "off", "colour": "red"}}})", &warnings);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("search.suggest"), Off());
  EXPECT_THAT(
      warnings,
      ElementsAre(R"(file x.json: switches."search.suggest".colour: unknown field, ignored)"));
}

TEST(SnapshotTest, UnknownBreakerFieldWarns) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"state": "on", "breaker": {"failures": 5}}}})", &warnings);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  SwitchValue expected = On();
  expected.breaker = BreakerPolicy{};
  EXPECT_EQ(snapshot->switches.at("a"), expected);
  EXPECT_THAT(warnings,
              ElementsAre("file x.json: switches.a.breaker.failures: unknown field, ignored"));
}

TEST(SnapshotTest, UnknownFaultFieldWarns) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"fault": {"kind": "error", "status": 503}}}})", &warnings);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_TRUE(snapshot->switches.at("a").fault.has_value());
  EXPECT_THAT(warnings,
              ElementsAre("file x.json: switches.a.fault.status: unknown field, ignored"));
}

TEST(SnapshotTest, WarningsAreNotAppendedWhenSnapshotIsRejected) {
  std::vector<std::string> warnings = {"earlier"};
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"colour": 1, "switches": {"a": {"allow": 2}}})", &warnings);
  EXPECT_EQ(snapshot.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(warnings, ElementsAre("earlier"));
}

TEST(SnapshotTest, NullWarningsPointerIsAllowed) {
  EXPECT_TRUE(ParseSnapshot(R"({"colour": 1})", kSource, kNow, nullptr).ok());
}

// --- Rejected input: document -----------------------------------------------

TEST(SnapshotTest, InvalidJsonNamesLineAndColumn) {
  absl::Status status = Parse("{\n  \"switches\": {\"a\": \"on\",}\n}").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: invalid JSON: "));
  EXPECT_THAT(Message(status), HasSubstr("line 2, column 26"));
}

TEST(SnapshotTest, EmptyInputIsInvalidJson) {
  absl::Status status = Parse("").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: invalid JSON: "));
  EXPECT_THAT(Message(status), HasSubstr("unexpected end of input"));
}

TEST(SnapshotTest, TrailingGarbageIsInvalidJson) {
  absl::Status status = Parse(R"({"all": "on"} x)").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: invalid JSON: "));
  EXPECT_THAT(Message(status), HasSubstr("expected end of input"));
}

TEST(SnapshotTest, InvalidUtf8IsInvalidJsonAndTheMessageIsUtf8) {
  absl::Status status = Parse("{\"all\": \"\xff\"}").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: invalid JSON: "));
  EXPECT_THAT(Message(status), Not(HasSubstr("\xff")));
}

TEST(SnapshotTest, DeepNestingIsRejected) {
  const std::string deep =
      R"({"x": )" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  absl::Status status = Parse(deep).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "file x.json: invalid JSON: nested deeper than 64 levels");
}

// Two equal keys in one object: a reader keeping the first and one keeping
// the last would act on different documents, so neither is guessed.
TEST(SnapshotTest, DuplicateTopLevelKeyIsRejected) {
  absl::Status status = Parse(R"({"all": "off", "switches": {}, "all": "on"})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: duplicate key "all"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateSwitchNameIsRejected) {
  absl::Status status = Parse(R"({"switches": {"recs": "off", "recs": "on"}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches: duplicate key "recs"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateFieldOfSwitchValueIsRejected) {
  absl::Status status =
      Parse(R"({"switches": {"analytics": {"state": "off", "reason": "x", "state": "on"}}})")
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.analytics: duplicate key "state"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateKeyWithEqualValuesIsRejected) {
  absl::Status status = Parse(R"({"groups": {"tier2": "off", "tier2": "off"}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: groups: duplicate key "tier2"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateKeyInBreakerPolicyNamesItsPath) {
  absl::Status status = Parse(R"({"switches": {"search.suggest": {"breaker": )"
                              R"({"window": "count", "open_s": 30, "open_s": 60}}}})")
                            .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), R"(file x.json: switches."search.suggest".breaker: )"
                             R"(duplicate key "open_s"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateKeyInFaultIsRejected) {
  absl::Status status =
      ParseAsSwitchA(R"({"fault": {"kind": "error", "rate": 0.1, "rate": 1}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.fault: duplicate key "rate"; each key may appear once)");
}

// Unknown fields are ignored, but they are still JSON the reader must agree on.
TEST(SnapshotTest, DuplicateKeyInsideUnknownArrayNamesIndex) {
  absl::Status status = Parse(R"({"notes": [{"k": 1}, {"k": 1, "k": 2}]})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: notes[1]: duplicate key "k"; each key may appear once)");
}

TEST(SnapshotTest, DuplicateKeyIsShownEscapedAndCut) {
  const std::string key = "\\u001b[2K" + std::string(100, 'k');
  absl::Status status =
      Parse(R"({"switches": {")" + key + R"(": "on", ")" + key + R"(": "on"}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), R"(file x.json: switches: duplicate key "\u001b[2K)" +
                                 std::string(51, 'k') + R"(...; each key may appear once)");
}

TEST(SnapshotTest, EqualKeysInDifferentObjectsAreAccepted) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"state": "off"}, "b": {"state": "on"}}, "state": 1})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.size(), 2u);
}

TEST(SnapshotTest, TopLevelArrayIsRejected) {
  absl::Status status = Parse("[1, 2]").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: [1,2] is not a snapshot; accepted: an object with switches, groups, all, shed, governor");
}

TEST(SnapshotTest, SwitchesNotAnObjectIsRejected) {
  absl::Status status = Parse(R"({"switches": ["recs"]})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches: [\"recs\"] is not an object; accepted: an object of switch "
            "name to switch value");
}

TEST(SnapshotTest, GroupsNullIsRejected) {
  absl::Status status = Parse(R"({"groups": null})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: groups: null is not an object"));
}

TEST(SnapshotTest, BadSwitchNameKeyIsRejectedWithPath) {
  absl::Status status = Parse(R"({"switches": {"Recs": "off"}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.Recs: invalid switch name: has 'R' at position 0 (names are "
            "lower case); accepted: 1-128 characters of [a-z0-9._-], starting with a letter or "
            "digit");
}

TEST(SnapshotTest, BadGroupNameKeyIsRejectedWithQuotedPath) {
  absl::Status status = Parse(R"({"groups": {".tier2": "off"}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith(R"(file x.json: groups.".tier2": invalid group name: starts with '.')"));
}

TEST(SnapshotTest, TooManyEntriesAreRejected) {
  std::string json = R"({"switches": {)";
  for (size_t i = 0; i <= kMaxSnapshotEntries; ++i) {
    if (i > 0) json += ',';
    json += "\"s" + std::to_string(i) + "\":\"on\"";
  }
  json += "}}";
  absl::Status status = Parse(json).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: 100001 entries in switches and groups; accepted: at most 100000");
}

// --- Rejected input: values -------------------------------------------------

TEST(SnapshotTest, NullValueIsRejected) {
  absl::Status status = ParseAsSwitchA("null");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a: null is not a switch value; accepted: "on", "off" or an )"
            "object with state, allow, fault, reason, actor, expires_at, ttl_s, breaker");
}

TEST(SnapshotTest, NullAllIsRejected) {
  absl::Status status = Parse(R"({"all": null})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: all: null is not a switch value"));
}

TEST(SnapshotTest, NumberValueIsRejected) {
  absl::Status status = ParseAsSwitchA("0");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a: 0 is not a switch value; "));
}

TEST(SnapshotTest, UpperCaseOffStringIsRejected) {
  absl::Status status = ParseAsSwitchA(R"("OFF")");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith(R"(file x.json: switches.a: "OFF" is not a switch value (states are )"
                         "lower case); accepted: "));
}

TEST(SnapshotTest, WrongStateStringIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"state": "dim"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.state: "dim" is not a state; accepted: "on" or "off")");
}

TEST(SnapshotTest, BoolStateIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"state": false})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a.state: false is not a state"));
}

TEST(SnapshotTest, AllowAboveOneIsRejectedWithPath) {
  absl::Status status = Parse(R"({"switches": {"search.suggest": {"allow": 1.5}}})").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches."search.suggest".allow: 1.5 is not in [0, 1])");
}

TEST(SnapshotTest, AllowBelowZeroIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"allow": -0.1})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "file x.json: switches.a.allow: -0.1 is not in [0, 1]");
}

TEST(SnapshotTest, AllowAsStringIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"allow": "0.5"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Message(status),
      R"(file x.json: switches.a.allow: "0.5" is not a number; accepted: a number in [0, 1])");
}

TEST(SnapshotTest, AllowAsBoolIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"allow": true})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.a.allow: true is not a number; accepted: a number in [0, 1]");
}

TEST(SnapshotTest, AllowWithStateOffIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"state": "off", "allow": 0.5})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.allow: 0.5 given with state "off"; allow is only )"
            "meaningful with state on");
}

TEST(SnapshotTest, FaultWithoutKindIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"rate": 0.5}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.fault.kind: missing; accepted: "error" or "delay")");
}

TEST(SnapshotTest, UnknownFaultKindIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "crash"}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.fault.kind: "crash" is not a fault kind; accepted: )"
            R"("error" or "delay")");
}

TEST(SnapshotTest, FaultAsOtherStringIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": "on"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Message(status),
      StartsWith(R"(file x.json: switches.a.fault: "on" is not a fault; accepted: "off" )"));
}

TEST(SnapshotTest, FaultRateAboveOneIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "error", "rate": 2}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "file x.json: switches.a.fault.rate: 2 is not in [0, 1]");
}

TEST(SnapshotTest, NegativeDelayIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "error", "delay_ms": -1}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.a.fault.delay_ms: -1 is not in [0, 600000]; accepted: an "
            "integer number of milliseconds in [0, 600000]");
}

TEST(SnapshotTest, DelayAboveMaxIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "delay", "delay_ms": 600001}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith("file x.json: switches.a.fault.delay_ms: 600001 is not in [0, 600000]"));
}

TEST(SnapshotTest, FractionalDelayIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "delay", "delay_ms": 1.5}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith("file x.json: switches.a.fault.delay_ms: 1.5 is not an integer; "));
}

TEST(SnapshotTest, DelayFaultWithoutDelayIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "delay", "rate": 0.5}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.a.fault.delay_ms: missing; accepted: an integer number of "
            R"(milliseconds in [1, 600000] for a "delay" fault)");
}

TEST(SnapshotTest, DelayFaultWithZeroDelayIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"fault": {"kind": "delay", "delay_ms": 0}})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith("file x.json: switches.a.fault.delay_ms: 0 is too small; "));
}

TEST(SnapshotTest, ReasonTooLongIsRejected) {
  absl::Status status =
      ParseAsSwitchA(R"({"reason": ")" + std::string(kMaxReasonLength + 1, 'x') + R"("})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a.reason: \"xxx"));
  EXPECT_THAT(Message(status),
              HasSubstr("... is 1025 bytes long; accepted: a string of at most 1024 bytes"));
  EXPECT_LT(Message(status).size(), 200u);
}

TEST(SnapshotTest, ReasonWrongTypeIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"reason": 42})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith("file x.json: switches.a.reason: 42 is not a string; accepted: "));
}

TEST(SnapshotTest, ActorWrongTypeIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"actor": ["oncall"]})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith(R"(file x.json: switches.a.actor: ["oncall"] is not a string)"));
}

TEST(SnapshotTest, ExpiresAtNotRfc3339IsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"expires_at": "2026-11-21 12:00"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.expires_at: "2026-11-21 12:00" is not an RFC 3339 time; )"
            R"(accepted: an RFC 3339 time such as "2026-11-21T12:00:00Z")");
}

TEST(SnapshotTest, ExpiresAtInYear10000IsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"state": "off", "expires_at": "10000-01-01T00:00:00Z"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(file x.json: switches.a.expires_at: "10000-01-01T00:00:00Z" is outside years )"
            R"(1000 to 9999 (UTC); accepted: an RFC 3339 time from "1000-01-01T00:00:00Z" to )"
            R"("9999-12-31T23:59:59Z")");
}

// 23:00 at UTC-5 on the last day of 9999 is already year 10000 in UTC, which
// is how the time is written back.
TEST(SnapshotTest, ExpiresAtPastYear9999InUtcIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"expires_at": "9999-12-31T23:00:00-05:00"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("is outside years 1000 to 9999 (UTC)"));
}

TEST(SnapshotTest, ExpiresAtBeforeYear1000IsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"expires_at": "0999-12-31T23:59:59Z"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith(R"(file x.json: switches.a.expires_at: "0999-12-31T23:59:59Z" is )"
                         R"(outside years 1000 to 9999 (UTC))"));
}

TEST(SnapshotTest, ExpiresAtLastSecondOfYear9999IsAccepted) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"expires_at": "9999-12-31T23:59:59Z"}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(SwitchValueToJson(snapshot->switches.at("a")),
            R"({"expires_at":"9999-12-31T23:59:59+00:00"})");
}

TEST(SnapshotTest, ExpiresAtInfiniteFutureIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"expires_at": "infinite-future"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("is not an RFC 3339 time"));
}

TEST(SnapshotTest, ZeroTtlIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"ttl_s": 0})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.a.ttl_s: 0 is not in (0, 2592000]; accepted: a number of "
            "seconds in (0, 2592000] (30 days)");
}

TEST(SnapshotTest, NegativeTtlIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"ttl_s": -5})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a.ttl_s: -5 is not in "));
}

TEST(SnapshotTest, TtlAboveThirtyDaysIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"ttl_s": 2592001})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a.ttl_s: 2592001 is not in "));
}

TEST(SnapshotTest, TtlAsStringIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"ttl_s": "60"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith(R"(file x.json: switches.a.ttl_s: "60" is not a number)"));
}

TEST(SnapshotTest, TtlWithExpiresAtIsRejected) {
  absl::Status status = ParseAsSwitchA(R"({"ttl_s": 60, "expires_at": "2026-11-21T12:00:00Z"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "file x.json: switches.a: both expires_at and ttl_s given; accepted: one of them");
}

TEST(SnapshotTest, LongValueIsTruncatedInMessage) {
  std::string many = "[1";
  for (int i = 0; i < 10'000; ++i) many += ",1";
  absl::Status status = ParseAsSwitchA(many + "]");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("file x.json: switches.a: [1,1,1,"));
  EXPECT_THAT(Message(status), HasSubstr("... is not a switch value"));
  EXPECT_LT(Message(status).size(), 250u);
}

// --- ParseSwitchValue -------------------------------------------------------

TEST(SnapshotTest, ParseSwitchValueParsesShortForm) {
  absl::StatusOr<SwitchValue> value =
      ParseSwitchValue(R"("off")", "etcd key /d/switches/recs", "switches.recs", kNow);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, Off());
}

TEST(SnapshotTest, ParseSwitchValueUsesPathPrefix) {
  absl::Status status =
      ParseSwitchValue(R"({"allow": 2})", "etcd key /d/switches/recs", "switches.recs", kNow)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "etcd key /d/switches/recs: switches.recs.allow: 2 is not in [0, 1]");
}

TEST(SnapshotTest, ParseSwitchValueInvalidJsonNamesPath) {
  absl::Status status =
      ParseSwitchValue(R"({"allow": )", "admin PUT", "switches.recs", kNow).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("admin PUT: switches.recs: invalid JSON: "));
  EXPECT_THAT(Message(status), HasSubstr("line 1, column 11"));
}

TEST(SnapshotTest, ParseSwitchValueDuplicateKeyNamesPath) {
  absl::Status status = ParseSwitchValue(R"({"state": "off", "state": "on"})",
                                         "etcd key /d/switches/recs", "switches.recs", kNow)
                            .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), R"(etcd key /d/switches/recs: switches.recs: duplicate key )"
                             R"("state"; each key may appear once)");
}

TEST(SnapshotTest, ParseSwitchValueTtlUsesNow) {
  absl::StatusOr<SwitchValue> value =
      ParseSwitchValue(R"({"state": "off", "ttl_s": 600})", "admin PUT", "switches.recs", kNow);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->expires_at, kNow + absl::Minutes(10));
}

TEST(SnapshotTest, ParseSwitchValueWarnsWithPath) {
  std::vector<std::string> warnings;
  absl::StatusOr<SwitchValue> value = ParseSwitchValue(
      R"({"state": "on", "colour": 1})", "admin PUT", "switches.recs", kNow, &warnings);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_THAT(warnings, ElementsAre("admin PUT: switches.recs.colour: unknown field, ignored"));
}

// --- Writing ----------------------------------------------------------------

TEST(SnapshotTest, StateOnlyValueIsWrittenAsShortForm) {
  EXPECT_EQ(SwitchValueToJson(Off()), R"("off")");
  EXPECT_EQ(SwitchValueToJson(On()), R"("on")");
}

TEST(SnapshotTest, EmptyValueIsWrittenAsEmptyObject) {
  EXPECT_EQ(SwitchValueToJson(SwitchValue{}), "{}");
}

TEST(SnapshotTest, EmptySnapshotIsWrittenAsEmptyObject) {
  EXPECT_EQ(SnapshotToJson(Snapshot{}), "{}");
}

TEST(SnapshotTest, ValueIsWrittenWithSortedKeys) {
  SwitchValue value = On();
  value.allow = 0.25;
  value.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.5, .delay_ms = 200};
  value.reason = "drill";
  value.expires_at = ParseRfc3339("2026-11-21T12:00:00.25Z");
  EXPECT_EQ(SwitchValueToJson(value),
            R"({"allow":0.25,"expires_at":"2026-11-21T12:00:00.25+00:00",)"
            R"("fault":{"delay_ms":200,"kind":"delay","rate":0.5},"reason":"drill","state":"on"})");
}

TEST(SnapshotTest, FaultClearedIsWrittenAsFaultOff) {
  SwitchValue value;
  value.fault_cleared = true;
  EXPECT_EQ(SwitchValueToJson(value), R"({"fault":"off"})");
}

TEST(SnapshotTest, WritingNonUtf8ReasonDoesNotThrow) {
  SwitchValue value = Off();
  value.reason = "bad \xff byte";
  EXPECT_EQ(SwitchValueToJson(value), "{\"reason\":\"bad \xEF\xBF\xBD byte\",\"state\":\"off\"}");
}

TEST(SnapshotTest, RichSnapshotRoundTrips) {
  Snapshot snapshot;
  snapshot.switches["recommendations"] = Off();
  SwitchValue suggest = On();
  suggest.allow = 0.1;
  suggest.reason = "dimmed: \"slow\" \u00e9\n";
  suggest.actor = "oncall";
  snapshot.switches["search.suggest"] = suggest;
  SwitchValue fraud;
  fraud.fault = Fault{.kind = Fault::Kind::kError, .rate = 1.0 / 3.0, .delay_ms = 250};
  fraud.expires_at = absl::FromUnixNanos(1'795'000'000'123'456'789);
  snapshot.switches["payments.fraud-score"] = fraud;
  SwitchValue cleared;
  cleared.fault_cleared = true;
  cleared.allow = 0.0;
  snapshot.switches["analytics"] = cleared;
  SwitchValue delay = Off();
  delay.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.0, .delay_ms = kMaxFaultDelayMs};
  snapshot.groups["tier2"] = delay;
  snapshot.groups["tier3"] = SwitchValue{};
  SwitchValue all = On();
  all.expires_at = absl::FromUnixMicros(1'795'000'000'000'001);
  snapshot.all = all;

  const std::string json = SnapshotToJson(snapshot);
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> parsed = ParseSnapshot(json, "round trip", kNow, &warnings);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << json;
  EXPECT_EQ(*parsed, snapshot) << json;
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_EQ(SnapshotToJson(*parsed), json);
}

TEST(SnapshotTest, SwitchValueRoundTrips) {
  SwitchValue value = On();
  value.allow = 0.75;
  value.fault_cleared = true;
  value.expires_at = absl::FromUnixNanos(1'795'000'000'000'000'001);
  absl::StatusOr<SwitchValue> parsed =
      ParseSwitchValue(SwitchValueToJson(value), "round trip", "value", kNow);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, value);
}

// --- ValidateSwitchValue ----------------------------------------------------

TEST(SnapshotTest, ValidateAcceptsRichValue) {
  SwitchValue value = On();
  value.allow = 0.5;
  value.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.5, .delay_ms = 100};
  value.reason = std::string(kMaxReasonLength, 'r');
  value.expires_at = kNow;
  EXPECT_TRUE(ValidateSwitchValue(value).ok());
}

// The parser is where values are checked: whatever it accepts passes
// ValidateSwitchValue, so the registry does not check parsed values again.
TEST(SnapshotTest, EveryParsedValuePassesValidateSwitchValue) {
  // A reason of exactly kMaxReasonLength bytes, ending in a two-byte character.
  const std::string longest_reason =
      R"({"reason": ")" + std::string(kMaxReasonLength - 2, 'r') + "\xC3\xA9\"}";
  const std::vector<std::string> accepted = {
      R"("on")",
      R"("off")",
      R"({})",
      R"({"allow": 0})",
      R"({"allow": 1})",
      R"({"state": "on", "allow": 0.25})",
      R"({"fault": "off", "breaker": "off"})",
      R"({"fault": {"kind": "delay", "delay_ms": 600000, "rate": 0}})",
      R"({"fault": {"kind": "error", "delay_ms": 200.0}})",
      R"({"breaker": {}})",
      R"({"breaker": {"window": "count", "window_size": 10000, "min_calls": 1000000,)"
      R"( "failure_ratio": 1, "slow_call_ms": 600000, "slow_call_ratio": 1e-9,)"
      R"( "open_s": 86400, "half_open_calls": 1000}})",
      R"({"breaker": {"window": "time", "window_size": 3600, "open_s": 0.001}})",
      R"({"ttl_s": 2592000, "reason": "caf\u00e9", "actor": "ops"})",
      R"({"expires_at": "2026-11-21T12:00:00.123456789+05:30", "colour": "red"})",
      longest_reason,
  };
  for (const std::string& json : accepted) {
    absl::StatusOr<SwitchValue> parsed = ParseSwitchValue(json, "test", "value", kNow);
    ASSERT_TRUE(parsed.ok()) << json << ": " << parsed.status();
    EXPECT_TRUE(ValidateSwitchValue(*parsed).ok()) << json << ": " << ValidateSwitchValue(*parsed);
  }
}

TEST(SnapshotTest, ValidateRejectsAllowAboveOne) {
  SwitchValue value;
  value.allow = 1.5;
  absl::Status status = ValidateSwitchValue(value, "switches.recs");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "switches.recs.allow: 1.5 is not in [0, 1]");
}

TEST(SnapshotTest, ValidateRejectsExpiryInYear10000) {
  SwitchValue value = Off();
  value.expires_at = ParseRfc3339("10000-01-01T00:00:00Z");
  absl::Status status = ValidateSwitchValue(value, "switches.recs");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(switches.recs.expires_at: 10000-01-01T00:00:00+00:00 is outside years 1000 to )"
            R"(9999 (UTC); accepted: an RFC 3339 time from "1000-01-01T00:00:00Z" to )"
            R"("9999-12-31T23:59:59Z")");
}

TEST(SnapshotTest, ValidateRejectsNanAllow) {
  SwitchValue value;
  value.allow = std::numeric_limits<double>::quiet_NaN();
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "value.allow: nan is not in [0, 1]");
}

TEST(SnapshotTest, ValidateRejectsAllowWithOff) {
  SwitchValue value = Off();
  value.allow = 0.5;
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("value.allow: 0.5 given with state \"off\""));
}

TEST(SnapshotTest, ValidateRejectsRateBelowZero) {
  SwitchValue value;
  value.fault = Fault{.kind = Fault::Kind::kError, .rate = -0.5, .delay_ms = 0};
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "value.fault.rate: -0.5 is not in [0, 1]");
}

TEST(SnapshotTest, ValidateRejectsDelayAboveMax) {
  SwitchValue value;
  value.fault = Fault{.kind = Fault::Kind::kError, .rate = 1, .delay_ms = kMaxFaultDelayMs + 1};
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("value.fault.delay_ms: 600001 is not in [0, 600000]"));
}

TEST(SnapshotTest, ValidateRejectsDelayFaultWithoutDelay) {
  SwitchValue value;
  value.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 1, .delay_ms = 0};
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("value.fault.delay_ms: 0 is too small"));
}

TEST(SnapshotTest, ValidateRejectsFaultTogetherWithFaultCleared) {
  SwitchValue value;
  value.fault = Fault{};
  value.fault_cleared = true;
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "value.fault: both a fault and fault_cleared given; accepted: one of them");
}

TEST(SnapshotTest, ValidateRejectsLongActor) {
  SwitchValue value;
  value.actor = std::string(kMaxReasonLength + 1, 'a');
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("value.actor: \"aaa"));
  EXPECT_THAT(Message(status), HasSubstr("is 1025 bytes long"));
}

TEST(SnapshotTest, ValidateRejectsNonUtf8Reason) {
  SwitchValue value;
  value.reason = "caf\xe9";
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("value.reason: "));
  EXPECT_THAT(Message(status), HasSubstr("is not valid UTF-8"));
}

TEST(SnapshotTest, ValidateRejectsInfiniteExpiry) {
  SwitchValue value;
  value.expires_at = absl::InfiniteFuture();
  absl::Status status = ValidateSwitchValue(value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status),
              StartsWith("value.expires_at: infinite-future is not a finite time"));
}

// --- ValidateName -----------------------------------------------------------

TEST(SnapshotTest, NameOf128CharactersIsValid) {
  EXPECT_TRUE(ValidateName(std::string(128, 'a')).ok());
}

TEST(SnapshotTest, NameWithEveryAllowedCharacterIsValid) {
  EXPECT_TRUE(ValidateName("0payments.fraud-score_v2").ok());
}

TEST(SnapshotTest, NameOf129CharactersIsRejected) {
  absl::Status status = ValidateName(std::string(129, 'a'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("switch name \"aaa"));
  EXPECT_THAT(Message(status),
              HasSubstr(": is 129 characters long; accepted: 1-128 characters of [a-z0-9._-], "
                        "starting with a letter or digit"));
}

TEST(SnapshotTest, EmptyNameIsRejected) {
  absl::Status status = ValidateName("", "group name");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith(R"(group name "": is empty; accepted: )"));
}

TEST(SnapshotTest, NameStartingWithDotIsRejected) {
  absl::Status status = ValidateName(".recs");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith(R"(switch name ".recs": starts with '.'; accepted: )"));
}

TEST(SnapshotTest, NameStartingWithDashIsRejected) {
  EXPECT_EQ(ValidateName("-recs").code(), absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotTest, UpperCaseNameIsRejected) {
  absl::Status status = ValidateName("Recs");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            R"(switch name "Recs": has 'R' at position 0 (names are lower case); accepted: )"
            "1-128 characters of [a-z0-9._-], starting with a letter or digit");
}

TEST(SnapshotTest, NameWithSpaceIsRejected) {
  absl::Status status = ValidateName("my recs");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("has ' ' at position 2;"));
}

TEST(SnapshotTest, NameWithControlByteShowsTheByte) {
  absl::Status status = ValidateName(std::string("re\0cs", 5));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("has byte 0x00 at position 2;"));
}

// --- Breaker policies --------------------------------------------------------

TEST(SnapshotTest, BreakerPolicyParsesEveryField) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"breaker": {
      "window": "count", "window_size": 200, "min_calls": 50, "failure_ratio": 0.25,
      "slow_call_ms": 800, "slow_call_ratio": 0.75, "open_s": 12.5, "half_open_calls": 7}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const std::optional<BreakerPolicy>& b = snapshot->switches.at("a").breaker;
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, (BreakerPolicy{.window = BreakerPolicy::Window::kCount,
                               .window_size = 200,
                               .min_calls = 50,
                               .failure_ratio = 0.25,
                               .slow_call_ms = 800,
                               .slow_call_ratio = 0.75,
                               .open_s = 12.5,
                               .half_open_calls = 7}));
}

TEST(SnapshotTest, BreakerEmptyObjectGetsEveryDefault) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"switches": {"a": {"breaker": {}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").breaker, BreakerPolicy{});
  EXPECT_FALSE(snapshot->switches.at("a").SetsState());
}

TEST(SnapshotTest, BreakerOffIsBreakerCleared) {
  absl::StatusOr<Snapshot> snapshot = Parse(R"({"all": {"breaker": "off"}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_TRUE(snapshot->all->breaker_cleared);
  EXPECT_FALSE(snapshot->all->breaker.has_value());
  EXPECT_TRUE(snapshot->all->SetsBreaker());
}

TEST(SnapshotTest, BreakerIntegersMayBeWrittenAsFloats) {
  absl::StatusOr<Snapshot> snapshot =
      Parse(R"({"switches": {"a": {"breaker": {"window_size": 20.0, "min_calls": 5.0}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").breaker->window_size, 20u);
}

TEST(SnapshotTest, BreakerWindowSizeIsCheckedAgainstTheKindWhateverTheOrder) {
  // 5000 calls is a valid count window even though "window" comes later.
  absl::StatusOr<Snapshot> snapshot = Parse(
      R"({"switches": {"a": {"breaker": {"window_size": 5000, "window": "count"}}}})");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->switches.at("a").breaker->window_size, 5000u);
}

TEST(SnapshotTest, BreakerPolicyRoundTrips) {
  Snapshot in;
  SwitchValue v = Off();
  v.breaker = BreakerPolicy{.window = BreakerPolicy::Window::kCount, .window_size = 100,
                            .failure_ratio = 0.3, .slow_call_ms = 250, .open_s = 0.5};
  in.switches["a"] = v;
  SwitchValue cleared;
  cleared.breaker_cleared = true;
  in.groups["g"] = cleared;
  const std::string json = SnapshotToJson(in);
  absl::StatusOr<Snapshot> out = Parse(json);
  ASSERT_TRUE(out.ok()) << out.status() << " in " << json;
  EXPECT_EQ(*out, in);
}

TEST(SnapshotTest, BreakerPolicyIsWrittenInFull) {
  SwitchValue v;
  v.breaker = BreakerPolicy{};
  EXPECT_EQ(SwitchValueToJson(v),
            R"({"breaker":{"failure_ratio":0.5,"half_open_calls":5,"min_calls":20,)"
            R"("open_s":30.0,"slow_call_ms":0,"slow_call_ratio":1.0,"window":"time",)"
            R"("window_size":10}})");
}

TEST(SnapshotTest, StateWithBreakerIsNotWrittenAsTheShortForm) {
  SwitchValue v = On();
  v.breaker_cleared = true;
  EXPECT_EQ(SwitchValueToJson(v), R"({"breaker":"off","state":"on"})");
}

// Every invalid breaker value, with the message it gets.
struct BadBreaker {
  std::string value;    // the JSON of "breaker"
  std::string message;  // after "file x.json: switches.a.breaker"
};

class BreakerRejectionTest : public ::testing::TestWithParam<BadBreaker> {};

TEST_P(BreakerRejectionTest, IsRejectedWithPathValueAndAccepted) {
  absl::Status status = ParseAsSwitchA(R"({"breaker": )" + GetParam().value + "}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "file x.json: switches.a.breaker" + GetParam().message);
}

constexpr std::string_view kAcceptedPolicy =
    R"(accepted: "off" or an object with window, window_size, min_calls, failure_ratio, )"
    "slow_call_ms, slow_call_ratio, open_s, half_open_calls";

// gtest prints parameters; keep names readable.
std::string BadBreakerName(const ::testing::TestParamInfo<BadBreaker>& info) {
  return "Case" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(
    SnapshotTest, BreakerRejectionTest,
    ::testing::Values(
        BadBreaker{R"("on")", R"(: "on" is not a breaker policy; )" + std::string(kAcceptedPolicy)},
        BadBreaker{"null", ": null is not a breaker policy; " + std::string(kAcceptedPolicy)},
        BadBreaker{"5", ": 5 is not a breaker policy; " + std::string(kAcceptedPolicy)},
        BadBreaker{"[]", ": [] is not a breaker policy; " + std::string(kAcceptedPolicy)},
        BadBreaker{R"({"window": "sliding"})",
                   R"(.window: "sliding" is not a window kind; accepted: "count" or "time")"},
        BadBreaker{R"({"window": 1})",
                   R"(.window: 1 is not a window kind; accepted: "count" or "time")"},
        BadBreaker{R"({"window_size": 0})",
                   R"(.window_size: 0 is not in [1, 3600]; accepted: an integer number of )"
                   R"(seconds in [1, 3600] for a "time" window)"},
        BadBreaker{R"({"window_size": 3601})",
                   R"(.window_size: 3601 is not in [1, 3600]; accepted: an integer number of )"
                   R"(seconds in [1, 3600] for a "time" window)"},
        BadBreaker{R"({"window": "count", "window_size": 10001})",
                   R"(.window_size: 10001 is not in [1, 10000]; accepted: an integer number of )"
                   R"(calls in [1, 10000] for a "count" window)"},
        BadBreaker{R"({"window_size": 1.5})",
                   R"(.window_size: 1.5 is not an integer; accepted: an integer number of )"
                   R"(seconds in [1, 3600] for a "time" window)"},
        BadBreaker{R"({"window_size": "10"})",
                   R"(.window_size: "10" is not an integer; accepted: an integer number of )"
                   R"(seconds in [1, 3600] for a "time" window)"},
        BadBreaker{R"({"min_calls": 0})",
                   ".min_calls: 0 is not in [1, 1000000]; accepted: an integer in [1, 1000000]"},
        BadBreaker{R"({"min_calls": 1000001})",
                   ".min_calls: 1000001 is not in [1, 1000000]; accepted: an integer in "
                   "[1, 1000000]"},
        BadBreaker{R"({"min_calls": true})",
                   ".min_calls: true is not an integer; accepted: an integer in [1, 1000000]"},
        BadBreaker{R"({"failure_ratio": 0})",
                   ".failure_ratio: 0 is not in (0, 1]; accepted: a number in (0, 1]"},
        BadBreaker{R"({"failure_ratio": 1.5})",
                   ".failure_ratio: 1.5 is not in (0, 1]; accepted: a number in (0, 1]"},
        BadBreaker{R"({"failure_ratio": -0.1})",
                   ".failure_ratio: -0.1 is not in (0, 1]; accepted: a number in (0, 1]"},
        BadBreaker{R"({"failure_ratio": "0.5"})",
                   R"(.failure_ratio: "0.5" is not a number; accepted: a number in (0, 1])"},
        BadBreaker{R"({"slow_call_ms": -1})",
                   ".slow_call_ms: -1 is not in [0, 600000]; accepted: an integer number of "
                   "milliseconds in [0, 600000] (0: calls are not timed)"},
        BadBreaker{R"({"slow_call_ms": 600001})",
                   ".slow_call_ms: 600001 is not in [0, 600000]; accepted: an integer number of "
                   "milliseconds in [0, 600000] (0: calls are not timed)"},
        BadBreaker{R"({"slow_call_ms": 2.5})",
                   ".slow_call_ms: 2.5 is not an integer; accepted: an integer number of "
                   "milliseconds in [0, 600000] (0: calls are not timed)"},
        BadBreaker{R"({"slow_call_ratio": 0})",
                   ".slow_call_ratio: 0 is not in (0, 1]; accepted: a number in (0, 1]"},
        BadBreaker{R"({"slow_call_ratio": 2})",
                   ".slow_call_ratio: 2 is not in (0, 1]; accepted: a number in (0, 1]"},
        BadBreaker{R"({"open_s": 0})",
                   ".open_s: 0 is not in (0, 86400]; accepted: a number of seconds in (0, 86400]"},
        BadBreaker{R"({"open_s": 86401})",
                   ".open_s: 86401 is not in (0, 86400]; accepted: a number of seconds in "
                   "(0, 86400]"},
        BadBreaker{R"({"open_s": "30"})",
                   R"(.open_s: "30" is not a number; accepted: a number of seconds in (0, 86400])"},
        BadBreaker{R"({"half_open_calls": 0})",
                   ".half_open_calls: 0 is not in [1, 1000]; accepted: an integer in [1, 1000]"},
        BadBreaker{R"({"half_open_calls": 1001})",
                   ".half_open_calls: 1001 is not in [1, 1000]; accepted: an integer in [1, 1000]"},
        BadBreaker{R"({"half_open_calls": 2.5})",
                   ".half_open_calls: 2.5 is not an integer; accepted: an integer in [1, 1000]"}),
    BadBreakerName);

TEST(SnapshotTest, NonPolicyBreakerValuesNameWhatIsAccepted) {
  absl::Status status = ParseAsSwitchA(R"({"breaker": "on"})");
  EXPECT_THAT(Message(status), HasSubstr(kAcceptedPolicy));
}

TEST(SnapshotTest, BadBreakerRejectsTheWholeSnapshot) {
  absl::StatusOr<Snapshot> snapshot = Parse(
      R"({"switches": {"a": "off", "b": {"breaker": {"failure_ratio": 2}}}})");
  EXPECT_EQ(snapshot.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotTest, ValidateAcceptsDefaultBreaker) {
  SwitchValue v;
  v.breaker = BreakerPolicy{};
  EXPECT_TRUE(ValidateSwitchValue(v).ok());
}

TEST(SnapshotTest, ValidateRejectsBreakerFailureRatioZero) {
  SwitchValue v;
  v.breaker = BreakerPolicy{.failure_ratio = 0};
  EXPECT_EQ(Message(ValidateSwitchValue(v)),
            "value.breaker.failure_ratio: 0 is not in (0, 1]; accepted: a number in (0, 1]");
}

TEST(SnapshotTest, ValidateRejectsBreakerNanSlowCallRatio) {
  SwitchValue v;
  v.breaker = BreakerPolicy{.slow_call_ratio = std::numeric_limits<double>::quiet_NaN()};
  EXPECT_EQ(ValidateSwitchValue(v).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotTest, ValidateRejectsCountWindowAboveMax) {
  SwitchValue v;
  v.breaker = BreakerPolicy{.window = BreakerPolicy::Window::kCount, .window_size = 10'001};
  EXPECT_THAT(Message(ValidateSwitchValue(v)),
              StartsWith("value.breaker.window_size: 10001 is not in [1, 10000]"));
}

TEST(SnapshotTest, ValidateRejectsZeroHalfOpenCalls) {
  SwitchValue v;
  v.breaker = BreakerPolicy{.half_open_calls = 0};
  EXPECT_THAT(Message(ValidateSwitchValue(v)),
              StartsWith("value.breaker.half_open_calls: 0 is not in [1, 1000]"));
}

TEST(SnapshotTest, ValidateRejectsInfiniteOpenSeconds) {
  SwitchValue v;
  v.breaker = BreakerPolicy{.open_s = std::numeric_limits<double>::infinity()};
  EXPECT_THAT(Message(ValidateSwitchValue(v)), StartsWith("value.breaker.open_s: inf is not in"));
}

TEST(SnapshotTest, ValidateRejectsBreakerTogetherWithBreakerCleared) {
  SwitchValue v;
  v.breaker = BreakerPolicy{};
  v.breaker_cleared = true;
  EXPECT_EQ(Message(ValidateSwitchValue(v)),
            "value.breaker: both a breaker policy and breaker_cleared given; accepted: one of them");
}

}  // namespace
}  // namespace degrade
