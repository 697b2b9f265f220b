// `degradectl drill` (see drill.h).
#include "drill.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ctl_strings.h"
#include "httplib.h"

namespace degrade::ctl {

void DrillStop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool DrillStop::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool DrillStop::WaitFor(absl::Duration d) const {
  std::unique_lock<std::mutex> lock(mu_);
  if (d <= absl::ZeroDuration()) return stopped_;
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopped_; });
}

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

double MsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Probes the essential endpoint on its own thread, one request at a time,
// one every `interval` (at once after a probe slower than that), so a slow
// service slows the probe, never the reading of the switch.
class Prober {
 public:
  Prober(HttpUrl url, absl::Duration interval, absl::Duration timeout, SteadyClock::time_point t0)
      : url_(std::move(url)),
        interval_(interval),
        timeout_(timeout),
        t0_(t0),
        client_(absl::StrCat(url_.scheme, "://", url_.authority)) {
    const auto t = absl::ToChronoMicroseconds(timeout_);
    client_.set_connection_timeout(t);
    client_.set_read_timeout(t);
    client_.set_write_timeout(t);
    client_.set_keep_alive(false);
  }
  ~Prober() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }

  // Ends the probe in flight (Client::stop unblocks it) and joins.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_.Stop();
    client_.stop();
    thread_.join();
  }

  std::vector<ProbeSample> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_;
  }

  bool AnyOk() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ProbeSample& p : samples_) {
      if (p.ok) return true;
    }
    return false;
  }

  std::string LastError() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto failed = std::find_if(samples_.rbegin(), samples_.rend(),
                                     [](const ProbeSample& p) { return !p.ok; });
    return failed == samples_.rend() ? std::string() : failed->error;
  }

 private:
  void Loop() {
    const std::string path = url_.base_path.empty() ? "/" : url_.base_path;
    const double timeout_ms = absl::ToDoubleMilliseconds(timeout_);
    while (!stop_.stopped()) {
      const auto start = SteadyClock::now();
      httplib::Result r = client_.Get(path);
      const auto end = SteadyClock::now();
      if (stop_.stopped()) break;  // cut short by Stop(): not a measurement
      ProbeSample p;
      p.t_ms = MsBetween(t0_, start);
      p.latency_ms = MsBetween(start, end);
      if (!r) {
        p.error = httplib::to_string(r.error());
      } else {
        p.status = r->status;
        if (r->status < 200 || r->status > 299) {
          p.error = absl::StrCat("HTTP ", r->status);
        } else if (p.latency_ms > timeout_ms) {
          p.error = "slower than --probe-timeout";
        } else {
          p.ok = true;
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        samples_.push_back(std::move(p));
      }
      const absl::Duration spent = absl::FromChrono(SteadyClock::now() - start);
      stop_.WaitFor(interval_ - spent);
    }
  }

  const HttpUrl url_;
  const absl::Duration interval_;
  const absl::Duration timeout_;
  const SteadyClock::time_point t0_;
  httplib::Client client_;
  DrillStop stop_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<ProbeSample> samples_;  // guarded by mu_
};

// The drill's main thread: the phases, the state samples, the fault.
class Drill {
 public:
  Drill(Backend& backend, const DrillPlan& plan, const DrillStop& stop, std::ostream& log)
      : backend_(backend), plan_(plan), stop_(stop), log_(log), t0_(SteadyClock::now()) {}

  absl::StatusOr<DrillOutcome> Run() {
    const DrillSettings& s = plan_.settings;
    if (absl::Status st = Preflight(); !st.ok()) return st;
    absl::StatusOr<HttpUrl> url = ParseHttpUrl(s.probe_url, "--probe");
    if (!url.ok()) return url.status();
    out_.timeline.started_at =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", wall0_, absl::UTCTimeZone());
    Prober prober(*url, plan_.interval, plan_.probe_timeout, t0_);
    prober.Start();

    // 1. Baseline.
    if (plan_.baseline > absl::ZeroDuration()) {
      log_ << "drill: baseline: probing " << s.probe_url << " for "
           << absl::FormatDuration(plan_.baseline) << "\n";
      SampleUntil(Now() + absl::ToDoubleMilliseconds(plan_.baseline));
      if (!stop_.stopped() && !prober.AnyOk()) {
        prober.Stop();
        return absl::FailedPreconditionError(absl::StrCat(
            "no probe of ", s.probe_url, " succeeded during the baseline (last: ",
            prober.LastError(),
            "); nothing was injected: check --probe (a 2xx within --probe-timeout is a success)"));
      }
    }

    // 2. The fault, 3. watching it, 4. clearing it.
    if (!stop_.stopped()) {
      const bool attempted = Inject();
      if (out_.timeline.fault_on_ms) {
        log_ << "drill: fault on " << s.switch_name << " for "
             << absl::FormatDuration(plan_.duration) << " (TTL " << s.fault_ttl_s << " s)\n";
        SampleUntil(*out_.timeline.fault_on_ms + absl::ToDoubleMilliseconds(plan_.duration));
      }
      if (attempted) ClearFault();
    }

    // 5. Recovery.
    if (out_.timeline.fault_off_ms && !stop_.stopped()) {
      log_ << "drill: fault cleared; waiting for recovery (at most "
           << absl::FormatDuration(plan_.recover_timeout) << ")\n";
      const double off = *out_.timeline.fault_off_ms;
      const double limit = off + absl::ToDoubleMilliseconds(plan_.recover_timeout);
      const double tail = std::max(1000.0, 2 * absl::ToDoubleMilliseconds(plan_.interval));
      std::optional<double> recovered_at;
      SampleUntil(limit, [&] {
        if (!recovered_at) {
          if (auto i = RecoverySample(out_.timeline.states, off)) {
            recovered_at = out_.timeline.states[*i].t_ms;
          }
        }
        return recovered_at && Now() >= *recovered_at + tail;
      });
    }

    prober.Stop();
    out_.timeline.probes = prober.Take();
    out_.timeline.interrupted = stop_.stopped();
    out_.timeline.end_ms = Now();
    return std::move(out_);
  }

 private:
  double Now() const { return MsBetween(t0_, SteadyClock::now()); }

  // Nothing is injected unless the switch is in a state a drill can measure
  // and leave as it found it.
  absl::Status Preflight() {
    const DrillSettings& s = plan_.settings;
    absl::StatusOr<Reply> r = backend_.Get(s.switch_name);
    if (!r.ok()) return r.status();
    const json& sw = r->json;
    const auto refuse = [&](std::string_view why) {
      return absl::FailedPreconditionError(absl::StrCat("drill refused, nothing was injected: ",
                                                        s.switch_name, " ", AV(why)));
    };
    if (auto d = sw.find("defined"); d != sw.end() && d->is_boolean() && !d->get<bool>()) {
      return refuse("is named by a layer but not defined in the service");
    }
    if (auto layers = sw.find("layers"); layers != sw.end() && layers->is_array()) {
      for (const json& l : *layers) {
        if (l.is_object() && l.value("layer", "") == "admin") {
          return refuse(absl::StrCat(
              "has an admin-layer entry (", l.value("value", json()).dump(),
              "): the drill's fault would replace it; clear it first ('degradectl clear ",
              s.switch_name, "') or drill another switch"));
        }
      }
    }
    absl::StatusOr<StateSample> st = StateSampleFromJson(sw, Now());
    if (!st.ok()) return st.status();
    if (st->state != "on") {
      return refuse(absl::StrCat("is ", st->state, " (decided by layer ", st->layer,
                                 "): a drill measures a switch going from on to off"));
    }
    if (st->fault) {
      return refuse("already has a fault in effect (from a lower layer): end it first");
    }
    if (!st->breaker.empty() && st->breaker != "closed") {
      return refuse(absl::StrCat("has its breaker ", st->breaker,
                                 ": wait until it is closed again"));
    }
    if (st->breaker.empty()) {
      log_ << "drill: note: " << s.switch_name
           << " has no breaker: only an operator or another layer turning it off counts as "
              "detection\n";
    }
    out_.timeline.states.push_back(*std::move(st));
    wall0_ = absl::Now();
    t0_ = SteadyClock::now();
    out_.timeline.states.back().t_ms = 0;
    return absl::OkStatus();
  }

  void Record(const absl::StatusOr<Reply>& r, double t) {
    StateSample s;
    s.t_ms = t;
    if (!r.ok()) {
      s.error = std::string(r.status().message());
    } else if (absl::StatusOr<StateSample> parsed = StateSampleFromJson(r->json, t); parsed.ok()) {
      s = *std::move(parsed);
    } else {
      s.error = std::string(parsed.status().message());
    }
    out_.timeline.states.push_back(std::move(s));
  }

  // Reads the switch every interval until `until_ms`, `done()` or stop.
  template <typename Done>
  void SampleUntil(double until_ms, Done done) {
    const double interval = absl::ToDoubleMilliseconds(plan_.interval);
    while (!stop_.stopped() && Now() < until_ms) {
      const double start = Now();
      absl::StatusOr<Reply> r = backend_.Get(plan_.settings.switch_name);
      Record(r, Now());
      if (done()) return;
      const double next = std::min(start + interval, until_ms);
      stop_.WaitFor(absl::Milliseconds(next - Now()));
    }
  }
  void SampleUntil(double until_ms) {
    SampleUntil(until_ms, [] { return false; });
  }

  // True when a PUT was sent (whether or not it took effect).
  bool Inject() {
    const DrillSettings& s = plan_.settings;
    json fault = {{"kind", s.fault_kind}, {"rate", s.rate}};
    if (s.delay_ms > 0) fault["delay_ms"] = s.delay_ms;
    const json body = {{"fault", fault},
                       {"reason", s.reason},
                       {"actor", s.actor},
                       {"ttl_s", s.fault_ttl_s}};
    absl::StatusOr<Reply> r = backend_.Put(s.switch_name, body);
    const double t = Now();
    if (!r.ok()) {
      out_.timeline.error = absl::StrCat("setting the fault failed: ", r.status().message());
      log_ << "drill: " << out_.timeline.error << "\n";
      return true;
    }
    out_.timeline.fault_on_ms = t;
    if (r->json.is_object() && r->json.contains("state")) Record(r, t);
    return true;
  }

  // Removes the fault if the admin entry is still the drill's (an operator
  // may have replaced it meanwhile: theirs stays). Retries for a few seconds;
  // never gives up silently.
  void ClearFault() {
    const DrillSettings& s = plan_.settings;
    std::string last_error;
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
      absl::StatusOr<Reply> got = backend_.Get(s.switch_name);
      const double t_got = Now();
      if (!got.ok()) {
        last_error = std::string(got.status().message());
        Record(got, t_got);
        continue;
      }
      Record(got, t_got);
      std::optional<json> admin;
      if (auto layers = got->json.find("layers"); layers != got->json.end() && layers->is_array()) {
        for (const json& l : *layers) {
          if (l.is_object() && l.value("layer", "") == "admin") admin = l.value("value", json());
        }
      }
      if (!admin && !out_.timeline.fault_on_ms) return;  // the PUT never took effect
      if (!admin || !admin->is_object() || admin->value("reason", "") != s.reason) {
        // Gone (expired) or replaced by someone else: the drill's fault is
        // not there any more, and whatever is there is not the drill's.
        if (admin) {
          log_ << "drill: warning: the admin entry of " << s.switch_name
               << " was replaced during the drill (" << admin->dump()
               << "); leaving it as it is\n";
        }
        out_.timeline.fault_off_ms = t_got;
        return;
      }
      absl::StatusOr<Reply> cleared = backend_.Clear(s.switch_name, s.actor, "");
      const double t = Now();
      if (!cleared.ok()) {
        last_error = std::string(cleared.status().message());
        continue;
      }
      out_.timeline.fault_off_ms = t;
      if (cleared->json.is_object() && cleared->json.contains("state")) Record(cleared, t);
      return;
    }
    out_.clear_error = absl::StrCat(
        "could not confirm that the fault on ", s.switch_name, " was cleared (", last_error,
        "); it ends by itself when its TTL of ", s.fault_ttl_s,
        " s runs out, or run: degradectl clear ", s.switch_name);
    log_ << "drill: " << out_.clear_error << "\n";
  }

  Backend& backend_;
  const DrillPlan& plan_;
  const DrillStop& stop_;
  std::ostream& log_;
  SteadyClock::time_point t0_;
  absl::Time wall0_ = absl::Now();
  DrillOutcome out_;
};

}  // namespace

int64_t DrillFaultTtlSeconds(absl::Duration duration) {
  const double s = absl::ToDoubleSeconds(duration);
  return static_cast<int64_t>(std::ceil(s + std::max(10.0, s * 0.1)));
}

absl::StatusOr<DrillPlan> MakeDrillPlan(const Invocation& inv, std::string_view admin_url,
                                        std::string_view actor, std::string_view drill_id) {
  const DrillFlags& d = inv.drill;
  DrillPlan plan;
  plan.baseline = d.baseline.value_or(kDrillDefaultBaseline);
  plan.duration = d.duration.value_or(kDrillDefaultDuration);
  plan.interval = d.interval.value_or(kDrillDefaultInterval);
  plan.probe_timeout = d.probe_timeout.value_or(kDrillDefaultProbeTimeout);
  plan.recover_timeout = d.recover_timeout.value_or(kDrillDefaultRecoverTimeout);
  if (d.expect_detect_under) {
    plan.objectives.detect_under_ms = absl::ToDoubleMilliseconds(*d.expect_detect_under);
  }
  if (d.expect_recover_under) {
    plan.objectives.recover_under_ms = absl::ToDoubleMilliseconds(*d.expect_recover_under);
  }
  plan.objectives.success_over = d.expect_success_over;

  DrillSettings& s = plan.settings;
  s.admin_url = std::string(admin_url);
  s.switch_name = d.switch_name;
  s.fault_kind = d.fault_kind;
  s.rate = inv.rate.value_or(1.0);
  s.delay_ms = inv.delay_ms.value_or(0);
  s.probe_url = d.probe_url;
  s.baseline_ms = absl::ToDoubleMilliseconds(plan.baseline);
  s.duration_ms = absl::ToDoubleMilliseconds(plan.duration);
  s.interval_ms = absl::ToDoubleMilliseconds(plan.interval);
  s.probe_timeout_ms = absl::ToDoubleMilliseconds(plan.probe_timeout);
  s.recover_timeout_ms = absl::ToDoubleMilliseconds(plan.recover_timeout);
  s.fault_ttl_s = DrillFaultTtlSeconds(plan.duration);
  s.reason = absl::StrCat(inv.reason.value_or("fire drill"), " [", AV(drill_id), "]");
  s.actor = std::string(actor);

  // Where the reports go; checked now, not after the drill.
  const std::string out = d.out.empty() ? "report" : d.out;
  std::string dir;
  if (absl::EndsWith(out, "/") || IsDirectory(out)) {
    dir = out;
    if (!absl::EndsWith(dir, "/")) dir += "/";
    plan.json_path = dir + "report.json";
    plan.html_path = dir + "report.html";
  } else {
    const size_t slash = out.rfind('/');
    dir = slash == std::string::npos ? "." : out.substr(0, slash + 1);
    plan.json_path = out + ".json";
    plan.html_path = out + ".html";
  }
  if (!IsDirectory(dir) || access(dir.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out ", out, ": the directory ", dir,
                     " does not exist or is not writable; create it or pass another --out "
                     "(a directory ending in /, or a file prefix)"));
  }
  return plan;
}

absl::StatusOr<DrillOutcome> RunDrill(Backend& backend, const DrillPlan& plan,
                                      const DrillStop& stop, std::ostream& log) {
  Drill drill(backend, plan, stop, log);
  return drill.Run();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view text) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace degrade::ctl
