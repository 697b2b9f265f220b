// Drill figures and reports (see drill_report.h).
#include "drill_report.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace degrade::ctl {
namespace {

using nlohmann::json;

json OptNum(std::optional<double> v) { return v ? json(*v) : json(nullptr); }

// Milliseconds rounded to 0.1 for the JSON: sub-0.1 ms digits are noise.
double Round1(double v) { return std::round(v * 10.0) / 10.0; }
json OptMs(std::optional<double> v) { return v ? json(Round1(*v)) : json(nullptr); }

json WindowJson(const WindowStats& w) {
  return {{"probes", w.probes},
          {"ok", w.ok},
          {"success_ratio", OptNum(w.success_ratio)},
          {"latency_ms",
           {{"p50", OptMs(w.p50_ms)},
            {"p90", OptMs(w.p90_ms)},
            {"p99", OptMs(w.p99_ms)},
            {"max", OptMs(w.max_ms)}}}};
}

std::string Ratio(std::optional<double> r) {
  if (!r) return "-";
  return absl::StrFormat("%.1f%%", *r * 100.0);
}

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

bool IsOff(const StateSample& s) { return s.ok && (s.state == "off" || s.breaker == "open"); }

}  // namespace

absl::StatusOr<StateSample> StateSampleFromJson(const json& sw, double t_ms) {
  StateSample s;
  s.t_ms = t_ms;
  const auto bad = [](std::string_view what) {
    return absl::DataLossError(absl::StrCat("the switch listing has no valid ",
                                            std::string(what),
                                            ": is --admin a degrade admin endpoint?"));
  };
  if (!sw.is_object()) return bad("switch object");
  auto str = [&](const char* key, std::string* out) {
    auto it = sw.find(key);
    if (it == sw.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  if (!str("state", &s.state)) return bad("\"state\"");
  if (!str("layer", &s.layer)) return bad("\"layer\"");
  if (auto it = sw.find("allow"); it != sw.end() && it->is_number()) s.allow = it->get<double>();
  if (auto it = sw.find("fault"); it != sw.end()) s.fault = it->is_object();
  if (auto it = sw.find("breaker"); it != sw.end() && it->is_object()) {
    auto st = it->find("state");
    if (st == it->end() || !st->is_string()) return bad("\"breaker.state\"");
    s.breaker = st->get<std::string>();
  }
  auto c = sw.find("counters");
  if (c == sw.end() || !c->is_object()) return bad("\"counters\"");
  struct {
    const char* key;
    uint64_t* out;
  } fields[] = {{"calls", &s.calls},
                {"primary_ok", &s.primary_ok},
                {"primary_failures", &s.primary_failures},
                {"injected_faults", &s.injected_faults},
                {"skipped", &s.skipped},
                {"fallbacks", &s.fallbacks}};
  for (const auto& f : fields) {
    auto it = c->find(f.key);
    if (it == c->end() || !it->is_number_unsigned()) {
      return bad(absl::StrCat("\"counters.", f.key, "\""));
    }
    *f.out = it->get<uint64_t>();
  }
  s.ok = true;
  return s;
}

std::optional<double> Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of values at or below.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

WindowStats ComputeWindow(const std::vector<ProbeSample>& probes, double from_ms, double to_ms) {
  WindowStats w;
  std::vector<double> latencies;
  for (const ProbeSample& p : probes) {
    if (p.t_ms < from_ms || p.t_ms >= to_ms) continue;
    ++w.probes;
    if (p.ok) ++w.ok;
    latencies.push_back(p.latency_ms);
  }
  if (w.probes == 0) return w;
  w.success_ratio = static_cast<double>(w.ok) / w.probes;
  w.p50_ms = Percentile(latencies, 50);
  w.p90_ms = Percentile(latencies, 90);
  w.p99_ms = Percentile(latencies, 99);
  w.max_ms = Percentile(latencies, 100);
  return w;
}

std::optional<size_t> RecoverySample(const std::vector<StateSample>& states, double fault_off_ms) {
  std::optional<uint64_t> start_ok;  // primary successes at the first sample after the fault
  for (size_t i = 0; i < states.size(); ++i) {
    const StateSample& s = states[i];
    if (s.t_ms < fault_off_ms || !s.ok) continue;
    if (!start_ok) {
      start_ok = s.primary_ok;
      continue;
    }
    const bool breaker_closed = s.breaker.empty() || s.breaker == "closed";
    if (s.state == "on" && !s.fault && breaker_closed && s.primary_ok > *start_ok) return i;
  }
  return std::nullopt;
}

DrillFigures ComputeFigures(const DrillTimeline& tl) {
  DrillFigures f;
  const double inf = std::numeric_limits<double>::infinity();
  const double on = tl.fault_on_ms.value_or(inf);
  const double off = tl.fault_off_ms.value_or(tl.fault_on_ms ? tl.end_ms : inf);

  // Detection and the time spent off.
  double prev_t = 0;
  bool have_prev = false;
  for (size_t i = 0; i < tl.states.size(); ++i) {
    const StateSample& s = tl.states[i];
    if (s.ok) {
      ++f.state_samples;
    } else {
      ++f.state_errors;
    }
    if (IsOff(s) && s.breaker == "open") f.breaker_opened = true;
    // Off time: each sample's state held until the next sample.
    if (IsOff(s) && i + 1 < tl.states.size()) f.off_ms += tl.states[i + 1].t_ms - s.t_ms;
    if (!f.detect_ms && s.t_ms >= on && IsOff(s)) {
      f.detect_ms = s.t_ms - on;
      f.detect_resolution_ms = s.t_ms - (have_prev ? std::max(prev_t, on) : on);
      f.detected_by = s.breaker == "open" ? "breaker" : s.layer;
    }
    if (s.ok) {
      prev_t = s.t_ms;
      have_prev = true;
    }
  }

  // Recovery.
  if (tl.fault_off_ms) {
    if (std::optional<size_t> i = RecoverySample(tl.states, *tl.fault_off_ms)) {
      f.recover_ms = tl.states[*i].t_ms - *tl.fault_off_ms;
      double before = *tl.fault_off_ms;
      for (size_t j = *i; j-- > 0;) {
        if (tl.states[j].ok) {
          before = std::max(before, tl.states[j].t_ms);
          break;
        }
      }
      f.recover_resolution_ms = tl.states[*i].t_ms - before;
    }
  }

  // Probe windows.
  f.baseline = ComputeWindow(tl.probes, -inf, on);
  if (tl.fault_on_ms) {
    f.fault = ComputeWindow(tl.probes, on, off);
    const double detected = f.detect_ms ? on + *f.detect_ms : off;
    f.fault_before_detect = ComputeWindow(tl.probes, on, std::min(detected, off));
    f.fault_after_detect = ComputeWindow(tl.probes, std::min(detected, off), off);
    f.after = ComputeWindow(tl.probes, off, inf);
  }
  return f;
}

std::string FormatMs(std::optional<double> ms) {
  if (!ms) return "-";
  if (std::fabs(*ms) >= 1000.0) return absl::StrFormat("%.2f s", *ms / 1000.0);
  return absl::StrFormat("%.0f ms", *ms);
}

std::vector<ObjectiveResult> CheckObjectives(const DrillFigures& f, const Objectives& o) {
  std::vector<ObjectiveResult> out;
  if (o.detect_under_ms) {
    out.push_back({"detect", "under " + FormatMs(o.detect_under_ms),
                   f.detect_ms ? FormatMs(f.detect_ms) : "not detected",
                   f.detect_ms && *f.detect_ms < *o.detect_under_ms});
  }
  if (o.success_over) {
    const std::optional<double> r = f.fault.success_ratio;
    out.push_back({"success", absl::StrFormat("over %.4g%%", *o.success_over * 100.0),
                   r ? Ratio(r) + absl::StrFormat(" (%d of %d probes)", f.fault.ok, f.fault.probes)
                     : "no probes during the fault",
                   r && *r > *o.success_over});
  }
  if (o.recover_under_ms) {
    out.push_back({"recover", "under " + FormatMs(o.recover_under_ms),
                   f.recover_ms ? FormatMs(f.recover_ms) : "not recovered",
                   f.recover_ms && *f.recover_ms < *o.recover_under_ms});
  }
  return out;
}

json ReportJson(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                const std::vector<ObjectiveResult>& objectives) {
  json settings = {{"admin", s.admin_url},
                   {"switch", s.switch_name},
                   {"fault", {{"kind", s.fault_kind}, {"rate", s.rate}, {"delay_ms", s.delay_ms}}},
                   {"probe", s.probe_url},
                   {"baseline_ms", s.baseline_ms},
                   {"duration_ms", s.duration_ms},
                   {"interval_ms", s.interval_ms},
                   {"probe_timeout_ms", s.probe_timeout_ms},
                   {"recover_timeout_ms", s.recover_timeout_ms},
                   {"fault_ttl_s", s.fault_ttl_s},
                   {"reason", s.reason},
                   {"actor", s.actor}};
  json figures = {
      {"detect_ms", OptMs(f.detect_ms)},
      {"detect_resolution_ms", OptMs(f.detect_resolution_ms)},
      {"detected_by", f.detected_by.empty() ? json(nullptr) : json(f.detected_by)},
      {"recover_ms", OptMs(f.recover_ms)},
      {"recover_resolution_ms", OptMs(f.recover_resolution_ms)},
      {"breaker_opened", f.breaker_opened},
      {"off_ms", Round1(f.off_ms)},
      {"state_samples", f.state_samples},
      {"state_errors", f.state_errors},
      {"baseline", WindowJson(f.baseline)},
      {"fault", WindowJson(f.fault)},
      {"fault_before_detect", WindowJson(f.fault_before_detect)},
      {"fault_after_detect", WindowJson(f.fault_after_detect)},
      {"after", WindowJson(f.after)},
  };
  json objs = json::array();
  bool all_met = true;
  for (const ObjectiveResult& o : objectives) {
    objs.push_back(
        {{"name", o.name}, {"expected", o.expected}, {"actual", o.actual}, {"met", o.met}});
    all_met = all_met && o.met;
  }
  json probes = json::array();
  for (const ProbeSample& p : tl.probes) {
    json j = {{"t_ms", Round1(p.t_ms)},
              {"latency_ms", Round1(p.latency_ms)},
              {"ok", p.ok},
              {"status", p.status}};
    if (!p.error.empty()) j["error"] = p.error;
    probes.push_back(std::move(j));
  }
  json states = json::array();
  for (const StateSample& st : tl.states) {
    if (!st.ok) {
      states.push_back({{"t_ms", Round1(st.t_ms)}, {"ok", false}, {"error", st.error}});
      continue;
    }
    states.push_back({{"t_ms", Round1(st.t_ms)},
                      {"ok", true},
                      {"state", st.state},
                      {"allow", st.allow},
                      {"layer", st.layer},
                      {"breaker", st.breaker.empty() ? json(nullptr) : json(st.breaker)},
                      {"fault", st.fault},
                      {"counters",
                       {{"calls", st.calls},
                        {"primary_ok", st.primary_ok},
                        {"primary_failures", st.primary_failures},
                        {"injected_faults", st.injected_faults},
                        {"skipped", st.skipped},
                        {"fallbacks", st.fallbacks}}}});
  }
  return {{"format", "degrade-drill/1"},
          {"started_at", tl.started_at},
          {"settings", settings},
          {"fault_on_ms", OptMs(tl.fault_on_ms)},
          {"fault_off_ms", OptMs(tl.fault_off_ms)},
          {"end_ms", Round1(tl.end_ms)},
          {"interrupted", tl.interrupted},
          {"error", tl.error.empty() ? json(nullptr) : json(tl.error)},
          {"figures", figures},
          {"objectives", objs},
          {"objectives_met", all_met},
          {"timeline", {{"probes", probes}, {"states", states}}}};
}

std::string ReportSummary(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                          const std::vector<ObjectiveResult>& objectives) {
  std::string out = absl::StrCat("drill of ", s.switch_name, " (", s.fault_kind);
  if (s.fault_kind == "delay") absl::StrAppend(&out, " ", s.delay_ms, " ms");
  absl::StrAppend(&out, absl::StrFormat(" at %.4g%%", s.rate * 100.0), ")");
  if (tl.interrupted) absl::StrAppend(&out, ": INTERRUPTED");
  if (!tl.error.empty()) absl::StrAppend(&out, ": ENDED EARLY (", tl.error, ")");
  absl::StrAppend(&out, "\n");
  const auto window = [](const WindowStats& w) {
    if (w.probes == 0) return std::string("no probes");
    return absl::StrCat(Ratio(w.success_ratio), " ok of ", w.probes, ", p50 ", FormatMs(w.p50_ms),
                        ", p99 ", FormatMs(w.p99_ms));
  };
  absl::StrAppend(&out, "  baseline          ", window(f.baseline), "\n");
  absl::StrAppend(&out, "  time to detect    ",
                  f.detect_ms ? absl::StrCat(FormatMs(f.detect_ms), " (", f.detected_by,
                                             ", +/- ", FormatMs(f.detect_resolution_ms), ")")
                              : std::string("not detected"),
                  "\n");
  absl::StrAppend(&out, "  during the fault  ", window(f.fault), "\n");
  if (f.detect_ms) {
    absl::StrAppend(&out, "    before detect   ", window(f.fault_before_detect), "\n");
    absl::StrAppend(&out, "    after detect    ", window(f.fault_after_detect), "\n");
  }
  absl::StrAppend(&out, "  time to recover   ",
                  f.recover_ms ? absl::StrCat(FormatMs(f.recover_ms), " (+/- ",
                                              FormatMs(f.recover_resolution_ms), ")")
                  : tl.fault_off_ms ? std::string("not recovered")
                                    : std::string("- (the fault was not cleared by the drill)"),
                  "\n");
  absl::StrAppend(&out, "  after the fault   ", window(f.after), "\n");
  for (const ObjectiveResult& o : objectives) {
    absl::StrAppend(&out, "  objective ", o.name, ": ", o.expected, ", got ", o.actual, ": ",
                    o.met ? "met" : "MISSED", "\n");
  }
  return out;
}

// ------------------------------------------------------------------ the page

namespace {

constexpr double kPlotLeft = 110;  // room for lane labels
constexpr double kPlotWidth = 840;
constexpr double kWidth = kPlotLeft + kPlotWidth + 20;

struct Scale {
  double t0, t1;
  double X(double t) const { return kPlotLeft + (t - t0) / (t1 - t0) * kPlotWidth; }
};

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

// Colored segments of a state over time: each sample's value holds until the
// next sample; runs of the same value are one segment, labelled where it is
// wide enough for its text.
template <typename ColorOf>
std::string Band(const std::vector<StateSample>& states, const Scale& sc, double y, double h,
                 double end_ms, ColorOf color_of) {
  std::string out;
  size_t i = 0;
  while (i < states.size()) {
    const auto [color, label] = color_of(states[i]);
    size_t j = i + 1;
    while (j < states.size() && color_of(states[j]) == std::make_pair(color, label)) ++j;
    const double a = states[i].t_ms;
    const double b = j < states.size() ? states[j].t_ms : end_ms;
    i = j;
    if (b <= a) continue;
    const double x = sc.X(a), w = std::max(0.5, sc.X(b) - sc.X(a));
    absl::StrAppend(&out, "<rect x=\"", Num(x), "\" y=\"", Num(y), "\" width=\"", Num(w),
                    "\" height=\"", Num(h), "\" fill=\"", color, "\"><title>", Escape(label),
                    "</title></rect>");
    if (w >= 6.5 * static_cast<double>(label.size()) + 6) {
      absl::StrAppend(&out, "<text x=\"", Num(x + 3), "\" y=\"", Num(y + h / 2 + 4),
                      "\" font-size=\"11\">", Escape(label), "</text>");
    }
  }
  return out;
}

std::string Svg(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f) {
  const Scale sc{0, std::max(tl.end_ms, 1.0)};
  // Lanes, top to bottom.
  const double lat_y = 30, lat_h = 160;
  const double ok_y = lat_y + lat_h + 30, ok_h = 60;
  const double sw_y = ok_y + ok_h + 30, sw_h = 24;
  const double br_y = sw_y + sw_h + 16, br_h = 24;
  const double axis_y = br_y + br_h + 10;
  const double height = axis_y + 40;

  double max_lat = s.probe_timeout_ms > 0 ? 0 : 1;
  for (const ProbeSample& p : tl.probes) max_lat = std::max(max_lat, p.latency_ms);
  max_lat = std::max(max_lat * 1.1, 10.0);
  const auto lat_y_of = [&](double ms) { return lat_y + lat_h - ms / max_lat * lat_h; };

  std::string svg = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ", Num(kWidth), " ", Num(height),
      "\" width=\"", Num(kWidth), "\" height=\"", Num(height),
      "\" role=\"img\" aria-label=\"drill timeline\" font-family=\"sans-serif\" "
      "font-size=\"12\">");

  // The fault window, behind everything.
  if (tl.fault_on_ms) {
    const double a = *tl.fault_on_ms, b = tl.fault_off_ms.value_or(tl.end_ms);
    absl::StrAppend(&svg, "<rect class=\"fault\" x=\"", Num(sc.X(a)), "\" y=\"", Num(lat_y - 14),
                    "\" width=\"", Num(std::max(1.0, sc.X(b) - sc.X(a))), "\" height=\"",
                    Num(axis_y - lat_y + 14), "\" fill=\"#fde2e1\"/>");
    absl::StrAppend(&svg, "<text x=\"", Num(sc.X(a) + 4), "\" y=\"", Num(lat_y - 3),
                    "\" fill=\"#b42318\">fault: ", Escape(s.fault_kind),
                    s.fault_kind == "delay" ? absl::StrCat(" ", s.delay_ms, " ms") : "",
                    absl::StrFormat(" at %.4g%%", s.rate * 100.0), "</text>");
  }

  // Lane labels and frames.
  const auto label = [&](double y, std::string_view text) {
    absl::StrAppend(&svg, "<text x=\"", Num(kPlotLeft - 8), "\" y=\"", Num(y),
                    "\" text-anchor=\"end\">", Escape(text), "</text>");
  };
  label(lat_y + 12, "probe latency");
  label(lat_y + lat_h, "0 ms");
  label(lat_y + 8 + 16, FormatMs(max_lat));
  label(ok_y + 12, "probe success");
  label(ok_y + ok_h, "0%");
  label(ok_y + 26, "100%");
  label(sw_y + 16, "switch");
  label(br_y + 16, "breaker");
  absl::StrAppend(&svg, "<rect x=\"", Num(kPlotLeft), "\" y=\"", Num(lat_y), "\" width=\"",
                  Num(kPlotWidth), "\" height=\"", Num(lat_h),
                  "\" fill=\"none\" stroke=\"#ccc\"/>");
  absl::StrAppend(&svg, "<rect x=\"", Num(kPlotLeft), "\" y=\"", Num(ok_y), "\" width=\"",
                  Num(kPlotWidth), "\" height=\"", Num(ok_h),
                  "\" fill=\"none\" stroke=\"#ccc\"/>");

  // Probe latency: one dot per probe, green ok, red failed.
  for (const ProbeSample& p : tl.probes) {
    absl::StrAppend(&svg, "<circle cx=\"", Num(sc.X(p.t_ms)), "\" cy=\"",
                    Num(lat_y_of(p.latency_ms)), "\" r=\"2.2\" fill=\"",
                    p.ok ? "#12b76a" : "#d92d20", "\"><title>",
                    Escape(absl::StrCat(FormatMs(p.t_ms), ": ", FormatMs(p.latency_ms), " ",
                                        p.ok ? "ok" : "failed", p.status ? " " : "",
                                        p.status ? absl::StrCat(p.status) : "",
                                        p.error.empty() ? "" : " " + p.error)),
                    "</title></circle>");
  }

  // Probe success: the ratio per bucket of about 1/60 of the drill (>= 250 ms).
  const double bucket = std::max(250.0, sc.t1 / 60.0);
  std::string points;
  for (double a = 0; a < sc.t1; a += bucket) {
    int n = 0, ok = 0;
    for (const ProbeSample& p : tl.probes) {
      if (p.t_ms >= a && p.t_ms < a + bucket) {
        ++n;
        ok += p.ok ? 1 : 0;
      }
    }
    if (n == 0) continue;
    const double r = static_cast<double>(ok) / n;
    absl::StrAppend(&points, Num(sc.X(std::min(a + bucket / 2, sc.t1))), ",",
                    Num(ok_y + ok_h - r * (ok_h - 10)), " ");
  }
  if (!points.empty()) {
    absl::StrAppend(&svg, "<polyline points=\"", points,
                    "\" fill=\"none\" stroke=\"#175cd3\" stroke-width=\"2\"/>");
  }

  // Switch state and deciding layer; breaker state.
  svg += Band(tl.states, sc, sw_y, sw_h, tl.end_ms, [](const StateSample& st) {
    if (!st.ok) return std::pair<std::string, std::string>("#d0d5dd", "no answer: " + st.error);
    std::string text = absl::StrCat(st.state, " (", st.layer, ")");
    if (st.fault) text += " +fault";
    return std::pair<std::string, std::string>(st.state == "off" ? "#f79009" : "#32d583", text);
  });
  svg += Band(tl.states, sc, br_y, br_h, tl.end_ms, [](const StateSample& st) {
    if (!st.ok) return std::pair<std::string, std::string>("#d0d5dd", "no answer");
    if (st.breaker.empty()) return std::pair<std::string, std::string>("#f2f4f7", "none");
    const char* color = st.breaker == "open"        ? "#d92d20"
                        : st.breaker == "half_open" ? "#fdb022"
                                                    : "#32d583";
    return std::pair<std::string, std::string>(color, st.breaker);
  });
  // Markers: detected, recovered.
  const auto marker = [&](double t, const char* color, std::string_view text) {
    absl::StrAppend(&svg, "<line x1=\"", Num(sc.X(t)), "\" x2=\"", Num(sc.X(t)), "\" y1=\"",
                    Num(lat_y), "\" y2=\"", Num(axis_y), "\" stroke=\"", color,
                    "\" stroke-dasharray=\"4 3\" stroke-width=\"1.5\"/>");
    const bool left = sc.X(t) > kPlotLeft + kPlotWidth - 140;  // no room on the right
    absl::StrAppend(&svg, "<text x=\"", Num(sc.X(t) + (left ? -3 : 3)), "\" y=\"", Num(ok_y - 6),
                    "\" fill=\"", color, "\" text-anchor=\"", left ? "end" : "start", "\">",
                    Escape(text), "</text>");
  };
  if (f.detect_ms && tl.fault_on_ms) {
    marker(*tl.fault_on_ms + *f.detect_ms, "#6941c6",
           absl::StrCat("detected +", FormatMs(f.detect_ms)));
  }
  if (f.recover_ms && tl.fault_off_ms) {
    marker(*tl.fault_off_ms + *f.recover_ms, "#027a48",
           absl::StrCat("recovered +", FormatMs(f.recover_ms)));
  }

  // Time axis: about 10 ticks at a round step.
  const double steps[] = {100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000,
                          300000, 600000, 1800000, 3600000};
  double step = steps[std::size(steps) - 1];
  for (double st : steps) {
    if (sc.t1 / st <= 12) {
      step = st;
      break;
    }
  }
  absl::StrAppend(&svg, "<line x1=\"", Num(kPlotLeft), "\" x2=\"", Num(kPlotLeft + kPlotWidth),
                  "\" y1=\"", Num(axis_y), "\" y2=\"", Num(axis_y), "\" stroke=\"#667085\"/>");
  for (double t = 0; t <= sc.t1; t += step) {
    absl::StrAppend(&svg, "<line x1=\"", Num(sc.X(t)), "\" x2=\"", Num(sc.X(t)), "\" y1=\"",
                    Num(axis_y), "\" y2=\"", Num(axis_y + 5), "\" stroke=\"#667085\"/>",
                    "<text x=\"", Num(sc.X(t)), "\" y=\"", Num(axis_y + 18),
                    "\" text-anchor=\"middle\">", FormatMs(t), "</text>");
  }
  absl::StrAppend(&svg, "<text x=\"", Num(kPlotLeft + kPlotWidth), "\" y=\"", Num(axis_y + 34),
                  "\" text-anchor=\"end\" fill=\"#667085\">time since the drill started</text>");
  svg += "</svg>";
  return svg;
}

std::string WindowRow(std::string_view name, const WindowStats& w) {
  return absl::StrCat("<tr><th>", Escape(name), "</th><td>", w.probes, "</td><td>",
                      Ratio(w.success_ratio), "</td><td>", FormatMs(w.p50_ms), "</td><td>",
                      FormatMs(w.p90_ms), "</td><td>", FormatMs(w.p99_ms), "</td><td>",
                      FormatMs(w.max_ms), "</td></tr>");
}

}  // namespace

std::string ReportHtml(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                       const std::vector<ObjectiveResult>& objectives) {
  std::string fault = s.fault_kind;
  if (s.fault_kind == "delay") absl::StrAppend(&fault, " ", s.delay_ms, " ms");
  absl::StrAppend(&fault, absl::StrFormat(" at %.4g%%", s.rate * 100.0));
  bool all_met = true;
  for (const ObjectiveResult& o : objectives) all_met = all_met && o.met;

  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Drill: ",
      Escape(s.switch_name), " ", Escape(fault),
      "</title><style>"
      "body{font-family:sans-serif;margin:24px;color:#101828;max-width:1000px}"
      "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px}"
      ".sub{color:#475467;margin:0 0 16px}"
      ".cards{display:flex;gap:12px;flex-wrap:wrap}"
      ".card{border:1px solid #d0d5dd;border-radius:8px;padding:10px 14px;min-width:170px}"
      ".card .v{font-size:24px;font-weight:bold}.card .l{color:#475467;font-size:13px}"
      "table{border-collapse:collapse;font-size:13px}"
      "td,th{border:1px solid #eaecf0;padding:4px 8px;text-align:right}"
      "th{text-align:left;background:#f9fafb}"
      ".met{color:#027a48;font-weight:bold}.missed{color:#b42318;font-weight:bold}"
      ".warn{background:#fef0c7;border:1px solid #fdb022;padding:8px;border-radius:6px}"
      ".legend span{display:inline-block;margin-right:14px}"
      ".sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}"
      "</style></head><body>\n",
      "<h1>Fire drill: ", Escape(s.switch_name), " &mdash; ", Escape(fault), "</h1>\n",
      "<p class=\"sub\">started ", Escape(tl.started_at), " &middot; probe ",
      Escape(s.probe_url), " &middot; admin ", Escape(s.admin_url), " &middot; by ",
      Escape(s.actor), "</p>\n");
  if (tl.interrupted) {
    html += "<p class=\"warn\">The drill was interrupted (SIGINT/SIGTERM); the fault was "
            "cleared and the figures cover what was recorded.</p>\n";
  }
  if (!tl.error.empty()) {
    absl::StrAppend(&html, "<p class=\"warn\">The drill ended early: ", Escape(tl.error),
                    "</p>\n");
  }
  const auto card = [&](std::string_view value, std::string_view label) {
    absl::StrAppend(&html, "<div class=\"card\"><div class=\"v\">", Escape(value),
                    "</div><div class=\"l\">", Escape(label), "</div></div>");
  };
  html += "<div class=\"cards\">";
  card(f.detect_ms ? FormatMs(f.detect_ms) : "not detected",
       f.detect_ms ? absl::StrCat("time to detect (", f.detected_by, ", +/- ",
                                  FormatMs(f.detect_resolution_ms), ")")
                   : "time to detect");
  card(Ratio(f.fault.success_ratio), "essential path ok during the fault");
  card(FormatMs(f.fault.p99_ms), "p99 latency during the fault");
  card(f.recover_ms ? FormatMs(f.recover_ms) : "not recovered",
       f.recover_ms ? absl::StrCat("time to recover (+/- ", FormatMs(f.recover_resolution_ms), ")")
                    : "time to recover");
  card(Ratio(f.baseline.success_ratio), "ok in the baseline");
  html += "</div>\n";

  if (!objectives.empty()) {
    absl::StrAppend(&html, "<h2>Objectives: <span class=\"", all_met ? "met" : "missed", "\">",
                    all_met ? "all met" : "missed", "</span></h2>\n<table><tr><th>objective</th>"
                    "<th>expected</th><th>actual</th><th>result</th></tr>");
    for (const ObjectiveResult& o : objectives) {
      absl::StrAppend(&html, "<tr><th>", Escape(o.name), "</th><td>", Escape(o.expected),
                      "</td><td>", Escape(o.actual), "</td><td class=\"", o.met ? "met" : "missed",
                      "\">", o.met ? "met" : "missed", "</td></tr>");
    }
    html += "</table>\n";
  }

  html += "<h2>Timeline</h2>\n";
  html += Svg(s, tl, f);
  html +=
      "\n<p class=\"legend\"><span><span class=\"sw\" style=\"background:#fde2e1\"></span>fault "
      "window</span><span><span class=\"sw\" style=\"background:#12b76a\"></span>probe ok</span>"
      "<span><span class=\"sw\" style=\"background:#d92d20\"></span>probe failed / breaker "
      "open</span><span><span class=\"sw\" style=\"background:#f79009\"></span>switch "
      "off</span><span><span class=\"sw\" style=\"background:#fdb022\"></span>half-open</span>"
      "<span><span class=\"sw\" style=\"background:#175cd3\"></span>probe success ratio</span></p>\n";

  html += "<h2>Essential path (probe)</h2>\n<table><tr><th>window</th><th>probes</th><th>ok</th>"
          "<th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>";
  html += WindowRow("baseline", f.baseline);
  html += WindowRow("during the fault", f.fault);
  html += WindowRow("  before detection", f.fault_before_detect);
  html += WindowRow("  after detection", f.fault_after_detect);
  html += WindowRow("after the fault", f.after);
  html += "</table>\n";

  absl::StrAppend(
      &html, "<h2>Settings</h2>\n<table>", "<tr><th>switch</th><td>", Escape(s.switch_name),
      "</td></tr><tr><th>fault</th><td>", Escape(fault), " (TTL ", s.fault_ttl_s,
      " s)</td></tr><tr><th>baseline</th><td>", FormatMs(s.baseline_ms),
      "</td></tr><tr><th>fault duration</th><td>", FormatMs(s.duration_ms),
      "</td></tr><tr><th>sampling interval</th><td>", FormatMs(s.interval_ms),
      "</td></tr><tr><th>probe timeout</th><td>", FormatMs(s.probe_timeout_ms),
      "</td></tr><tr><th>fault set / cleared at</th><td>", FormatMs(tl.fault_on_ms), " / ",
      FormatMs(tl.fault_off_ms), "</td></tr><tr><th>state samples</th><td>", f.state_samples,
      " (", f.state_errors, " without answer)</td></tr><tr><th>reason</th><td>",
      Escape(s.reason), "</td></tr></table>\n",
      "<p class=\"sub\">Time to detect: from the service acknowledging the fault to the first "
      "sample showing the breaker open or the switch off. Time to recover: from the service "
      "acknowledging the fault's removal to the first sample with the switch on, the breaker "
      "closed and more primary successes than right after the removal. Both are known to "
      "within the gap to the previous sample (+/-). The whole timeline is in the JSON "
      "report.</p>\n</body></html>\n");
  return html;
}

}  // namespace degrade::ctl
