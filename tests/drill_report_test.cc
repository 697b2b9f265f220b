// The drill's figures over hand-built timelines, its reports, its plan, and
// the drill options' parsing (tools/drill_report.h, tools/drill.h,
// tools/ctl_args.h). No servers: every function here is pure or only looks
// at the file system.
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ctl_args.h"
#include "drill.h"
#include "drill_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// ------------------------------------------------------------ hand-built data

StateSample On(double t, uint64_t primary_ok, std::string breaker = "closed", bool fault = false) {
  StateSample s;
  s.t_ms = t;
  s.ok = true;
  s.state = "on";
  s.layer = "default";
  s.breaker = std::move(breaker);
  s.fault = fault;
  s.primary_ok = primary_ok;
  return s;
}

StateSample Off(double t, uint64_t primary_ok, std::string layer = "breaker") {
  StateSample s = On(t, primary_ok, layer == "breaker" ? "open" : "closed");
  s.state = "off";
  s.layer = std::move(layer);
  return s;
}

StateSample NoAnswer(double t) {
  StateSample s;
  s.t_ms = t;
  s.error = "connection refused";
  return s;
}

ProbeSample Probe(double t, double latency, bool ok) {
  ProbeSample p;
  p.t_ms = t;
  p.latency_ms = latency;
  p.ok = ok;
  p.status = ok ? 200 : 0;
  return p;
}

// Baseline 0-1000 ms, fault acknowledged at 1000, breaker open seen at 1600
// (sample before at 1500), fault cleared at 3000, breaker closed and primary
// calls succeeding again at 3300.
DrillTimeline TypicalTimeline() {
  DrillTimeline tl;
  tl.started_at = "2026-11-22T05:00:00.000Z";
  for (double t = 0; t < 1000; t += 100) tl.states.push_back(On(t, 10 + t / 100));
  tl.fault_on_ms = 1000;
  tl.states.push_back(On(1000, 20, "closed", true));
  for (double t = 1100; t < 1600; t += 100) tl.states.push_back(On(t, 20, "closed", true));
  for (double t = 1600; t < 3000; t += 100) tl.states.push_back(Off(t, 20));
  tl.fault_off_ms = 3000;
  tl.states.push_back(Off(3000, 20));            // the DELETE's answer: counters start here
  tl.states.push_back(On(3100, 20, "half_open"));  // half-open, no success yet
  tl.states.push_back(On(3200, 22, "half_open"));  // probes succeed, still half-open
  tl.states.push_back(On(3300, 22));               // closed, with new successes: recovered
  tl.states.push_back(On(3400, 25));
  tl.states.push_back(On(3500, 28));
  tl.end_ms = 3600;
  // Probes: fast and ok in the baseline; slow, some failing, before detection;
  // fast after it; fast after the fault.
  for (double t = 0; t < 1000; t += 100) tl.probes.push_back(Probe(t, 2, true));
  tl.probes.push_back(Probe(1000, 900, true));
  tl.probes.push_back(Probe(1200, 1000, false));
  tl.probes.push_back(Probe(1400, 1000, false));
  for (double t = 1600; t < 3000; t += 100) tl.probes.push_back(Probe(t, 3, true));
  for (double t = 3000; t < 3600; t += 100) tl.probes.push_back(Probe(t, 2, true));
  return tl;
}

// ---------------------------------------------------------------- percentiles

TEST(DrillPercentileTest, NearestRank) {
  const std::vector<double> v = {5, 1, 4, 2, 3, 6, 7, 8, 9, 10};
  EXPECT_EQ(Percentile(v, 50), 5);
  EXPECT_EQ(Percentile(v, 90), 9);
  EXPECT_EQ(Percentile(v, 99), 10);
  EXPECT_EQ(Percentile(v, 100), 10);
  EXPECT_EQ(Percentile(v, 1), 1);
}

TEST(DrillPercentileTest, EmptyHasNone) { EXPECT_EQ(Percentile({}, 50), std::nullopt); }

TEST(DrillWindowTest, CountsProbesStartedInsideHalfOpenInterval) {
  const std::vector<ProbeSample> probes = {Probe(0, 1, true), Probe(100, 10, false),
                                           Probe(200, 5, true), Probe(300, 7, true)};
  const WindowStats w = ComputeWindow(probes, 100, 300);  // 100 and 200, not 300
  EXPECT_EQ(w.probes, 2);
  EXPECT_EQ(w.ok, 1);
  EXPECT_DOUBLE_EQ(*w.success_ratio, 0.5);
  EXPECT_EQ(*w.p50_ms, 5);
  EXPECT_EQ(*w.max_ms, 10);
}

TEST(DrillWindowTest, NoProbesNoRatio) {
  const WindowStats w = ComputeWindow({Probe(0, 1, true)}, 10, 20);
  EXPECT_EQ(w.probes, 0);
  EXPECT_FALSE(w.success_ratio.has_value());
  EXPECT_FALSE(w.p99_ms.has_value());
}

// -------------------------------------------------------------------- figures

TEST(DrillFiguresTest, DetectIsFirstOffSampleAfterTheFault) {
  const DrillFigures f = ComputeFigures(TypicalTimeline());
  ASSERT_TRUE(f.detect_ms.has_value());
  EXPECT_DOUBLE_EQ(*f.detect_ms, 600);
  EXPECT_DOUBLE_EQ(*f.detect_resolution_ms, 100);
  EXPECT_EQ(f.detected_by, "breaker");
  EXPECT_TRUE(f.breaker_opened);
}

TEST(DrillFiguresTest, RecoverNeedsClosedBreakerAndNewPrimarySuccesses) {
  const DrillFigures f = ComputeFigures(TypicalTimeline());
  ASSERT_TRUE(f.recover_ms.has_value());
  EXPECT_DOUBLE_EQ(*f.recover_ms, 300);  // 3300: not 3200, where successes came in half-open
  EXPECT_DOUBLE_EQ(*f.recover_resolution_ms, 100);
}

TEST(DrillFiguresTest, ProbeWindowsSplitAtFaultDetectionAndClear) {
  const DrillFigures f = ComputeFigures(TypicalTimeline());
  EXPECT_EQ(f.baseline.probes, 10);
  EXPECT_DOUBLE_EQ(*f.baseline.success_ratio, 1.0);
  EXPECT_EQ(f.fault.probes, 17);  // 1000, 1200, 1400, then 1600..2900
  EXPECT_EQ(f.fault.ok, 15);
  EXPECT_EQ(f.fault_before_detect.probes, 3);
  EXPECT_EQ(f.fault_before_detect.ok, 1);
  EXPECT_EQ(*f.fault_before_detect.p50_ms, 1000);
  EXPECT_EQ(f.fault_after_detect.probes, 14);
  EXPECT_DOUBLE_EQ(*f.fault_after_detect.success_ratio, 1.0);
  EXPECT_EQ(f.after.probes, 6);
}

TEST(DrillFiguresTest, OffTimeSumsSamplesShowingOff) {
  const DrillFigures f = ComputeFigures(TypicalTimeline());
  EXPECT_DOUBLE_EQ(f.off_ms, 1500);  // 1600 to 3100
}

TEST(DrillFiguresTest, OffByAnotherLayerCountsAsDetection) {
  DrillTimeline tl;
  tl.states = {On(0, 1), On(100, 1, ""), Off(200, 1, "remote")};
  tl.states[1].breaker.clear();
  tl.states[2].breaker.clear();
  tl.fault_on_ms = 50;
  tl.end_ms = 300;
  const DrillFigures f = ComputeFigures(tl);
  ASSERT_TRUE(f.detect_ms.has_value());
  EXPECT_DOUBLE_EQ(*f.detect_ms, 150);
  EXPECT_EQ(f.detected_by, "remote");
  EXPECT_FALSE(f.breaker_opened);
}

TEST(DrillFiguresTest, OffBeforeTheFaultIsNotDetection) {
  DrillTimeline tl;
  tl.states = {Off(0, 1, "admin"), On(100, 1), On(200, 1)};
  tl.fault_on_ms = 50;
  tl.end_ms = 300;
  EXPECT_FALSE(ComputeFigures(tl).detect_ms.has_value());
}

TEST(DrillFiguresTest, SamplesWithoutAnswerAreSkippedAndCounted) {
  DrillTimeline tl;
  tl.fault_on_ms = 0;
  tl.states = {On(0, 1, "closed", true), NoAnswer(100), NoAnswer(200), Off(300, 1)};
  tl.end_ms = 400;
  const DrillFigures f = ComputeFigures(tl);
  EXPECT_EQ(f.state_errors, 2);
  EXPECT_EQ(f.state_samples, 2);
  EXPECT_DOUBLE_EQ(*f.detect_ms, 300);
  EXPECT_DOUBLE_EQ(*f.detect_resolution_ms, 300);  // from the last answered sample
}

TEST(DrillFiguresTest, NoRecoveryWhilePrimaryCallsDoNotSucceed) {
  DrillTimeline tl;
  tl.fault_on_ms = 0;
  tl.fault_off_ms = 100;
  tl.states = {On(100, 5), On(200, 5), On(300, 5)};
  tl.end_ms = 400;
  EXPECT_FALSE(ComputeFigures(tl).recover_ms.has_value());
}

TEST(DrillFiguresTest, NoRecoveryWithoutFaultEnd) {
  DrillTimeline tl = TypicalTimeline();
  tl.fault_off_ms.reset();
  EXPECT_FALSE(ComputeFigures(tl).recover_ms.has_value());
}

TEST(DrillFiguresTest, RecoveryCountsFromTheFirstSampleAfterTheClear) {
  // Primary successes before the clear (a delay fault still runs the
  // primary) must not count as recovery.
  std::vector<StateSample> states = {On(0, 10, "closed", true), On(100, 20, "closed", true),
                                     On(200, 20), On(300, 21)};
  EXPECT_EQ(RecoverySample(states, 150), 3u);
  EXPECT_EQ(RecoverySample(states, 350), std::nullopt);
}

TEST(DrillFiguresTest, NoFaultMeansNoFaultWindow) {
  DrillTimeline tl;
  tl.probes = {Probe(0, 1, true), Probe(100, 1, false)};
  tl.states = {On(0, 1)};
  tl.end_ms = 200;
  const DrillFigures f = ComputeFigures(tl);
  EXPECT_EQ(f.baseline.probes, 2);
  EXPECT_EQ(f.fault.probes, 0);
  EXPECT_FALSE(f.detect_ms.has_value());
}

// ----------------------------------------------------------------- objectives

TEST(DrillObjectivesTest, MetAndMissed) {
  const DrillFigures f = ComputeFigures(TypicalTimeline());
  Objectives o;
  o.detect_under_ms = 1000;       // 600: met
  o.success_over = 0.9;           // 15/17 = 0.88: missed
  o.recover_under_ms = 300;       // 300 is not under 300: missed
  const std::vector<ObjectiveResult> r = CheckObjectives(f, o);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].name, "detect");
  EXPECT_TRUE(r[0].met);
  EXPECT_EQ(r[1].name, "success");
  EXPECT_FALSE(r[1].met);
  EXPECT_THAT(r[1].actual, HasSubstr("15 of 17"));
  EXPECT_EQ(r[2].name, "recover");
  EXPECT_FALSE(r[2].met);
}

TEST(DrillObjectivesTest, MissingFigureMissesItsObjective) {
  DrillFigures f;  // nothing detected, recovered or probed
  Objectives o;
  o.detect_under_ms = 1e9;
  o.success_over = 0;
  o.recover_under_ms = 1e9;
  for (const ObjectiveResult& r : CheckObjectives(f, o)) {
    EXPECT_FALSE(r.met) << r.name;
  }
  EXPECT_EQ(CheckObjectives(f, o)[0].actual, "not detected");
  EXPECT_EQ(CheckObjectives(f, o)[2].actual, "not recovered");
}

TEST(DrillObjectivesTest, NoneAskedNoneChecked) {
  EXPECT_TRUE(CheckObjectives(ComputeFigures(TypicalTimeline()), Objectives{}).empty());
}

// -------------------------------------------------------------- state samples

json SwitchJson() {
  return json::parse(R"({"name": "recs", "state": "off", "allow": 1.0, "layer": "breaker",
    "fault": {"kind": "error", "rate": 1.0, "delay_ms": 0},
    "breaker": {"state": "open"},
    "counters": {"calls": 9, "primary_ok": 4, "skipped": 2, "primary_failures": 1,
                 "injected_faults": 2, "fallbacks": 5}})");
}

TEST(DrillStateSampleTest, ReadsTheListingFields) {
  absl::StatusOr<StateSample> s = StateSampleFromJson(SwitchJson(), 42);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->ok);
  EXPECT_EQ(s->t_ms, 42);
  EXPECT_EQ(s->state, "off");
  EXPECT_EQ(s->layer, "breaker");
  EXPECT_EQ(s->breaker, "open");
  EXPECT_TRUE(s->fault);
  EXPECT_EQ(s->calls, 9u);
  EXPECT_EQ(s->primary_ok, 4u);
  EXPECT_EQ(s->injected_faults, 2u);
}

TEST(DrillStateSampleTest, NullBreakerAndFault) {
  json j = SwitchJson();
  j["breaker"] = nullptr;
  j["fault"] = nullptr;
  absl::StatusOr<StateSample> s = StateSampleFromJson(j, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->breaker, "");
  EXPECT_FALSE(s->fault);
}

TEST(DrillStateSampleTest, MissingOrWrongFieldsNamed) {
  for (const char* key : {"state", "layer", "counters"}) {
    json j = SwitchJson();
    j.erase(key);
    absl::StatusOr<StateSample> s = StateSampleFromJson(j, 0);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << key;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(key));
  }
  json j = SwitchJson();
  j["counters"]["primary_ok"] = "4";
  EXPECT_THAT(std::string(StateSampleFromJson(j, 0).status().message()),
              HasSubstr("counters.primary_ok"));
  EXPECT_FALSE(StateSampleFromJson(json::array(), 0).ok());
}

// -------------------------------------------------------------------- reports

DrillSettings Settings() {
  DrillSettings s;
  s.admin_url = "http://127.0.0.1:9901";
  s.switch_name = "recommendations";
  s.fault_kind = "delay";
  s.delay_ms = 800;
  s.rate = 0.5;
  s.probe_url = "http://127.0.0.1:8080/checkout?x=<y>";
  s.reason = "drill <b>";
  s.actor = "ana";
  return s;
}

TEST(DrillReportTest, JsonHasFiguresObjectivesAndTimeline) {
  const DrillTimeline tl = TypicalTimeline();
  const DrillFigures f = ComputeFigures(tl);
  Objectives o;
  o.detect_under_ms = 100;
  const json r = ReportJson(Settings(), tl, f, CheckObjectives(f, o));
  EXPECT_EQ(r["format"], "degrade-drill/1");
  EXPECT_EQ(r["figures"]["detect_ms"], 600.0);
  EXPECT_EQ(r["figures"]["recover_ms"], 300.0);
  EXPECT_EQ(r["figures"]["detected_by"], "breaker");
  EXPECT_EQ(r["figures"]["fault"]["probes"], 17);
  EXPECT_EQ(r["fault_on_ms"], 1000.0);
  EXPECT_EQ(r["fault_off_ms"], 3000.0);
  EXPECT_EQ(r["objectives_met"], false);
  EXPECT_EQ(r["objectives"][0]["met"], false);
  EXPECT_EQ(r["timeline"]["probes"].size(), tl.probes.size());
  EXPECT_EQ(r["timeline"]["states"].size(), tl.states.size());
  EXPECT_EQ(r["settings"]["fault"]["delay_ms"], 800);
}

TEST(DrillReportTest, JsonNullsWhatWasNotMeasured) {
  DrillTimeline tl;
  tl.states = {NoAnswer(0)};
  const json r = ReportJson(Settings(), tl, ComputeFigures(tl), {});
  EXPECT_TRUE(r["figures"]["detect_ms"].is_null());
  EXPECT_TRUE(r["figures"]["recover_ms"].is_null());
  EXPECT_TRUE(r["figures"]["fault"]["success_ratio"].is_null());
  EXPECT_EQ(r["timeline"]["states"][0]["ok"], false);
  EXPECT_EQ(r["objectives_met"], true);
}

TEST(DrillReportTest, HtmlIsSelfContainedWithTimelineAndFigures) {
  const DrillTimeline tl = TypicalTimeline();
  const DrillFigures f = ComputeFigures(tl);
  const std::string html = ReportHtml(Settings(), tl, f, {});
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("class=\"fault\""));  // the fault window
  EXPECT_THAT(html, HasSubstr("detected +600 ms"));
  EXPECT_THAT(html, HasSubstr("recovered +300 ms"));
  EXPECT_THAT(html, HasSubstr(">open<"));  // breaker band label
  // Nothing to fetch: no script, no external reference.
  for (const char* bad : {"<script", " src=", " href=", "url(", "@import"}) {
    EXPECT_FALSE(absl::StrContains(html, bad)) << bad;
  }
}

TEST(DrillReportTest, HtmlEscapesServiceAndUserText) {
  const DrillTimeline tl = TypicalTimeline();
  const std::string html = ReportHtml(Settings(), tl, ComputeFigures(tl), {});
  EXPECT_FALSE(absl::StrContains(html, "<y>"));
  EXPECT_FALSE(absl::StrContains(html, "<b>"));
  EXPECT_THAT(html, HasSubstr("drill &lt;b&gt;"));
}

TEST(DrillReportTest, HtmlShowsInterruptionAndMissedObjectives) {
  DrillTimeline tl = TypicalTimeline();
  tl.interrupted = true;
  const DrillFigures f = ComputeFigures(tl);
  Objectives o;
  o.detect_under_ms = 1;
  const std::string html = ReportHtml(Settings(), tl, f, CheckObjectives(f, o));
  EXPECT_THAT(html, HasSubstr("interrupted"));
  EXPECT_THAT(html, HasSubstr("class=\"missed\""));
}

TEST(DrillReportTest, SummaryNamesEveryFigure) {
  const DrillTimeline tl = TypicalTimeline();
  const DrillFigures f = ComputeFigures(tl);
  Objectives o;
  o.detect_under_ms = 1;
  const std::string text = ReportSummary(Settings(), tl, f, CheckObjectives(f, o));
  EXPECT_THAT(text, HasSubstr("time to detect    600 ms (breaker"));
  EXPECT_THAT(text, HasSubstr("time to recover   300 ms"));
  EXPECT_THAT(text, HasSubstr("objective detect: under 1 ms, got 600 ms: MISSED"));
}

// ------------------------------------------------------------------- parsing

absl::StatusOr<Invocation> Parse(std::vector<std::string> args) { return ParseArgs(args); }

std::vector<std::string> DrillArgs() {
  return {"drill", "--switch", "recs", "--fault", "error", "--probe", "http://127.0.0.1:8080/x"};
}

std::string ParseError(std::vector<std::string> extra, std::vector<std::string> base = DrillArgs()) {
  base.insert(base.end(), extra.begin(), extra.end());
  absl::StatusOr<Invocation> inv = Parse(base);
  EXPECT_FALSE(inv.ok()) << absl::StrJoin(base, " ");
  if (inv.ok()) return "";
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(inv.status().message());
}

TEST(DrillArgsTest, MinimalDrillParses) {
  absl::StatusOr<Invocation> inv = Parse(DrillArgs());
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command->name, "drill");
  EXPECT_EQ(inv->drill.switch_name, "recs");
  EXPECT_EQ(inv->drill.fault_kind, "error");
  EXPECT_FALSE(inv->drill.duration.has_value());
}

TEST(DrillArgsTest, EveryOptionParses) {
  std::vector<std::string> args = DrillArgs();
  for (const char* a :
       {"--rate=50%", "--duration", "1m", "--baseline", "0", "--interval", "250ms",
        "--probe-timeout", "1.5s", "--recover-timeout", "2m", "--out", "/tmp/x",
        "--expect-detect-under", "5s", "--expect-success-over", "0.99",
        "--expect-recover-under", "90", "--reason", "game day", "--actor", "ana"}) {
    args.push_back(a);
  }
  absl::StatusOr<Invocation> inv = Parse(args);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(*inv->rate, 0.5);
  EXPECT_EQ(*inv->drill.duration, absl::Minutes(1));
  EXPECT_EQ(*inv->drill.baseline, absl::ZeroDuration());
  EXPECT_EQ(*inv->drill.interval, absl::Milliseconds(250));
  EXPECT_EQ(*inv->drill.probe_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(*inv->drill.expect_detect_under, absl::Seconds(5));
  EXPECT_EQ(*inv->drill.expect_success_over, 0.99);
  EXPECT_EQ(*inv->drill.expect_recover_under, absl::Seconds(90));
  EXPECT_EQ(inv->drill.out, "/tmp/x");
}

TEST(DrillArgsTest, RequiredOptionsNamed) {
  const std::string msg = ParseError({}, {"drill"});
  EXPECT_THAT(msg, HasSubstr("--switch NAME"));
  EXPECT_THAT(msg, HasSubstr("--fault error|delay"));
  EXPECT_THAT(msg, HasSubstr("--probe URL"));
  EXPECT_THAT(ParseError({}, {"drill", "--switch", "a", "--fault", "error"}),
              HasSubstr("drill needs --probe URL"));
}

TEST(DrillArgsTest, BadValuesNameWhatIsAccepted) {
  EXPECT_THAT(ParseError({"--fault", "crash"}),
              HasSubstr("--fault \"crash\" is not a drill fault; accepted: error, delay"));
  EXPECT_THAT(ParseError({"--switch", "Bad Name"}), HasSubstr("--switch"));
  EXPECT_THAT(ParseError({"--probe", "ftp://x/"}), HasSubstr("--probe \"ftp://x/\""));
  EXPECT_THAT(ParseError({"--probe", "nohost"}), HasSubstr("accepted: http://HOST:PORT"));
  EXPECT_THAT(ParseError({"--duration", "10x"}),
              HasSubstr("--duration \"10x\" is not valid; accepted: a duration like 250ms"));
  EXPECT_THAT(ParseError({"--duration", "500ms"}), HasSubstr("from 1s to 12h"));
  EXPECT_THAT(ParseError({"--duration", "13h"}), HasSubstr("from 1s to 12h"));
  EXPECT_THAT(ParseError({"--interval", "5ms"}), HasSubstr("from 20ms to 10s"));
  EXPECT_THAT(ParseError({"--baseline", "-1s"}), HasSubstr("--baseline"));
  EXPECT_THAT(ParseError({"--probe-timeout", "1.s"}), HasSubstr("--probe-timeout"));
  EXPECT_THAT(ParseError({"--recover-timeout", ""}), HasSubstr("--recover-timeout"));
  EXPECT_THAT(ParseError({"--expect-detect-under", "0"}), HasSubstr("from 1ms to 24h"));
  EXPECT_THAT(ParseError({"--expect-success-over", "1.5"}),
              HasSubstr("--expect-success-over \"1.5\" is not a fraction"));
  EXPECT_THAT(ParseError({"--expect-recover-under", "soon"}),
              HasSubstr("--expect-recover-under"));
  EXPECT_THAT(ParseError({"--out", ""}), HasSubstr("--out needs a directory"));
  EXPECT_THAT(ParseError({"--rate", "2"}), HasSubstr("--rate \"2\" is not a fraction"));
}

TEST(DrillArgsTest, CombinationsChecked) {
  EXPECT_THAT(ParseError({"--fault", "delay"}),
              HasSubstr("drill --fault delay needs --delay-ms N"));
  EXPECT_THAT(ParseError({"--ttl", "5m"}), HasSubstr("--ttl does not apply to drill"));
  EXPECT_THAT(ParseError({"--duration", "1s", "--interval", "600ms"}),
              HasSubstr("at most half the duration"));
  EXPECT_THAT(ParseError({"extra"}), HasSubstr("drill takes no arguments"));
}

TEST(DrillArgsTest, DrillOptionsDoNotApplyElsewhere) {
  absl::StatusOr<Invocation> inv = Parse({"list", "--probe", "http://127.0.0.1:1/"});
  ASSERT_FALSE(inv.ok());
  EXPECT_THAT(std::string(inv.status().message()),
              HasSubstr("--probe does not apply to list; it applies to: drill"));
}

TEST(DrillArgsTest, DurationForms) {
  const auto d = [](const char* text) {
    return ParseDrillDuration(text, "--x", absl::ZeroDuration(), absl::Hours(24));
  };
  EXPECT_EQ(*d("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*d("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*d("2m"), absl::Minutes(2));
  EXPECT_EQ(*d("1h"), absl::Hours(1));
  EXPECT_EQ(*d("90"), absl::Seconds(90));
  EXPECT_EQ(*d("0"), absl::ZeroDuration());
  for (const char* bad : {"", "s", "1.2.3s", ".5s", "5.s", "1e3", "5 s", " 5s", "5S", "1d",
                          "5sec", "-1", "25h", "nan", "inf"}) {
    EXPECT_FALSE(d(bad).ok()) << bad;
  }
}

TEST(DrillArgsTest, HelpListsEveryDrillOption) {
  const std::string help = CommandHelp(*FindCommand("drill"));
  for (const char* opt : {"--switch", "--fault", "--rate", "--delay-ms", "--probe", "--duration",
                          "--baseline", "--interval", "--probe-timeout", "--recover-timeout",
                          "--out", "--expect-detect-under", "--expect-success-over",
                          "--expect-recover-under", "exit status"}) {
    EXPECT_THAT(help, HasSubstr(opt));
  }
  EXPECT_THAT(GeneralHelp(), HasSubstr("drill"));
  EXPECT_THAT(GeneralHelp(), HasSubstr("inventory"));
}

// ----------------------------------------------------------------------- plan

TEST(DrillPlanTest, FaultTtlOutlastsTheDrill) {
  EXPECT_EQ(DrillFaultTtlSeconds(absl::Seconds(3)), 13);   // + 10 s at least
  EXPECT_EQ(DrillFaultTtlSeconds(absl::Seconds(60)), 70);
  EXPECT_EQ(DrillFaultTtlSeconds(absl::Minutes(10)), 660);  // + 10%
  EXPECT_LE(DrillFaultTtlSeconds(absl::Hours(12)), kMaxFaultTtlS);
}

TEST(DrillPlanTest, DefaultsTagAndPaths) {
  absl::StatusOr<Invocation> inv = Parse(DrillArgs());
  ASSERT_TRUE(inv.ok());
  absl::StatusOr<DrillPlan> plan = MakeDrillPlan(*inv, "http://a:1", "ana", "drill 7");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->duration, kDrillDefaultDuration);
  EXPECT_EQ(plan->baseline, kDrillDefaultBaseline);
  EXPECT_EQ(plan->settings.fault_ttl_s, 70);
  EXPECT_EQ(plan->settings.reason, "fire drill [drill 7]");
  EXPECT_EQ(plan->settings.actor, "ana");
  EXPECT_EQ(plan->json_path, "report.json");
  EXPECT_EQ(plan->html_path, "report.html");
}

TEST(DrillPlanTest, OutIsDirectoryOrPrefix) {
  char dir_template[] = "/tmp/drill-plan-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  for (const auto& [out, json_path] :
       std::vector<std::pair<std::string, std::string>>{{dir, dir + "/report.json"},
                                                        {dir + "/", dir + "/report.json"},
                                                        {dir + "/nightly", dir + "/nightly.json"}}) {
    std::vector<std::string> args = DrillArgs();
    args.insert(args.end(), {"--out", out});
    absl::StatusOr<Invocation> inv = Parse(args);
    ASSERT_TRUE(inv.ok());
    absl::StatusOr<DrillPlan> plan = MakeDrillPlan(*inv, "", "", "x");
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->json_path, json_path);
  }
  std::vector<std::string> args = DrillArgs();
  args.insert(args.end(), {"--out", dir + "/missing/nightly"});
  absl::StatusOr<DrillPlan> plan = MakeDrillPlan(*Parse(args), "", "", "x");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("does not exist"));
  rmdir(dir.c_str());
}

TEST(DrillStopTest, WaitEndsWhenStopped) {
  DrillStop stop;
  EXPECT_FALSE(stop.WaitFor(absl::Milliseconds(1)));
  stop.Stop();
  EXPECT_TRUE(stop.stopped());
  EXPECT_TRUE(stop.WaitFor(absl::Hours(1)));  // returns at once
}

}  // namespace
}  // namespace degrade::ctl
