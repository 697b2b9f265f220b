// `degradectl drill`: runs a fire drill against a live service (see the
// command's help in ctl_args.cc and docs/drills.md) and records its timeline;
// drill_report.h turns the timeline into figures and reports.
#ifndef DEGRADE_TOOLS_DRILL_H_
#define DEGRADE_TOOLS_DRILL_H_

#include <condition_variable>
#include <iosfwd>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ctl_args.h"
#include "ctl_backend.h"
#include "drill_report.h"

namespace degrade::ctl {

// Ends a drill early from another thread (the signal watcher): waits in the
// drill return at once, the fault is cleared, the report is written.
class DrillStop {
 public:
  void Stop();
  bool stopped() const;
  // Waits up to `d`; true when stopped (before or during the wait).
  bool WaitFor(absl::Duration d) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopped_ = false;  // guarded by mu_
};

struct DrillPlan {
  DrillSettings settings;  // what the report shows; fault_ttl_s and reason filled by MakePlan
  absl::Duration baseline, duration, interval, probe_timeout, recover_timeout;
  Objectives objectives;
  std::string json_path, html_path;
};

// The plan from a parsed `drill` invocation: defaults applied, the fault's
// TTL (duration + max(10 s, 10%)), the reason tagged with a drill id so the
// drill can tell its own fault from someone else's, and the report paths:
// `out` ending in '/' or naming an existing directory gives DIR/report.json
// and DIR/report.html; anything else is a prefix (PREFIX.json, PREFIX.html).
// FailedPrecondition when the reports could not be written there (a missing
// directory), so a drill never runs for nothing.
absl::StatusOr<DrillPlan> MakeDrillPlan(const Invocation& inv, std::string_view admin_url,
                                        std::string_view actor, std::string_view drill_id);

// The TTL a fault of `duration` is set with.
int64_t DrillFaultTtlSeconds(absl::Duration duration);

struct DrillOutcome {
  DrillTimeline timeline;
  // The fault was injected and could not be confirmed gone at the end; the
  // message says when its TTL ends it.
  std::string clear_error;
};

// Runs the drill. Before anything is injected, refuses (FailedPrecondition,
// nothing changed) when the switch is unknown, off, has an admin entry, a
// fault or a breaker that is not closed; and (after the baseline) when no
// probe succeeded. Once the fault is set, every path clears it and returns an
// outcome: `stop` ends the fault early. Progress lines go to `log`.
absl::StatusOr<DrillOutcome> RunDrill(Backend& backend, const DrillPlan& plan,
                                      const DrillStop& stop, std::ostream& log);

// Writes `text` to `path` through a temporary file and a rename.
absl::Status WriteFileAtomically(const std::string& path, std::string_view text);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_DRILL_H_
