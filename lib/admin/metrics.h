// The registry's metrics, declared once and rendered as Prometheus text
// (the admin endpoint's GET /metrics) or handed to prometheus-cpp
// (degrade/prometheus.h). Not installed.
//
// Families, in this order (one list, CollectMetrics; README lists them):
//   per defined switch (names some layer mentions but this process does not
//   define have no counters and are left out):
//     degrade_switch_enabled{switch}            gauge   1 if calls go through
//                                                       (on, allow > 0), else 0
//     degrade_switch_allow{switch}              gauge   fraction let through:
//                                                       allow when on, 0 when off
//     degrade_switch_fault_rate{switch,kind}    gauge   injected fault's rate;
//                                                       only while a fault is set
//     degrade_switch_layer{switch,layer}        gauge   always 1; `layer` is
//                                                       the deciding layer
//     degrade_breaker_open{switch}              gauge   1 while the breaker is
//                                                       open, or the breaker
//                                                       layer decides the state
//     degrade_breaker_state{switch,state}       gauge   always 1; closed | open
//                                                       | half_open; only with a
//                                                       breaker policy
//     degrade_breaker_opened_total{switch}      counter times it opened; only
//                                                       with a breaker policy
//     degrade_calls_total{switch,outcome}       counter outcome ok | failed |
//                                                       skipped | fault; sums
//                                                       to every Call
//     degrade_injected_faults_total{switch}     counter error and delay faults
//     degrade_fallbacks_total{switch}           counter
//   per source (file, remote, ...):
//     degrade_source_healthy{source,target}                         gauge
//     degrade_source_last_success_timestamp_seconds{source,target}  gauge, 0
//                                                                   if never
//     degrade_source_consecutive_failures{source,target}            gauge
//     degrade_source_applied_total{source,target}                   counter
//   the governor (degrade/governor.h), only where one is configured and only
//   from the Registry overload:
//     degrade_governor_enabled            gauge   0 while an operator turned it off
//     degrade_governor_target_seconds     gauge
//     degrade_governor_measured_seconds   gauge   the last period's percentile;
//                                                 absent after too few requests
//     degrade_governor_served             gauge   share of tiered work let through
//     degrade_governor_tier               gauge   the tier being dimmed, 0 = none
//     degrade_governor_in_flight          gauge
//     degrade_governor_periods_total      counter
//
// Thread safety: pure functions over the values passed in; the Registry
// overloads take the registry's own locks briefly (Registry::List).
#ifndef DEGRADE_LIB_METRICS_H_
#define DEGRADE_LIB_METRICS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "degrade/registry.h"

namespace degrade::internal {

enum class MetricType { kCounter, kGauge };

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;  // name, value
  double value = 0.0;
};

struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSample> samples;
};

// Every family above, even those without samples (their HELP and TYPE are
// still written, so a dashboard finds the name before the first switch).
std::vector<MetricFamily> CollectMetrics(const std::vector<SwitchInfo>& switches,
                                         const std::vector<SourceHealth>& sources);
std::vector<MetricFamily> CollectMetrics(const Registry& registry);

// The text exposition format 0.0.4: "# HELP", "# TYPE", then one line per
// sample; label values escaped (\\, \", \n) and made valid UTF-8 (invalid
// bytes become U+FFFD); integral values written as integers.
std::string RenderPrometheusText(const std::vector<MetricFamily>& families);
std::string PrometheusText(const Registry& registry);

// The Content-Type of RenderPrometheusText's output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A label value as written between the quotes.
std::string EscapeLabelValue(std::string_view value);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_METRICS_H_
