// The figures of a fire drill (degradectl drill) and its reports, computed
// from a recorded timeline. Pure functions: no I/O, no clock, so every rule is
// testable with a hand-built timeline.
//
// A timeline holds what the drill saw, each time in milliseconds since the
// drill started (a monotonic clock):
//   - probe samples: one GET of the service's essential endpoint each, with
//     its start time, latency and whether it succeeded (2xx within the probe
//     timeout);
//   - state samples: the switch as the admin endpoint listed it (state,
//     deciding layer, breaker state, fault, counters), timed when the answer
//     arrived;
//   - the fault window: when the service acknowledged setting the fault
//     (fault_on_ms) and clearing it (fault_off_ms).
//
// The figures:
//   detect     first state sample at or after fault_on_ms showing the
//              breaker open or the switch off (any layer), minus fault_on_ms.
//              Known to within the gap to the sample before it (resolution).
//   recover    after fault_off_ms: the first sample (at or after fault_off_ms)
//              gives the counters' starting point; recovery is the first later
//              sample with the switch on, no fault, the breaker closed (or no
//              breaker), and more primary successes than the starting point
//              (primary calls succeed again); minus fault_off_ms.
//   windows    probe success ratio and latency (p50, p90, p99, max, over all
//              probes, failed ones at the time they failed) for: the baseline
//              (probes started before fault_on_ms), the fault (from fault_on_ms
//              to fault_off_ms), the fault before and after detection, and
//              after the fault.
#ifndef DEGRADE_TOOLS_DRILL_REPORT_H_
#define DEGRADE_TOOLS_DRILL_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

struct ProbeSample {
  double t_ms = 0;        // when the request was sent
  double latency_ms = 0;  // until the answer, or until it failed
  bool ok = false;        // a 2xx answer within the probe timeout
  int status = 0;         // HTTP status; 0 when there was no answer
  std::string error;      // why it failed, when it did
};

struct StateSample {
  double t_ms = 0;      // when the answer arrived
  bool ok = false;      // the admin endpoint answered; the fields below are set
  std::string error;    // when it did not
  std::string state;    // "on" / "off"
  double allow = 1.0;
  std::string layer;    // the deciding layer
  std::string breaker;  // "closed", "open", "half_open"; empty: no breaker
  bool fault = false;   // a fault is in effect
  uint64_t calls = 0;
  uint64_t primary_ok = 0;
  uint64_t primary_failures = 0;
  uint64_t injected_faults = 0;
  uint64_t skipped = 0;
  uint64_t fallbacks = 0;
};

// Reads one switch object of the listing JSON (degrade/listing.h) into a
// sample at `t_ms`. A field missing or of the wrong type: an error naming it
// (the sample is then recorded with ok = false).
absl::StatusOr<StateSample> StateSampleFromJson(const nlohmann::json& sw, double t_ms);

// What was asked for, as the report shows it.
struct DrillSettings {
  std::string admin_url;
  std::string switch_name;
  std::string fault_kind;  // "error" / "delay"
  double rate = 1.0;
  int64_t delay_ms = 0;
  std::string probe_url;
  double baseline_ms = 0;
  double duration_ms = 0;  // how long the fault was to last
  double interval_ms = 0;  // sampling period (probe and state)
  double probe_timeout_ms = 0;
  double recover_timeout_ms = 0;
  int64_t fault_ttl_s = 0;  // the TTL the fault was set with
  std::string reason;
  std::string actor;
};

struct DrillTimeline {
  std::string started_at;  // RFC 3339 wall time of t = 0
  std::vector<ProbeSample> probes;
  std::vector<StateSample> states;
  std::optional<double> fault_on_ms;   // the service acknowledged the fault
  std::optional<double> fault_off_ms;  // the service acknowledged clearing it
  double end_ms = 0;
  bool interrupted = false;  // SIGINT/SIGTERM ended it early
  std::string error;         // an error that ended it early; empty if none
};

struct WindowStats {
  int probes = 0;
  int ok = 0;
  std::optional<double> success_ratio;  // nullopt without probes
  std::optional<double> p50_ms, p90_ms, p99_ms, max_ms;
};

struct DrillFigures {
  WindowStats baseline;
  WindowStats fault;
  WindowStats fault_before_detect;
  WindowStats fault_after_detect;
  WindowStats after;

  std::optional<double> detect_ms;             // nullopt: not detected
  std::optional<double> detect_resolution_ms;  // gap to the sample before
  std::string detected_by;                     // "breaker" or the layer that turned it off

  std::optional<double> recover_ms;  // nullopt: not recovered (or no fault end)
  std::optional<double> recover_resolution_ms;

  bool breaker_opened = false;  // some sample showed it open
  double off_ms = 0;            // time the samples showed the switch off
  int state_samples = 0;
  int state_errors = 0;  // samples where the admin endpoint did not answer
};

// Nearest-rank percentile (p in (0, 100]) of `values`; nullopt when empty.
std::optional<double> Percentile(std::vector<double> values, double p);

// Probe statistics of the probes started in [from_ms, to_ms).
WindowStats ComputeWindow(const std::vector<ProbeSample>& probes, double from_ms, double to_ms);

// Index into `states` of the sample that shows recovery after `fault_off_ms`
// (see the rule above); nullopt when none does. Used by the drill to stop
// watching, and by ComputeFigures.
std::optional<size_t> RecoverySample(const std::vector<StateSample>& states, double fault_off_ms);

DrillFigures ComputeFigures(const DrillTimeline& tl);

// --expect-* objectives. Each one given is checked; a figure that is missing
// (not detected, not recovered, no probes) misses its objective.
struct Objectives {
  std::optional<double> detect_under_ms;
  std::optional<double> success_over;  // fault-window probe success ratio
  std::optional<double> recover_under_ms;
};

struct ObjectiveResult {
  std::string name;      // "detect", "success", "recover"
  std::string expected;  // "< 5000 ms"
  std::string actual;    // "1210 ms", "not detected"
  bool met = false;
};

std::vector<ObjectiveResult> CheckObjectives(const DrillFigures& figures,
                                             const Objectives& objectives);

// report.json: settings, figures, objectives and the whole timeline.
nlohmann::json ReportJson(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                          const std::vector<ObjectiveResult>& objectives);

// report.html: one self-contained page (inline CSS and SVG, no script, no
// external asset) with the figures, the objectives and a timeline plot.
std::string ReportHtml(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                       const std::vector<ObjectiveResult>& objectives);

// The few lines degradectl prints at the end of a drill.
std::string ReportSummary(const DrillSettings& s, const DrillTimeline& tl, const DrillFigures& f,
                          const std::vector<ObjectiveResult>& objectives);

// "1.2 s", "850 ms", "-" for nullopt.
std::string FormatMs(std::optional<double> ms);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_DRILL_REPORT_H_
