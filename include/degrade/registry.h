// degrade/registry.h: every switch of a process, the layers that decide them,
// and what changed.
//
// How a switch's effective state is decided
// -----------------------------------------
// Seven layers, lowest precedence first: default < file < env < remote <
// breaker < governor < admin. Within one layer, its setting for the switch beats its
// setting for one of the switch's groups, which beats its `all` setting. When
// a layer has settings for several of the switch's groups, the most degraded
// one wins (off, then the lowest allow), so cutting any group cuts its
// members.
//
// Three fields are decided separately, each by the highest layer that sets
// it:
//   - the state (state and/or allow): that layer is the "deciding layer", and
//     its reason, actor and expiry are the switch's;
//   - the fault (a fault, or "fault": "off" to hide lower layers' faults);
//   - the breaker policy (a policy, or "breaker": "off" to hide lower
//     layers' policies; the default layer's is SwitchSpec::breaker).
// So a drill fault set through the admin layer does not turn back on a
// switch that the environment turned off.
//
// The breaker layer is the registry's own: while a switch's breaker is open
// (degrade/breaker.h) the layer holds "off" for it, with actor "breaker"
// and the window's figures as reason; ApplySnapshot(Layer::kBreaker, ...)
// sets further entries beside those. The governor layer is the registry's
// own too (degrade/governor.h), and only ever reduces: where the layers
// below it decide off, or an allow at or below the governor's, they decide. An entry whose expires_at has
// passed is ignored as if absent; admin entries are removed when they expire.
//
// Every change of a switch's effective state (or of its deciding layer) is
// written to the switch's atomic word before the call that made it returns,
// and is then delivered to change listeners and the log sink.
//
// Thread safety: every method may be called from any thread. Listeners and
// the log sink are called without registry locks held, in order.
#ifndef DEGRADE_REGISTRY_H_
#define DEGRADE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/clock.h"
#include "degrade/export.h"
#include "degrade/governor.h"
#include "degrade/log.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"

namespace degrade {

namespace internal {
class RegistryCore;
}

// Per-switch counts of degrade::Call, summed over every thread. Exact once
// the calls counted have returned.
struct Counters {
  uint64_t calls = 0;             // every Call
  uint64_t primary_ok = 0;        // primary ran and succeeded
  uint64_t skipped = 0;           // switch off or dimmer said no
  uint64_t primary_failures = 0;  // primary returned non-OK or threw
  uint64_t injected_faults = 0;   // error and delay faults injected
  uint64_t fallbacks = 0;         // fallback ran (skipped + failures + error faults)
};

// One layer's say about a switch.
struct LayerSetting {
  Layer layer = Layer::kDefault;
  // Where in the layer: "switch", "group:<name>", "shed" (the layer's shed
  // level covers the switch's tier; value: "off" with the shed's actor,
  // expiry and ShedText-style reason) or "all".
  std::string scope;
  SwitchValue value;
};

// A switch as a listing shows it.
struct SwitchInfo {
  std::string name;
  std::string description;
  std::string owner;
  std::vector<std::string> groups;
  // SwitchSpec::tier: 0 (no tier), 1 (shed last) to 9 (shed first); 0 for
  // names not defined here.
  int tier = 0;
  // The environment variable that sets it (DEGRADE_<NAME>).
  std::string env_var;
  // False for names that some layer mentions but this process does not
  // define (kept, and shown, because one config serves several versions).
  bool defined = true;

  EffectiveState effective;
  Layer deciding_layer = Layer::kDefault;  // layer that decided the state
  // Which of that layer's entries decided: "switch" (the switch's own
  // entry; also the default layer and an open breaker), "group:<g>",
  // "shed" (the layer's shed level; reason "shed at tier ≥ N by <actor>:
  // <reason>") or "all".
  std::string scope = "switch";
  std::optional<Layer> fault_layer;        // layer that decided the fault
  std::string reason;                      // of the deciding entry
  std::string actor;
  std::optional<absl::Time> expires_at;
  // Every layer that says something, lowest first, expired entries left out.
  std::vector<LayerSetting> layers;
  Counters counters;
  // The switch's breaker while some layer sets a policy for it; nullopt
  // otherwise (and for unknown names).
  std::optional<BreakerInfo> breaker;
};

// Health of a background source (file watcher, HTTP poller, etcd watch).
struct SourceHealth {
  std::string name;  // "file", "remote", "etcd", ...
  std::string target;  // path or URL
  bool healthy = true;
  std::optional<absl::Time> last_success;
  std::optional<absl::Time> last_error_time;
  std::string last_error;
  uint64_t consecutive_failures = 0;
  uint64_t applied = 0;  // snapshots applied
};

// Delivered to listeners for every accepted change of a switch's effective
// outcome: its state or allow, its fault, the layer deciding either, the
// deciding entries' expiry, actor or reason (so re-writing an admin
// override with a new reason is recorded). A breaker closing is recorded
// too, although the switch's state does not change then.
//
// `actor` and `reason` name the change's cause, not the entry that decides
// the switch afterwards (docs/audit.md has the rules): the request's actor
// and reason for an admin write or clear; "expiry" and what expired for a
// TTL; "breaker" and its figures for a breaker; a snapshot entry's own
// actor and reason for file, remote and etcd writes, else the source's name
// ("file", "remote", "etcd") and what it applied; "env" and DEGRADE_X=value
// for the environment; "api" (or the value's actor) for SetOverride in code.
struct ChangeEvent {
  std::string name;
  EffectiveState old_state;
  EffectiveState new_state;
  Layer old_layer = Layer::kDefault;
  Layer layer = Layer::kDefault;  // the deciding layer after the change
  std::optional<Layer> old_fault_layer;
  std::optional<Layer> fault_layer;  // the layer deciding the fault after it
  // When the outcome after the change ends by itself: the earlier of the
  // deciding entry's and the fault entry's expires_at; nullopt for never.
  std::optional<absl::Time> expires_at;
  std::string actor;
  std::string reason;
  absl::Time time;
  // For a change read from etcd: the revision that made it.
  std::optional<int64_t> revision;
};

// One JSON object, one line; the audit trail's shape (docs/audit.md), the
// same that `degradectl watch --json` prints:
//   {"time":"2026-12-06T03:55:26.5+00:00","event":"change","switch":"recs",
//    "old":{"state":"on"},"new":{"state":"off"},"old_layer":"default",
//    "layer":"admin","fault_layer":null,"actor":"bob","reason":"drill-2",
//    "expires_at":"2026-12-06T04:55:26+00:00"}
// plus "revision" for etcd changes. Invalid UTF-8 is replaced, never thrown.
DEGRADE_EXPORT std::string ChangeEventToJson(const ChangeEvent& event);

// A layer's shed level in force (Registry::Sheds).
struct LayerShed {
  Layer layer = Layer::kDefault;
  Shed shed;
};

// A problem the registry or a source hit: bad env value, rejected snapshot...
struct ErrorRecord {
  absl::Time time;
  std::string message;
};

class DEGRADE_EXPORT Registry {
 public:
  struct Options {
    // Time source for TTLs and records (a wall clock). Default:
    // Clock::Real(). Not owned.
    Clock* clock = nullptr;
    // Looks up environment variables for the env layer. Default: getenv.
    std::function<std::optional<std::string>(std::string_view)> getenv;
    // Where messages go. Default: StderrLogSink().
    LogSink log_sink;
    // Whether the registry runs its own timer threads: one calls
    // ProcessExpiries when an entry is due (started by the first entry with
    // an expiry), one calls ProcessBreakers every 25 ms (started by the first
    // breaker). Both stop in the destructor (at exit for Global()). Set it to
    // false with a clock that moves only when told (testing::FakeClock):
    // nothing then happens behind the test's back, and the test calls
    // ProcessExpiries and ProcessBreakers itself after advancing the clock.
    // Default: true.
    bool timer_threads = true;
  };

  Registry();
  explicit Registry(Options options);
  // Switches defined through this registry are destroyed with it; a
  // DEGRADE_SWITCH switch must outlive... it only lives in Global().
  ~Registry();

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry used by DEGRADE_SWITCH, the runtime and the
  // bindings. Created on first use, never destroyed.
  static Registry& Global();

  // Defines a switch owned by this registry; its address is stable for the
  // registry's lifetime. Reads the environment layer now.
  // Errors: InvalidArgument for a bad name, group or default; AlreadyExists
  // for a name already defined, or one mapping to the same environment
  // variable as another switch, group or DEGRADE_* setting;
  // ResourceExhausted past 65,536 switches in the process.
  absl::StatusOr<Switch*> Define(SwitchSpec spec);

  // The switch named `name`, or null. Takes a lock: resolve names once, not
  // per call.
  Switch* Find(std::string_view name) const;

  // Every defined switch, then every unknown name the layers mention, by name.
  std::vector<SwitchInfo> List() const;
  // One switch (defined or unknown). NotFound when no one knows the name.
  absl::StatusOr<SwitchInfo> Get(std::string_view name) const;

  // Admin layer. Sets the switch's admin entry to `value` (replacing any
  // previous one); a positive `ttl` sets expires_at = now + ttl. Errors:
  // NotFound for a name not defined here, InvalidArgument for a value out of
  // range (see ValidateSwitchValue) or a negative ttl. Nothing changes on
  // error.
  absl::Status SetOverride(std::string_view name, SwitchValue value,
                           absl::Duration ttl = absl::ZeroDuration());
  // Removes the switch's admin entry. NotFound for an undefined name; OK
  // (and no change) when there was none.
  absl::Status ClearOverride(std::string_view name);

  // Admin layer's shed level (docs/shedding.md): every switch whose tier is
  // not 0 and is at least shed.level is off in the admin layer, unless the
  // admin layer sets the switch or one of its groups. Replaces any previous
  // admin shed; a positive `ttl` sets expires_at = now + ttl. An empty
  // shed.actor becomes "api". Change events carry the actor and the reason
  // "shed at tier ≥ N by <actor>: <reason>". Errors: InvalidArgument for a
  // level outside [1, 9], a reason or actor too long or not UTF-8, an expiry
  // outside years 1000-9999, or a negative ttl. Nothing changes on error.
  absl::Status SetShed(Shed shed, absl::Duration ttl = absl::ZeroDuration());
  // Removes the admin layer's shed. OK (and no change) when there was none.
  absl::Status ClearShed();
  // Every layer's shed in force (not expired), lowest layer first.
  std::vector<LayerShed> Sheds() const;

  // Replaces the whole of `layer` with `snapshot` (all or nothing). `source`
  // names who did it, for events and errors ("file /etc/svc/degrade.json").
  // Allowed layers: file, remote, breaker (which may only say "off") and
  // admin (bulk). Errors: InvalidArgument for the default or env layer, a
  // value out of range, or a breaker entry other than off. Nothing changes
  // on error. Cost: linear in the number of switches; see README.
  absl::Status ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source);
  // ParseSnapshot + ApplySnapshot; warnings go to the log sink. Errors are
  // also recorded in errors() and logged.
  absl::Status ApplySnapshotJson(Layer layer, std::string_view json, std::string_view source);
  // What `layer` currently holds (for file, remote, breaker, admin: the last
  // snapshot applied, admin overrides included; for env: the variables read).
  Snapshot LayerSnapshot(Layer layer) const;

  // Change listeners. The returned id removes it. Listeners run after the
  // state is visible to enabled(), outside locks, one at a time, in the
  // order changes happened. A listener may call back into the registry.
  // A listener receives the changes made after AddListener returns (while
  // no one listens and change lines are off, no events are built at all).
  using Listener = std::function<void(const ChangeEvent&)>;
  uint64_t AddListener(Listener listener);
  void RemoveListener(uint64_t id);

  // Messages (see degrade/log.h). SetLogChanges(true) also sends each change
  // event to the sink as a JSON line.
  void SetLogSink(LogSink sink);
  void SetLogChanges(bool on);
  // Sends a message to the sink; kError messages are also kept in errors().
  void Log(LogLevel level, std::string_view message) const;
  // The last 100 errors, oldest first.
  std::vector<ErrorRecord> errors() const;

  // Sources report their health here; listings and metrics show it.
  void ReportSourceHealth(SourceHealth health);
  std::vector<SourceHealth> sources() const;

  // Drops entries whose expires_at has passed and applies the result.
  // expires_at is a wall-clock time (the registry's Clock). A registry thread
  // calls this when the next entry is due, and wakes at least once a second
  // while one is pending, so a wall clock stepping forward past an expiry
  // takes effect within about a second; a step backward delays it by the
  // step. With Options::timer_threads false no thread runs: tests call this
  // after advancing their clock.
  void ProcessExpiries();

  // Evaluates every breaker once: takes the calls counted since the last
  // evaluation into its window, opens it when a threshold is crossed, goes
  // half-open when the open period is over, closes or reopens it on the
  // probes' outcomes. Transitions are applied through the breaker layer
  // (change events, as any layer change) and logged (kWarning when opening,
  // kInfo otherwise). A registry thread calls this every 25 ms from the
  // first breaker on, and stops in the destructor (at exit for Global());
  // with Options::timer_threads false nothing does: tests advance their
  // clock and call this. Outcomes are placed in the window at the
  // evaluation that takes them, so with a fake clock call it after the
  // calls you make.
  void ProcessBreakers();

  // The governor (degrade/governor.h). ConfigureGovernor starts it (with
  // Options::timer_threads, a thread runs a period every options.period) or
  // changes its options, keeping its level; InvalidArgument per
  // ValidateGovernorOptions, and nothing changes. A registry reads
  // DEGRADE_GOVERNOR_TARGET_MS, DEGRADE_GOVERNOR_PERCENTILE and
  // DEGRADE_GOVERNOR_PERIOD_MS when it is created and configures the
  // governor from them when the target is set (a bad value is an error
  // record naming the variable and what is accepted, and no governor).
  absl::Status ConfigureGovernor(GovernorOptions options);
  // Stops it and clears its layer (the switches it dimmed come back).
  void StopGovernor();
  // The admin layer's say about the governor (a snapshot's "governor"
  // field; degrade/snapshot.h): `setting` turns it off or on, or caps the
  // tiers it may touch; nullopt removes the admin layer's say. A positive
  // `ttl` sets the setting's expires_at = now + ttl. Takes effect at once.
  // InvalidArgument (nothing changes) for a setting out of range
  // (ValidateGovernorSetting) or a negative ttl.
  absl::Status SetGovernorSetting(std::optional<GovernorSetting> setting,
                                  absl::Duration ttl = absl::ZeroDuration());
  GovernorStatus governor() const;
  // One essential request's latency, for the current period. Lock-free,
  // never allocates; counted whether or not a governor is configured (the
  // first period after ConfigureGovernor sees what came before it).
  // Negative latencies count as zero.
  void RecordLatency(absl::Duration latency) noexcept;
  // Runs one period now: reads and resets the latencies recorded since the
  // last one, moves the level and applies it. The governor's thread calls
  // this every period; with Options::timer_threads false none runs, and
  // tests call it after recording latencies. Does nothing when no governor
  // is configured.
  void StepGovernor();

  Clock& clock() const noexcept;

 private:
  friend class Switch;
  friend class LatencyTimer;
  friend class internal::RegistryAccess;
  std::unique_ptr<internal::RegistryCore> core_;
};

}  // namespace degrade

#endif  // DEGRADE_REGISTRY_H_
