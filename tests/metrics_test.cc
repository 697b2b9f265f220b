// GET /metrics text: rendered from a registry, parsed back by a strict
// parser of the Prometheus text exposition format 0.0.4, and checked.
#include "admin/metrics.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade::internal {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

// ------------------------------------------------------------------ a strict parser

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<ParsedSample> samples;

  // The value of the one sample with exactly these labels; NaN if none.
  double Value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const ParsedSample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nan("");
  }
  size_t Count(const std::string& name) const {
    size_t n = 0;
    for (const ParsedSample& s : samples) n += s.name == name;
    return n;
  }
};

bool IsMetricName(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(const std::string& s) {
  return IsMetricName(s) && s.find(':') == std::string::npos && s.rfind("__", 0) != 0;
}

absl::StatusOr<double> ParseValue(const std::string& s) {
  if (s == "NaN") return std::nan("");
  if (s == "+Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s.empty()) return absl::InvalidArgumentError("empty value");
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return absl::InvalidArgumentError("bad value: " + s);
  return v;
}

// Accepts only what format 0.0.4 allows, and what a scraper would reject
// besides: samples of one family together, after its TYPE; no duplicate
// series; label values with only \\, \" and \n escapes.
absl::StatusOr<Exposition> ParseExposition(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') return absl::InvalidArgumentError("no final newline");
  std::set<std::string> series;
  std::set<std::string> closed_families;  // families whose samples have ended
  std::string current_family;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const auto fail = [&](const std::string& why) {
      return absl::InvalidArgumentError("line " + std::to_string(line_no) + ": " + why + ": " +
                                        line);
    };
    if (line.empty()) return fail("empty line");
    if (line[0] == '#') {
      std::string kind, name, rest;
      if (line.rfind("# HELP ", 0) == 0) {
        kind = "HELP";
      } else if (line.rfind("# TYPE ", 0) == 0) {
        kind = "TYPE";
      } else {
        continue;  // a comment
      }
      const std::string body = line.substr(7);
      const size_t sp = body.find(' ');
      if (sp == std::string::npos) return fail("no text after name");
      name = body.substr(0, sp);
      rest = body.substr(sp + 1);
      if (!IsMetricName(name)) return fail("bad metric name");
      if (kind == "HELP") {
        if (out.help.contains(name)) return fail("second HELP");
        std::string help;
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] != '\\') {
            help += rest[i];
            continue;
          }
          if (++i == rest.size()) return fail("dangling escape in HELP");
          if (rest[i] == '\\') {
            help += '\\';
          } else if (rest[i] == 'n') {
            help += '\n';
          } else {
            return fail("bad escape in HELP");
          }
        }
        out.help[name] = help;
      } else {
        if (out.type.contains(name)) return fail("second TYPE");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.contains(rest)) return fail("bad type");
        if (closed_families.contains(name) || current_family == name) {
          return fail("TYPE after samples");
        }
        out.type[name] = rest;
      }
      continue;
    }
    ParsedSample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!IsMetricName(s.name)) return fail("bad sample name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) return fail("label without =");
        const std::string label = line.substr(i, eq - i);
        if (!IsLabelName(label)) return fail("bad label name '" + label + "'");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') return fail("label value not quoted");
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c != '\\') {
            value += c;
            continue;
          }
          if (i >= line.size()) return fail("dangling escape");
          const char e = line[i++];
          if (e == '\\') {
            value += '\\';
          } else if (e == '"') {
            value += '"';
          } else if (e == 'n') {
            value += '\n';
          } else {
            return fail("bad escape");
          }
        }
        if (!closed) return fail("unterminated label value");
        if (s.labels.contains(label)) return fail("duplicate label");
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          return fail("expected , or }");
        }
      }
    }
    if (i >= line.size() || line[i] != ' ') return fail("no space before value");
    const std::string value_text = line.substr(i + 1);
    if (value_text.find(' ') != std::string::npos) return fail("timestamp or junk after value");
    absl::StatusOr<double> v = ParseValue(value_text);
    if (!v.ok()) return fail(std::string(v.status().message()));
    s.value = *v;
    // The family: a counter's samples carry its name (we name counters
    // *_total, TYPE included).
    const std::string& family = s.name;
    if (!out.type.contains(family)) return fail("sample before its TYPE");
    if (!out.help.contains(family)) return fail("sample without HELP");
    if (family != current_family) {
      if (closed_families.contains(family)) return fail("family's samples not together");
      if (!current_family.empty()) closed_families.insert(current_family);
      current_family = family;
    }
    if (out.type[family] == "counter" && !(s.value >= 0)) return fail("negative counter");
    std::string key = s.name;
    for (const auto& [k, val] : s.labels) key += "\x1f" + k + "=" + val;
    if (!series.insert(key).second) return fail("duplicate series");
    out.samples.push_back(std::move(s));
  }
  return out;
}

// ------------------------------------------------------------------ fixtures

Exposition Render(const Registry& registry) {
  const std::string text = PrometheusText(registry);
  absl::StatusOr<Exposition> parsed = ParseExposition(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  return parsed.ok() ? *parsed : Exposition{};
}

// ------------------------------------------------------------------ tests

TEST(MetricsTest, EmptyRegistryStillDeclaresEveryFamily) {
  Registry registry(QuietOptions());
  const Exposition e = Render(registry);
  for (const char* name :
       {"degrade_switch_enabled", "degrade_switch_allow", "degrade_switch_fault_rate",
        "degrade_switch_layer", "degrade_switch_tier", "degrade_breaker_open", "degrade_breaker_state",
        "degrade_breaker_opened_total", "degrade_calls_total",
        "degrade_injected_faults_total", "degrade_fallbacks_total", "degrade_source_healthy",
        "degrade_source_last_success_timestamp_seconds", "degrade_source_consecutive_failures",
        "degrade_source_applied_total"}) {
    EXPECT_TRUE(e.help.contains(name)) << name;
    EXPECT_TRUE(e.type.contains(name)) << name;
  }
  EXPECT_TRUE(e.samples.empty());
  EXPECT_EQ(e.type.at("degrade_calls_total"), "counter");
  EXPECT_EQ(e.type.at("degrade_switch_enabled"), "gauge");
}

TEST(MetricsTest, EnabledAndAllowFollowTheEffectiveState) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.on", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.off", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.dim", .description = "x"}).ok());
  ASSERT_TRUE(registry.SetOverride("m.off", Off()).ok());
  SwitchValue dim;
  dim.allow = 0.25;
  ASSERT_TRUE(registry.SetOverride("m.dim", dim).ok());

  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_switch_enabled", {{"switch", "m.on"}}), 1);
  EXPECT_EQ(e.Value("degrade_switch_enabled", {{"switch", "m.off"}}), 0);
  EXPECT_EQ(e.Value("degrade_switch_enabled", {{"switch", "m.dim"}}), 1);
  EXPECT_EQ(e.Value("degrade_switch_allow", {{"switch", "m.on"}}), 1);
  EXPECT_EQ(e.Value("degrade_switch_allow", {{"switch", "m.off"}}), 0);
  EXPECT_EQ(e.Value("degrade_switch_allow", {{"switch", "m.dim"}}), 0.25);
}

TEST(MetricsTest, AllowZeroCountsAsNotEnabled) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.zero", .description = "x"}).ok());
  SwitchValue zero;
  zero.allow = 0.0;
  ASSERT_TRUE(registry.SetOverride("m.zero", zero).ok());
  EXPECT_EQ(Render(registry).Value("degrade_switch_enabled", {{"switch", "m.zero"}}), 0);
}

TEST(MetricsTest, LayerLabelNamesTheDecidingLayer) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.a", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.b", .description = "x"}).ok());
  ASSERT_TRUE(registry.SetOverride("m.b", Off()).ok());
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_switch_layer", {{"switch", "m.a"}, {"layer", "default"}}), 1);
  EXPECT_EQ(e.Value("degrade_switch_layer", {{"switch", "m.b"}, {"layer", "admin"}}), 1);
  EXPECT_EQ(e.Count("degrade_switch_layer"), 2u) << "one series per switch";
}

TEST(MetricsTest, TierIsExportedForEverySwitch) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.a", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.b", .description = "x", .tier = 6}).ok());
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_switch_tier", {{"switch", "m.a"}}), 0);
  EXPECT_EQ(e.Value("degrade_switch_tier", {{"switch", "m.b"}}), 6);
  EXPECT_EQ(e.type.at("degrade_switch_tier"), "gauge");
}

TEST(MetricsTest, FaultRateIsExportedOnlyWhileAFaultIsSet) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.drill", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.calm", .description = "x"}).ok());
  SwitchValue drill;
  drill.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.5, .delay_ms = 200};
  ASSERT_TRUE(registry.SetOverride("m.drill", drill).ok());
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_switch_fault_rate", {{"switch", "m.drill"}, {"kind", "delay"}}), 0.5);
  EXPECT_EQ(e.Count("degrade_switch_fault_rate"), 1u);
}

TEST(MetricsTest, CallsByOutcomeMatchWhatCallDid) {
  Registry registry(QuietOptions());
  Switch* sw = *registry.Define({.name = "m.calls", .description = "x"});
  const auto ok = [] { return absl::StatusOr<int>(1); };
  const auto failing = [] { return absl::StatusOr<int>(absl::InternalError("down")); };
  const auto fallback = [] { return 0; };
  for (int i = 0; i < 3; ++i) Call(*sw, ok, fallback);
  for (int i = 0; i < 2; ++i) Call(*sw, failing, fallback);
  ASSERT_TRUE(registry.SetOverride("m.calls", Off()).ok());
  for (int i = 0; i < 4; ++i) Call(*sw, ok, fallback);
  SwitchValue fault;
  fault.state = State::kOn;
  fault.fault = Fault{.kind = Fault::Kind::kError, .rate = 1.0};
  ASSERT_TRUE(registry.SetOverride("m.calls", fault).ok());
  for (int i = 0; i < 5; ++i) Call(*sw, ok, fallback);

  const Exposition e = Render(registry);
  const auto calls = [&](const char* outcome) {
    return e.Value("degrade_calls_total", {{"switch", "m.calls"}, {"outcome", outcome}});
  };
  EXPECT_EQ(calls("ok"), 3);
  EXPECT_EQ(calls("failed"), 2);
  EXPECT_EQ(calls("skipped"), 4);
  EXPECT_EQ(calls("fault"), 5);
  EXPECT_EQ(e.Value("degrade_injected_faults_total", {{"switch", "m.calls"}}), 5);
  EXPECT_EQ(e.Value("degrade_fallbacks_total", {{"switch", "m.calls"}}), 2 + 4 + 5);
}

TEST(MetricsTest, BreakerOpenWhileTheBreakerLayerDecides) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.tripped", .description = "x"}).ok());
  ASSERT_TRUE(registry.Define({.name = "m.fine", .description = "x"}).ok());
  Snapshot breaker;
  breaker.switches["m.tripped"] = Off();
  ASSERT_TRUE(registry.ApplySnapshot(Layer::kBreaker, breaker, "breaker").ok());
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.tripped"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.fine"}}), 0);
}

TEST(MetricsTest, ATrippedBreakerIsOpenInEveryBreakerMetric) {
  Registry registry(QuietOptions());
  Switch* sw = *registry.Define(
      {.name = "m.flaky",
       .description = "x",
       .breaker = BreakerPolicy{.window = BreakerPolicy::Window::kCount,
                                .window_size = 10,
                                .min_calls = 5,
                                .failure_ratio = 0.5,
                                .open_s = 600}});
  ASSERT_TRUE(registry.Define({.name = "m.plain", .description = "x"}).ok());
  Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_breaker_state", {{"switch", "m.flaky"}, {"state", "closed"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.flaky"}}), 0);
  EXPECT_EQ(e.Count("degrade_breaker_state"), 1u) << "only switches with a policy";

  for (int i = 0; i < 10; ++i) {
    Call(*sw, [] { return absl::StatusOr<int>(absl::UnavailableError("down")); }, [] { return 0; });
  }
  registry.ProcessBreakers();
  e = Render(registry);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.flaky"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_state", {{"switch", "m.flaky"}, {"state", "open"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_opened_total", {{"switch", "m.flaky"}}), 1);
  EXPECT_EQ(e.Value("degrade_switch_layer", {{"switch", "m.flaky"}, {"layer", "breaker"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.plain"}}), 0);
}

TEST(MetricsTest, AnAdminOnOverrideDoesNotHideAnOpenBreaker) {
  Registry registry(QuietOptions());
  Switch* sw = *registry.Define(
      {.name = "m.flaky",
       .description = "x",
       .breaker = BreakerPolicy{.window = BreakerPolicy::Window::kCount,
                                .window_size = 10,
                                .min_calls = 5,
                                .open_s = 600}});
  for (int i = 0; i < 10; ++i) {
    Call(*sw, [] { return absl::StatusOr<int>(absl::UnavailableError("down")); }, [] { return 0; });
  }
  registry.ProcessBreakers();
  SwitchValue on;
  on.state = State::kOn;
  ASSERT_TRUE(registry.SetOverride("m.flaky", on).ok());
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_switch_enabled", {{"switch", "m.flaky"}}), 1);
  EXPECT_EQ(e.Value("degrade_breaker_open", {{"switch", "m.flaky"}}), 1);
}

TEST(MetricsTest, AdminOverrideAboveABreakerLayerEntryClosesTheGauge) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.x", .description = "x"}).ok());
  Snapshot breaker;
  breaker.switches["m.x"] = Off();
  ASSERT_TRUE(registry.ApplySnapshot(Layer::kBreaker, breaker, "breaker").ok());
  SwitchValue on;
  on.state = State::kOn;
  ASSERT_TRUE(registry.SetOverride("m.x", on).ok());
  EXPECT_EQ(Render(registry).Value("degrade_breaker_open", {{"switch", "m.x"}}), 0);
}

TEST(MetricsTest, NamesNotDefinedHereAreLeftOut) {
  Registry registry(QuietOptions());
  ASSERT_TRUE(registry.Define({.name = "m.here", .description = "x"}).ok());
  Snapshot file;
  file.switches["m.elsewhere"] = Off();
  ASSERT_TRUE(registry.ApplySnapshot(Layer::kFile, file, "file test").ok());
  const Exposition e = Render(registry);
  for (const ParsedSample& s : e.samples) {
    EXPECT_NE(s.labels.count("switch") ? s.labels.at("switch") : "", "m.elsewhere");
  }
  EXPECT_EQ(e.Count("degrade_switch_enabled"), 1u);
}

TEST(MetricsTest, SourceHealthIsExported) {
  Registry registry(QuietOptions());
  SourceHealth h;
  h.name = "remote";
  h.target = "http://config.internal/degrade.json";
  h.healthy = false;
  h.last_success = absl::FromUnixMillis(1700000000123);
  h.consecutive_failures = 3;
  h.applied = 7;
  registry.ReportSourceHealth(h);
  const Exposition e = Render(registry);
  const std::map<std::string, std::string> labels = {{"source", "remote"}, {"target", h.target}};
  EXPECT_EQ(e.Value("degrade_source_healthy", labels), 0);
  EXPECT_DOUBLE_EQ(e.Value("degrade_source_last_success_timestamp_seconds", labels),
                   1700000000.123);
  EXPECT_EQ(e.Value("degrade_source_consecutive_failures", labels), 3);
  EXPECT_EQ(e.Value("degrade_source_applied_total", labels), 7);
}

TEST(MetricsTest, NeverSucceededSourceHasZeroTimestamp) {
  Registry registry(QuietOptions());
  SourceHealth h;
  h.name = "file";
  h.target = "/etc/x.json";
  h.healthy = false;
  registry.ReportSourceHealth(h);
  EXPECT_EQ(Render(registry).Value("degrade_source_last_success_timestamp_seconds",
                                   {{"source", "file"}, {"target", "/etc/x.json"}}),
            0);
}

TEST(MetricsTest, LabelValuesRoundTripThroughEscaping) {
  Registry registry(QuietOptions());
  const std::string target = "C:\\dir\\\"quoted\"\nsecond line";
  SourceHealth h;
  h.name = "file";
  h.target = target;
  registry.ReportSourceHealth(h);
  const std::string text = PrometheusText(registry);
  EXPECT_NE(text.find(R"(target="C:\\dir\\\"quoted\"\nsecond line")"), std::string::npos) << text;
  const Exposition e = Render(registry);
  EXPECT_EQ(e.Value("degrade_source_healthy", {{"source", "file"}, {"target", target}}), 1);
}

TEST(MetricsTest, EscapeLabelValueEscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("one\ntwo"), "one\\ntwo");
  EXPECT_EQ(EscapeLabelValue("caf\xC3\xA9"), "caf\xC3\xA9") << "valid UTF-8 kept";
}

TEST(MetricsTest, InvalidUtf8InLabelsBecomesReplacementCharacter) {
  EXPECT_EQ(EscapeLabelValue("bad\xFF" "byte"), "bad\xEF\xBF\xBD" "byte");
  EXPECT_EQ(EscapeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong form";
}

TEST(MetricsTest, ValuesAreWrittenPlainly) {
  MetricFamily f{"x_total", "help", MetricType::kCounter,
                 {{{}, 1234567.0}, {{{"k", "v"}}, 0.25}, {{{"k", "w"}}, 1e20}}};
  const std::string text = RenderPrometheusText({f});
  EXPECT_NE(text.find("x_total 1234567\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total{k=\"v\"} 0.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total{k=\"w\"} 1e+20\n"), std::string::npos) << text;
}

TEST(MetricsTest, HelpTextIsEscaped) {
  MetricFamily f{"x", "back\\slash\nnewline", MetricType::kGauge, {}};
  EXPECT_EQ(RenderPrometheusText({f}), "# HELP x back\\\\slash\\nnewline\n# TYPE x gauge\n");
}

// The parser itself must reject what a scraper rejects, or the tests above
// prove little.
TEST(MetricsTest, ParserRejectsMalformedExpositions) {
  const char* bad[] = {
      "# TYPE x gauge\nx 1",                                   // no final newline
      "x 1\n",                                                 // no TYPE
      "# HELP x h\n# TYPE x gauge\nx{a=\"1} 1\n",              // unterminated
      "# HELP x h\n# TYPE x gauge\nx{a=\"\\t\"} 1\n",          // bad escape
      "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",                // duplicate series
      "# HELP x h\n# TYPE x gauge\nx one\n",                   // bad value
      "# HELP x h\n# TYPE x gauge\n# HELP y h\n# TYPE y gauge\nx{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n",
      "# HELP x_total h\n# TYPE x_total counter\nx_total -1\n",  // negative counter
      "# HELP x h\n# TYPE x gauge\nx{9a=\"1\"} 1\n",           // bad label name
  };
  for (const char* text : bad) EXPECT_FALSE(ParseExposition(text).ok()) << text;
  EXPECT_TRUE(ParseExposition("# HELP x h\n# TYPE x gauge\nx{a=\"\\\"\"} 1\n").ok());
}

}  // namespace
}  // namespace degrade::internal
