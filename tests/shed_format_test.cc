// The snapshot format's "shed" and "governor" fields (degrade/snapshot.h,
// docs/shedding.md): parsed, validated, written back, and refused whole when
// wrong.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace degrade {
namespace {

using ::testing::ElementsAre;

constexpr std::string_view kSource = "file x.json";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

absl::StatusOr<Snapshot> Parse(std::string_view json,
                               std::vector<std::string>* warnings = nullptr) {
  return ParseSnapshot(json, kSource, kNow, warnings);
}

Shed MakeShed(int level, std::string reason = "", std::string actor = "",
              std::optional<absl::Time> expires_at = std::nullopt) {
  Shed shed;
  shed.level = level;
  shed.reason = std::move(reason);
  shed.actor = std::move(actor);
  shed.expires_at = expires_at;
  return shed;
}

GovernorSetting MakeGovernor(std::optional<bool> enabled, std::optional<int> cap = std::nullopt,
                             std::string reason = "", std::string actor = "",
                             std::optional<absl::Time> expires_at = std::nullopt) {
  GovernorSetting g;
  g.enabled = enabled;
  g.cap = cap;
  g.reason = std::move(reason);
  g.actor = std::move(actor);
  g.expires_at = expires_at;
  return g;
}

std::string ErrorOf(std::string_view json) {
  absl::StatusOr<Snapshot> s = Parse(json);
  EXPECT_FALSE(s.ok()) << json;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

// --- shed -------------------------------------------------------------------

TEST(ShedFormatTest, NumberIsALevel) {
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": 3})");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->shed.has_value());
  EXPECT_EQ(*s->shed, MakeShed(3));
  EXPECT_FALSE(s->empty());
}

TEST(ShedFormatTest, IntegralFloatIsALevel) {
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": 3.0})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->shed->level, 3);
}

TEST(ShedFormatTest, ZeroIsNoShed) {
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": 0})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->shed.has_value());
  EXPECT_TRUE(s->empty());
}

TEST(ShedFormatTest, ObjectCarriesReasonActorAndExpiry) {
  absl::StatusOr<Snapshot> s = Parse(
      R"({"shed": {"level": 7, "reason": "INC-1 db hot", "actor": "oncall",
                   "expires_at": "2027-01-01T00:00:00Z"}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s->shed, MakeShed(7, "INC-1 db hot", "oncall", absl::FromUnixSeconds(1798761600)));
}

TEST(ShedFormatTest, TtlBecomesExpiry) {
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": {"level": 2, "ttl_s": 60}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->shed->expires_at, kNow + absl::Seconds(60));
}

TEST(ShedFormatTest, ObjectWithLevelZeroIsNoShed) {
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": {"level": 0, "reason": "over"}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->shed.has_value());
}

TEST(ShedFormatTest, UnknownFieldWarns) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> s = Parse(R"({"shed": {"level": 2, "colour": "red"}})", &warnings);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(warnings, ElementsAre("file x.json: shed.colour: unknown field, ignored"));
}

TEST(ShedFormatTest, LevelOutOfRangeIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": 12})"),
            "file x.json: shed: 12 is not an integer in [0, 9]; accepted: an integer in [0, 9] "
            "(0: no shed)");
}

TEST(ShedFormatTest, NegativeLevelIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": -1})"),
            "file x.json: shed: -1 is not an integer in [0, 9]; accepted: an integer in [0, 9] "
            "(0: no shed)");
}

TEST(ShedFormatTest, FractionIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": 2.5})"),
            "file x.json: shed: 2.5 is not an integer in [0, 9]; accepted: an integer in [0, 9] "
            "(0: no shed)");
}

TEST(ShedFormatTest, StringIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": "3"})"),
            "file x.json: shed: \"3\" is not a shed; accepted: an integer in [0, 9] (0: no "
            "shed) or an object with level, reason, actor, expires_at, ttl_s");
}

TEST(ShedFormatTest, BooleanIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": true})"),
            "file x.json: shed: true is not a shed; accepted: an integer in [0, 9] (0: no "
            "shed) or an object with level, reason, actor, expires_at, ttl_s");
}

TEST(ShedFormatTest, NullIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": null})"),
            "file x.json: shed: null is not a shed; accepted: an integer in [0, 9] (0: no "
            "shed) or an object with level, reason, actor, expires_at, ttl_s");
}

TEST(ShedFormatTest, ObjectWithoutLevelIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": {"reason": "x"}})"),
            "file x.json: shed.level: missing; accepted: an integer in [0, 9] (0: no shed)");
}

TEST(ShedFormatTest, ObjectLevelOutOfRangeIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": {"level": 10}})"),
            "file x.json: shed.level: 10 is not an integer in [0, 9]; accepted: an integer in "
            "[0, 9] (0: no shed)");
}

TEST(ShedFormatTest, BothTtlAndExpiryAreRejected) {
  EXPECT_EQ(ErrorOf(R"({"shed": {"level": 1, "ttl_s": 5, "expires_at": "2027-01-01T00:00:00Z"}})"),
            "file x.json: shed: both expires_at and ttl_s given; accepted: one of them");
}

TEST(ShedFormatTest, LongReasonIsRejected) {
  const std::string json =
      R"({"shed": {"level": 1, "reason": ")" + std::string(kMaxReasonLength + 1, 'x') + R"("}})";
  EXPECT_THAT(ErrorOf(json), ::testing::HasSubstr("shed.reason: \"xxx"));
}

TEST(ShedFormatTest, BadShedRejectsTheWholeSnapshot) {
  absl::StatusOr<Snapshot> s = Parse(R"({"switches": {"a": "off"}, "shed": 99})");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShedFormatTest, PlainLevelIsWrittenAsANumber) {
  Snapshot s;
  s.shed = MakeShed(4);
  EXPECT_EQ(SnapshotToJson(s), R"({"shed":4})");
}

TEST(ShedFormatTest, ShedWithTextIsWrittenAsAnObject) {
  Snapshot s;
  s.shed = MakeShed(4, "r", "a", absl::FromUnixSeconds(0));
  EXPECT_EQ(SnapshotToJson(s),
            R"({"shed":{"actor":"a","expires_at":"1970-01-01T00:00:00+00:00","level":4,"reason":"r"}})");
}

TEST(ShedFormatTest, RoundTrips) {
  for (std::string_view json : {R"({"shed":4})",
                                R"({"all":"on","shed":{"actor":"a","level":9,"reason":"r"}})",
                                R"({"shed":{"expires_at":"2027-01-01T00:00:00+00:00","level":1}})"}) {
    absl::StatusOr<Snapshot> s = Parse(json);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(SnapshotToJson(*s), json);
    absl::StatusOr<Snapshot> again = Parse(SnapshotToJson(*s));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *s);
  }
}

TEST(ShedFormatTest, ParseShedReadsOneValue) {
  absl::StatusOr<std::optional<Shed>> shed =
      ParseShed(R"({"level": 5, "actor": "ops"})", "etcd /p/", "shed", kNow);
  ASSERT_TRUE(shed.ok()) << shed.status();
  EXPECT_EQ(**shed, MakeShed(5, "", "ops"));
  EXPECT_EQ(ParseShed("x", "etcd /p/", "shed", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ShedFormatTest, ValidateShedChecksTheLevel) {
  EXPECT_TRUE(ValidateShed(MakeShed(9)).ok());
  EXPECT_EQ(ValidateShed(MakeShed(0)).message(),
            "shed.level: 0 is not in [1, 9]; accepted: an integer in [1, 9] (a shed of level 0 "
            "is no shed)");
  EXPECT_EQ(ValidateShed(MakeShed(3, "\xff")).code(),
            absl::StatusCode::kInvalidArgument);
}

// --- governor -----------------------------------------------------------------

TEST(GovernorFormatTest, OnAndOffAreEnabled) {
  absl::StatusOr<Snapshot> on = Parse(R"({"governor": "on"})");
  absl::StatusOr<Snapshot> off = Parse(R"({"governor": "off"})");
  ASSERT_TRUE(on.ok() && off.ok());
  EXPECT_EQ(*on->governor, MakeGovernor(true));
  EXPECT_EQ(*off->governor, MakeGovernor(false));
  EXPECT_FALSE(on->empty());
}

TEST(GovernorFormatTest, ObjectCarriesEveryField) {
  absl::StatusOr<Snapshot> s = Parse(
      R"({"governor": {"enabled": true, "cap": 5.0, "reason": "peak", "actor": "sre",
                       "ttl_s": 30}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s->governor, MakeGovernor(true, 5, "peak", "sre", kNow + absl::Seconds(30)));
}

TEST(GovernorFormatTest, CapOutOfRangeIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"governor": {"cap": 0}})"),
            "file x.json: governor.cap: 0 is not an integer in [1, 9]; accepted: an integer tier "
            "in [1, 9]");
}

TEST(GovernorFormatTest, EnabledMustBeABoolean) {
  EXPECT_EQ(ErrorOf(R"({"governor": {"enabled": "yes"}})"),
            "file x.json: governor.enabled: \"yes\" is not a boolean; accepted: true or false");
}

TEST(GovernorFormatTest, OtherStringIsRejected) {
  EXPECT_EQ(ErrorOf(R"({"governor": "ON"})"),
            "file x.json: governor: \"ON\" is not a governor setting; accepted: \"on\", \"off\" "
            "or an object with enabled, cap, reason, actor, expires_at, ttl_s");
}

TEST(GovernorFormatTest, RoundTrips) {
  for (std::string_view json : {R"({"governor":"off"})", R"({"governor":{"cap":3}})",
                                R"({"governor":{"actor":"a","cap":2,"enabled":true}})"}) {
    absl::StatusOr<Snapshot> s = Parse(json);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(SnapshotToJson(*s), json);
  }
}

TEST(GovernorFormatTest, ValidateChecksTheCap) {
  EXPECT_TRUE(ValidateGovernorSetting(MakeGovernor(std::nullopt, 1)).ok());
  EXPECT_EQ(ValidateGovernorSetting(MakeGovernor(std::nullopt, 10)).message(),
            "governor.cap: 10 is not in [1, 9]; accepted: an integer tier in [1, 9]");
}

}  // namespace
}  // namespace degrade
