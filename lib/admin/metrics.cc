// Metrics (see metrics.h).
#include "admin/metrics.h"

#include <charconv>
#include <cmath>
#include <string>

#include "absl/time/time.h"

namespace degrade::internal {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Length of the well-formed UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// Escapes for a label value (quote too) or a HELP text (no quote).
std::string Escape(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD: Prometheus rejects invalid UTF-8
      ++i;
      continue;
    }
    const char c = s[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
    // Counters read better as 1234567 than as 1.234567e+06.
    out += std::to_string(static_cast<int64_t>(v));
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round trip
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

double Seconds(const std::optional<absl::Time>& t) {
  return t ? static_cast<double>(absl::ToUnixMillis(*t)) / 1000.0 : 0.0;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) { return Escape(value, /*quote=*/true); }

std::vector<MetricFamily> CollectMetrics(const std::vector<SwitchInfo>& switches,
                                         const std::vector<SourceHealth>& sources) {
  // The one list of every metric: adding one here is all it takes.
  MetricFamily enabled{"degrade_switch_enabled",
                       "1 while calls go through the switch (on, allow > 0), 0 while degraded.",
                       MetricType::kGauge, {}};
  MetricFamily allow{"degrade_switch_allow",
                     "Fraction of calls let through: the allow value while on, 0 while off.",
                     MetricType::kGauge, {}};
  MetricFamily fault{"degrade_switch_fault_rate",
                     "Rate of the injected fault (drills), by kind; absent while none is set.",
                     MetricType::kGauge, {}};
  MetricFamily layer{"degrade_switch_layer",
                     "Always 1; the layer label is the layer that decides the switch's state.",
                     MetricType::kGauge, {}};
  MetricFamily tier{"degrade_switch_tier",
                    "The switch's criticality tier: 0 = none, 1 = shed last ... 9 = shed first.",
                    MetricType::kGauge, {}};
  MetricFamily breaker{"degrade_breaker_open",
                       "1 while the switch's circuit breaker is open (or the breaker layer "
                       "decides the switch), else 0.",
                       MetricType::kGauge, {}};
  MetricFamily breaker_state{"degrade_breaker_state",
                             "Always 1; the state label is the breaker's state (closed, open, "
                             "half_open). Only switches with a breaker policy.",
                             MetricType::kGauge, {}};
  MetricFamily breaker_opened{"degrade_breaker_opened_total",
                              "Times the switch's breaker opened since its policy was attached.",
                              MetricType::kCounter, {}};
  MetricFamily calls{"degrade_calls_total",
                     "degrade::Call invocations by outcome: ok (primary succeeded), failed "
                     "(primary failed), skipped (switch off or dimmed), fault (injected error).",
                     MetricType::kCounter, {}};
  MetricFamily faults{"degrade_injected_faults_total",
                      "Faults injected on purpose (error and delay).", MetricType::kCounter, {}};
  MetricFamily fallbacks{"degrade_fallbacks_total", "Times the fallback ran.",
                         MetricType::kCounter, {}};
  MetricFamily healthy{"degrade_source_healthy",
                       "1 while the source has confirmed its view recently; 0 when failing, "
                       "stalled past a deadline, or stuck.",
                       MetricType::kGauge, {}};
  MetricFamily last_success{"degrade_source_last_success_timestamp_seconds",
                            "Unix time of the source's last success; 0 if it never succeeded.",
                            MetricType::kGauge, {}};
  MetricFamily failures{"degrade_source_consecutive_failures",
                        "Failures of the source since its last success.", MetricType::kGauge,
                        {}};
  MetricFamily applied{"degrade_source_applied_total", "Snapshots the source has applied.",
                       MetricType::kCounter, {}};

  for (const SwitchInfo& s : switches) {
    if (!s.defined) continue;
    const Labels sw = {{"switch", s.name}};
    const bool on = s.effective.state == State::kOn;
    enabled.samples.push_back({sw, s.effective.calls_pass() ? 1.0 : 0.0});
    allow.samples.push_back({sw, on ? s.effective.allow : 0.0});
    if (s.effective.fault) {
      fault.samples.push_back(
          {{{"switch", s.name}, {"kind", std::string(FaultKindName(s.effective.fault->kind))}},
           s.effective.fault->rate});
    }
    layer.samples.push_back(
        {{{"switch", s.name}, {"layer", std::string(LayerName(s.deciding_layer))}}, 1.0});
    tier.samples.push_back({sw, static_cast<double>(s.tier)});
    // The breaker's own state; a breaker-layer entry set by a snapshot (no
    // policy) counts as open too.
    const bool open = (s.breaker && s.breaker->state == BreakerState::kOpen) ||
                      s.deciding_layer == Layer::kBreaker;
    breaker.samples.push_back({sw, open ? 1.0 : 0.0});
    if (s.breaker) {
      breaker_state.samples.push_back(
          {{{"switch", s.name}, {"state", std::string(BreakerStateName(s.breaker->state))}}, 1.0});
      breaker_opened.samples.push_back({sw, static_cast<double>(s.breaker->times_opened)});
    }
    const Counters& c = s.counters;
    // calls = ok + failed + skipped + injected errors (see Registry::List),
    // so the injected-error outcome is what remains.
    const uint64_t accounted = c.primary_ok + c.primary_failures + c.skipped;
    const uint64_t injected_errors = c.calls > accounted ? c.calls - accounted : 0;
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"ok", c.primary_ok}, {"failed", c.primary_failures}, {"skipped", c.skipped},
        {"fault", injected_errors}};
    for (const auto& [outcome, n] : outcomes) {
      calls.samples.push_back(
          {{{"switch", s.name}, {"outcome", outcome}}, static_cast<double>(n)});
    }
    faults.samples.push_back({sw, static_cast<double>(c.injected_faults)});
    fallbacks.samples.push_back({sw, static_cast<double>(c.fallbacks)});
  }
  for (const SourceHealth& h : sources) {
    const Labels src = {{"source", h.name}, {"target", h.target}};
    healthy.samples.push_back({src, h.healthy ? 1.0 : 0.0});
    last_success.samples.push_back({src, Seconds(h.last_success)});
    failures.samples.push_back({src, static_cast<double>(h.consecutive_failures)});
    applied.samples.push_back({src, static_cast<double>(h.applied)});
  }
  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&enabled, &allow, &fault, &layer, &tier, &breaker, &breaker_state,
                          &breaker_opened, &calls, &faults, &fallbacks, &healthy, &last_success,
                          &failures, &applied}) {
    out.push_back(std::move(*f));
  }
  return out;
}

std::vector<MetricFamily> CollectMetrics(const Registry& registry) {
  std::vector<MetricFamily> out = CollectMetrics(registry.List(), registry.sources());
  // The governor's, only where one is configured (degrade/governor.h).
  const GovernorStatus g = registry.governor();
  if (!g.configured) return out;
  auto gauge = [&](std::string name, std::string help, double value) {
    out.push_back({std::move(name), std::move(help), MetricType::kGauge, {{{}, value}}});
  };
  gauge("degrade_governor_enabled",
        "1 while the governor may act; 0 while an operator turned it off.", g.enabled ? 1 : 0);
  gauge("degrade_governor_target_seconds", "The latency the governor holds its percentile at.",
        absl::ToDoubleSeconds(g.options.target));
  if (g.measured.has_value()) {
    gauge("degrade_governor_measured_seconds",
          "The last period's latency percentile; absent after a period with too few requests.",
          absl::ToDoubleSeconds(*g.measured));
  }
  gauge("degrade_governor_served",
        "Share of tiered optional work the governor lets through: 1 = nothing dimmed.", g.served);
  gauge("degrade_governor_tier", "The tier the governor is dimming; 0 = none.", g.tier);
  gauge("degrade_governor_in_flight", "Essential requests in flight (LatencyTimer).",
        static_cast<double>(g.in_flight));
  out.push_back({"degrade_governor_periods_total", "Periods the governor has run.",
                 MetricType::kCounter, {{{}, static_cast<double>(g.periods)}}});
  return out;
}

std::string RenderPrometheusText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& f : families) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += Escape(f.help, /*quote=*/false);
    out += "\n# TYPE ";
    out += f.name;
    out += f.type == MetricType::kCounter ? " counter\n" : " gauge\n";
    for (const MetricSample& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i > 0) out += ',';
          out += s.labels[i].first;
          out += "=\"";
          out += EscapeLabelValue(s.labels[i].second);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      AppendValue(out, s.value);
      out += '\n';
    }
  }
  return out;
}

std::string PrometheusText(const Registry& registry) {
  return RenderPrometheusText(CollectMetrics(registry));
}

}  // namespace degrade::internal
