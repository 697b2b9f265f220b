// degradectl's command line (see ctl_args.h).
#include "ctl_args.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctl_backend.h"
#include "ctl_strings.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"

namespace degrade::ctl {
namespace {

constexpr std::array<Command, 12> kCommands = {{
    {"list", "", "every switch: state, deciding layer, reason, expiry, counters",
     "Lists every switch the service knows: its effective state, the layer that\n"
     "decided it, the reason, actor and expiry of that setting, and how many calls\n"
     "went through it and fell back. Then the health of the service's sources.\n"
     "Switches that a layer names but the service does not define are marked *.\n",
     0, 0, kNoOptions, false},
    {"get", "NAME", "one switch in full: description, every layer's setting, counters",
     "Shows one switch: description, owner, groups, environment variable, the\n"
     "effective state and fault with the layers that decided them, what every\n"
     "layer says about it, and its counters.\n",
     1, 1, kNoOptions, false},
    {"on", "NAME", "call the dependency again (admin override)",
     "Turns the switch on through the admin layer, above every other layer: the\n"
     "service calls the dependency again. Use 'clear' instead to hand the decision\n"
     "back to the lower layers (file, environment, remote, breaker).\n",
     1, 1, kActorOption | kWriteOptions, true},
    {"off", "NAME", "skip the dependency; callers use their fallback",
     "Turns the switch off through the admin layer, above every other layer: the\n"
     "service stops calling the dependency and uses its fallback. Give a reason\n"
     "(an incident id) and a TTL so the override ends by itself:\n"
     "  degradectl off recommendations --reason \"INC-42 vendor 5xx\" --ttl 30m\n",
     1, 1, kActorOption | kWriteOptions, true},
    {"allow", "NAME FRACTION", "let a fraction of calls through: 0.25 or 25%",
     "Turns the switch on for a fraction of calls (a dimmer), through the admin\n"
     "layer; the rest use the fallback. FRACTION: a number in [0, 1] (0.25) or a\n"
     "percentage (25%). 'allow NAME 100%' is plain on.\n",
     2, 2, kActorOption | kWriteOptions, true},
    {"fault", "NAME error|delay|off", "inject a fault for a drill, or hide one",
     "Injects a fault through the admin layer, for drills: 'error' makes the\n"
     "wrapped call fail (the fallback runs), 'delay' delays it by --delay-ms\n"
     "before it runs; on --rate of the calls (default 1 = all). The switch's\n"
     "state is left to the other layers. A fault ends by itself after --ttl\n"
     "(default 10m, at most 24h). 'fault NAME off' hides faults set by lower\n"
     "layers. Every write replaces the switch's admin entry, so 'fault' replaces\n"
     "an admin on/off and 'on'/'off' end an admin fault.\n"
     "  degradectl fault payments.fraud-score delay --delay-ms 800 --rate 50%\n",
     2, 2, kActorOption | kWriteOptions | kFaultOptions, true},
    {"clear", "NAME", "remove the admin override; lower layers decide again",
     "Removes the switch's admin-layer entry (on, off, allow or fault): the file,\n"
     "environment, remote and breaker layers decide again. --reason is recorded\n"
     "in the service's change event (default: what was cleared).\n",
     1, 1, kActorOption | kReasonOption, true},
    {"shed", "N|clear", "shed every switch of tier N or higher; 'clear' ends it",
     "Sheds by tier through the admin layer (docs/shedding.md): every switch whose\n"
     "tier is N or higher (9 is shed first, 1 last; tier 0 never) is off, unless\n"
     "the admin layer sets the switch or one of its groups. N: an integer from 1\n"
     "to 9; a new level replaces the previous one. 'shed clear' ends it (the other\n"
     "layers decide again). Give a reason and a TTL so it ends by itself:\n"
     "  degradectl shed 7 --reason \"INC-7 db saturated\" --ttl 30m\n"
     "  degradectl shed clear\n"
     "With --etcd, writes (or deletes) the key PREFIX/shed that every instance\n"
     "watching the prefix sheds by.\n",
     1, 1, kActorOption | kWriteOptions, true},
    {"governor", "off|on|cap N|clear", "turn the automatic brownout off or on, or cap its tiers",
     "The governor (docs/governor.md) dims tiered switches by itself when the\n"
     "service's latency passes its target. Through the admin layer: 'off' stops it\n"
     "acting at once (the switches it dimmed come back); 'on' lets it act again,\n"
     "over a lower layer's off; 'cap N' keeps it away from tiers below N (1-9);\n"
     "'clear' removes the admin layer's say (the other layers decide again).\n"
     "  degradectl governor off --reason \"INC-9 investigating\" --ttl 1h\n"
     "  degradectl governor cap 7\n"
     "With --etcd, writes (or deletes) the key PREFIX/governor instead.\n",
     1, 2, kActorOption | kWriteOptions, true},
    {"inventory", "", "every declared switch: owner, groups, breaker, description",
     "Lists every switch the service declares (the inventory of its non-essential\n"
     "dependencies): the owner to call, its groups, whether it has a breaker, its\n"
     "environment variable and its description. Names a layer mentions but the\n"
     "service does not define are left out. Then the switches without an owner or\n"
     "a description, which an on-call engineer cannot judge in an incident.\n",
     0, 0, kNoOptions, false},
    {"drill", "", "fire drill: inject a fault, measure detection and recovery, report",
     "Rehearses an incident on a running service and measures it:\n"
     "  1. probes --probe URL (the essential endpoint) for --baseline;\n"
     "  2. injects the fault into --switch through the admin endpoint, with a TTL a\n"
     "     little longer than --duration, so a killed drill still ends by itself;\n"
     "  3. for --duration, probes the URL and reads the switch every --interval:\n"
     "     time to detect (breaker open or switch off by any layer), and the\n"
     "     essential path's success ratio and latency during the fault;\n"
     "  4. clears the fault (always: also on Ctrl-C, SIGTERM or an error), then\n"
     "     watches until the breaker is closed and primary calls succeed again\n"
     "     (time to recover), at most --recover-timeout;\n"
     "  5. writes report.json and report.html (a timeline plot and the figures).\n"
     "The switch must be on, without an admin entry and without a fault.\n"
     "With --expect-*, exits 1 when an objective is missed (for CI and schedules).\n"
     "  degradectl drill --admin http://127.0.0.1:9901 --switch recommendations \\\n"
     "      --fault error --probe http://127.0.0.1:8080/checkout --duration 30s \\\n"
     "      --expect-detect-under 5s --expect-success-over 0.99 --out drills/\n",
     0, 0, kActorOption | kWriteOptions | kFaultOptions | kDrillOptions, true},
    {"watch", "", "print each change as it happens, until Ctrl-C",
     "Prints one line per change as it happens: the time, the switch, the old and\n"
     "new state, the deciding layer, who did it and why. --json prints one JSON\n"
     "object per line instead: the service's own change lines (DEGRADE_LOG_CHANGES),\n"
     "the same shape. Runs until Ctrl-C, --count N changes or --for DURATION.\n"
     "Over --admin, watch follows the service's change stream: every change with\n"
     "the time, actor and reason it recorded (events the service no longer holds\n"
     "are reported as missed). A service without one (an older version) has its\n"
     "listing read every 250 ms instead: a change is then stamped with the time it\n"
     "was seen, and a state that lasted less than that may be missed. With --etcd,\n"
     "watch follows etcd's own watch of the prefix: every put and delete of a key\n"
     "(switches/, groups/, all) as it happens, with its revision; the values are\n"
     "what etcd holds, not an instance's effective state.\n"
     "  degradectl watch --json | tee changes.jsonl\n",
     0, 0, kWatchOptions, false},
}};

constexpr std::string_view kUsageLine =
    "usage: degradectl [--admin URL] [--json] [--token-env VAR] COMMAND [ARGS] [OPTIONS]\n"
    "       degradectl --etcd [ENDPOINTS] [--prefix P] [--etcd-user USER] [--json] COMMAND [ARGS] "
    "[OPTIONS]\n"
    "       degradectl --version";

absl::Status Usage(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", AV(s), "\""); }

// Options that take a value, and the set they belong to (kNoOptions: global).
struct OptionInfo {
  std::string_view name;
  bool takes_value;
  unsigned set;  // OptionSet bits: the option is taken by commands with any of them
};
constexpr std::array<OptionInfo, 27> kOptions = {{
    {"--admin", true, kNoOptions},
    {"--etcd", true, kNoOptions},  // the value is optional: see ParseArgs
    {"--version", false, kNoOptions},
    {"--prefix", true, kNoOptions},
    {"--etcd-user", true, kNoOptions},
    {"--json", false, kNoOptions},
    {"--token-env", true, kNoOptions},
    {"--help", false, kNoOptions},
    {"--reason", true, kWriteOptions | kReasonOption},
    {"--ttl", true, kWriteOptions},
    {"--actor", true, kActorOption},
    {"--rate", true, kFaultOptions},
    {"--delay-ms", true, kFaultOptions},
    {"--switch", true, kDrillOptions},
    {"--fault", true, kDrillOptions},
    {"--probe", true, kDrillOptions},
    {"--duration", true, kDrillOptions},
    {"--baseline", true, kDrillOptions},
    {"--interval", true, kDrillOptions},
    {"--probe-timeout", true, kDrillOptions},
    {"--recover-timeout", true, kDrillOptions},
    {"--out", true, kDrillOptions},
    {"--expect-detect-under", true, kDrillOptions},
    {"--expect-success-over", true, kDrillOptions},
    {"--expect-recover-under", true, kDrillOptions},
    {"--count", true, kWatchOptions},
    {"--for", true, kWatchOptions},
}};

std::string CommandsTaking(OptionSet set) {
  std::vector<std::string> names;
  for (const Command& c : kCommands) {
    if (c.options & set) names.emplace_back(c.name);
  }
  return absl::StrJoin(names, ", ");
}

bool IsEnvVarName(std::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Reasons and actors end up in tables, logs and (the actor) an HTTP header.
absl::Status CheckText(std::string_view option, const std::string& text) {
  if (text.size() > kMaxReasonLength) {
    return Usage(absl::StrCat(AV(option), " is ", text.size(), " bytes; accepted: at most ",
                              kMaxReasonLength));
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Usage(absl::StrCat(AV(option),
                                " contains a control character (a newline?); accepted: one line "
                                "of text"));
    }
  }
  return absl::OkStatus();
}

// One drill option into `drill`; its value checked (ranges in the help).
absl::Status ParseDrillOption(const std::string& name, const std::string& value,
                              DrillFlags& drill) {
  const auto duration = [&](absl::Duration min, absl::Duration max,
                            std::optional<absl::Duration>& out) -> absl::Status {
    absl::StatusOr<absl::Duration> d = ParseDrillDuration(value, name, min, max);
    if (!d.ok()) return d.status();
    out = *d;
    return absl::OkStatus();
  };
  if (name == "--switch") {
    if (absl::Status s = ValidateName(value, "--switch"); !s.ok()) return Usage(SV(s.message()));
    drill.switch_name = value;
  } else if (name == "--fault") {
    if (value != "error" && value != "delay") {
      return Usage(absl::StrCat("--fault ", Quote(value),
                                " is not a drill fault; accepted: error, delay (with --delay-ms N)"));
    }
    drill.fault_kind = value;
  } else if (name == "--probe") {
    absl::StatusOr<HttpUrl> url = ParseHttpUrl(value, "--probe");
    if (!url.ok()) return Usage(SV(url.status().message()));
    drill.probe_url = value;
  } else if (name == "--duration") {
    return duration(absl::Seconds(1), absl::Hours(12), drill.duration);
  } else if (name == "--baseline") {
    return duration(absl::ZeroDuration(), absl::Hours(1), drill.baseline);
  } else if (name == "--interval") {
    return duration(absl::Milliseconds(20), absl::Seconds(10), drill.interval);
  } else if (name == "--probe-timeout") {
    return duration(absl::Milliseconds(10), absl::Seconds(60), drill.probe_timeout);
  } else if (name == "--recover-timeout") {
    return duration(absl::Seconds(1), absl::Hours(1), drill.recover_timeout);
  } else if (name == "--out") {
    if (value.empty()) {
      return Usage("--out needs a directory (ending in /, or existing) or a file prefix");
    }
    drill.out = value;
  } else if (name == "--expect-detect-under") {
    return duration(absl::Milliseconds(1), absl::Hours(24), drill.expect_detect_under);
  } else if (name == "--expect-recover-under") {
    return duration(absl::Milliseconds(1), absl::Hours(24), drill.expect_recover_under);
  } else if (name == "--expect-success-over") {
    absl::StatusOr<double> r = ParseFraction(value, "--expect-success-over");
    if (!r.ok()) return r.status();
    drill.expect_success_over = *r;
  }
  return absl::OkStatus();
}

// What a drill needs beyond each option's own check.
absl::Status CheckDrill(const Invocation& inv) {
  const DrillFlags& d = inv.drill;
  std::vector<std::string> missing;
  if (d.switch_name.empty()) missing.emplace_back("--switch NAME");
  if (d.fault_kind.empty()) missing.emplace_back("--fault error|delay");
  if (d.probe_url.empty()) missing.emplace_back("--probe URL (the service's essential endpoint)");
  if (!missing.empty()) {
    return Usage(absl::StrCat("drill needs ", absl::StrJoin(missing, ", ")));
  }
  if (d.fault_kind == "delay" && (!inv.delay_ms || *inv.delay_ms < 1)) {
    return Usage("drill --fault delay needs --delay-ms N with N from 1 to 600000");
  }
  if (inv.ttl_s) {
    return Usage("--ttl does not apply to drill: the fault's TTL is --duration plus a margin, "
                 "so that a killed drill still ends by itself");
  }
  const absl::Duration duration = d.duration.value_or(kDrillDefaultDuration);
  const absl::Duration interval = d.interval.value_or(kDrillDefaultInterval);
  if (interval * 2 > duration) {
    return Usage(absl::StrCat("--interval ", absl::FormatDuration(interval),
                              " is too long for --duration ", absl::FormatDuration(duration),
                              "; accepted: at most half the duration"));
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const Command> Commands() { return kCommands; }

absl::StatusOr<absl::Duration> ParseDrillDuration(std::string_view text, std::string_view what,
                                                  absl::Duration min, absl::Duration max) {
  const auto bad = [&] {
    return Usage(absl::StrCat(AV(what), " ", Quote(text),
                              " is not valid; accepted: a duration like 250ms, 1.5s, 2m, 1h or "
                              "plain seconds (90), from ",
                              absl::FormatDuration(min), " to ", absl::FormatDuration(max)));
  };
  size_t digits = 0;
  bool dot = false;
  while (digits < text.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(text[digits])) ||
          (text[digits] == '.' && !dot))) {
    dot = dot || text[digits] == '.';
    ++digits;
  }
  if (digits == 0 || digits > 12 || text[0] == '.' || text[digits - 1] == '.') return bad();
  double number = 0;
  if (!absl::SimpleAtod(AV(text.substr(0, digits)), &number) || !std::isfinite(number)) {
    return bad();
  }
  const std::string_view unit = text.substr(digits);
  absl::Duration d;
  if (unit == "ms") {
    d = absl::Milliseconds(number);
  } else if (unit.empty() || unit == "s") {
    d = absl::Seconds(number);
  } else if (unit == "m") {
    d = absl::Minutes(number);
  } else if (unit == "h") {
    d = absl::Hours(number);
  } else {
    return bad();
  }
  if (d < min || d > max) return bad();
  return d;
}


const Command* FindCommand(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

absl::StatusOr<double> ParseFraction(std::string_view text, std::string_view what) {
  std::string_view number = text;
  const bool percent = absl::EndsWith(AV(number), "%");
  if (percent) number.remove_suffix(1);
  double value = 0;
  // SimpleAtod takes blanks, "inf" and "nan": none of them is a fraction.
  const bool parsed = !number.empty() &&
                      !absl::ascii_isspace(static_cast<unsigned char>(number.front())) &&
                      !absl::ascii_isspace(static_cast<unsigned char>(number.back())) &&
                      absl::SimpleAtod(AV(number), &value) && std::isfinite(value);
  if (parsed && percent) value /= 100.0;
  if (!parsed || value < 0.0 || value > 1.0) {
    return Usage(absl::StrCat(AV(what), " ", Quote(text),
                              " is not a fraction; accepted: a number from 0 to 1 (0.25) or a "
                              "percentage from 0% to 100% (25%)"));
  }
  return value;
}

absl::StatusOr<int64_t> ParseDuration(std::string_view text, std::string_view what) {
  constexpr int64_t kMax = int64_t{30} * 24 * 3600;
  const auto bad = [&] {
    return Usage(absl::StrCat(AV(what), " ", Quote(text),
                              " is not a duration; accepted: 30s, 15m, 2h, 1d, 1h30m or plain "
                              "seconds (90), more than 0 and at most 30d"));
  };
  int64_t total = 0;
  bool had_unit = false;
  std::string_view rest = text;
  if (rest.empty()) return bad();
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
      ++digits;
    }
    if (digits == 0 || digits > 9) return bad();
    int64_t n = 0;
    if (!absl::SimpleAtoi(AV(rest.substr(0, digits)), &n)) return bad();
    rest.remove_prefix(digits);
    int64_t unit = 1;
    if (rest.empty()) {
      if (had_unit) return bad();  // "1h30" is ambiguous
    } else {
      switch (rest.front()) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          return bad();
      }
      rest.remove_prefix(1);
      had_unit = true;
    }
    total += n * unit;
    if (total > kMax) return bad();
  }
  if (total <= 0) return bad();
  return total;
}

absl::StatusOr<Invocation> ParseArgs(std::span<const std::string> args) {
  Invocation inv;
  std::vector<std::string> positionals;
  std::vector<std::string> used_names;  // for "does not apply" messages
  bool named_help = false;              // `degradectl help [CMD]`

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      const auto rest = args.subspan(i + 1);
      positionals.insert(positionals.end(), rest.begin(), rest.end());
      break;
    }
    if (arg == "-h") {
      inv.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      positionals.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const OptionInfo* option = nullptr;
    for (const OptionInfo& o : kOptions) {
      if (o.name == name) option = &o;
    }
    if (option == nullptr) {
      std::vector<std::string> names;
      names.reserve(kOptions.size());
      for (const OptionInfo& o : kOptions) names.emplace_back(o.name);
      const std::string nearest = NearestName(name, names);
      return Usage(absl::StrCat("unknown option ", name,
                                nearest.empty() ? ";" : absl::StrCat("; did you mean ", nearest, "?"),
                                " options: --admin URL, --etcd [ENDPOINTS], --prefix P, "
                                "--etcd-user USER, --json, --token-env VAR, --version, --reason TEXT, "
                                "--ttl DURATION, --actor NAME, --rate R, --delay-ms N, --help; "
                                "watch: --count N, --for DURATION; "
                                "drill: --switch, --fault, --probe, --duration, --baseline, "
                                "--interval, --probe-timeout, --recover-timeout, --out, "
                                "--expect-detect-under, --expect-success-over, "
                                "--expect-recover-under"));
    }
    std::string value;
    if (name == "--etcd" && eq == std::string::npos) {
      // A value unless what follows is an option, a command or nothing: an
      // endpoint is never a bare command word.
      if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "-") &&
          FindCommand(args[i + 1]) == nullptr && args[i + 1] != "help") {
        value = args[++i];
      }
      inv.etcd_flag = true;
      inv.etcd_endpoints = value;
      continue;
    }
    if (option->takes_value) {
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Usage(absl::StrCat(name, " needs a value"));
      }
    } else if (eq != std::string::npos) {
      return Usage(absl::StrCat(name, " takes no value"));
    }
    if (option->set != kNoOptions) used_names.push_back(name);

    if (name == "--help") {
      inv.help = true;
    } else if (name == "--json") {
      inv.json = true;
    } else if (name == "--admin") {
      if (value.empty()) return Usage("--admin needs a URL, e.g. http://127.0.0.1:9090");
      inv.admin_url = value;
    } else if (name == "--etcd") {  // --etcd=VALUE
      if (value.empty()) {
        return Usage("--etcd= needs the etcd members, e.g. --etcd=127.0.0.1:2379 "
                     "(comma-separated); or --etcd alone for DEGRADE_ETCD_ENDPOINTS");
      }
      inv.etcd_flag = true;
      inv.etcd_endpoints = value;
    } else if (name == "--version") {
      inv.version = true;
    } else if (name == "--prefix") {
      if (value.empty() || value.find_first_not_of('/') == std::string::npos) {
        return Usage(absl::StrCat("--prefix ", Quote(value),
                                  " is not a key prefix; accepted: the DEGRADE_ETCD_PREFIX the "
                                  "instances watch, e.g. /degrade/shop"));
      }
      inv.prefix = value;
    } else if (name == "--etcd-user") {
      if (value.empty()) return Usage("--etcd-user needs a user name");
      inv.etcd_user = value;
    } else if (name == "--token-env") {
      if (!IsEnvVarName(value)) {
        return Usage(absl::StrCat("--token-env ", Quote(value),
                                  " is not a variable name; accepted: [A-Za-z_][A-Za-z0-9_]*"));
      }
      inv.token_env = value;
    } else if (name == "--reason") {
      if (absl::Status s = CheckText("--reason", value); !s.ok()) return s;
      inv.reason = value;
    } else if (name == "--actor") {
      if (value.empty()) return Usage("--actor needs a name");
      if (absl::Status s = CheckText("--actor", value); !s.ok()) return s;
      inv.actor = value;
    } else if (name == "--ttl") {
      absl::StatusOr<int64_t> ttl = ParseDuration(value, "--ttl");
      if (!ttl.ok()) return ttl.status();
      inv.ttl_s = *ttl;
    } else if (name == "--rate") {
      absl::StatusOr<double> rate = ParseFraction(value, "--rate");
      if (!rate.ok()) return rate.status();
      inv.rate = *rate;
    } else if (name == "--delay-ms") {
      int64_t ms = -1;
      if (!absl::SimpleAtoi(value, &ms) || ms < 0 || ms > kMaxFaultDelayMs ||
          absl::ascii_isspace(value.front())) {
        return Usage(absl::StrCat("--delay-ms ", Quote(value),
                                  " is not valid; accepted: a whole number of milliseconds from "
                                  "0 to ",
                                  kMaxFaultDelayMs, " (at least 1 for delay)"));
      }
      inv.delay_ms = ms;
    } else if (option->set == kDrillOptions) {
      if (absl::Status s = ParseDrillOption(name, value, inv.drill); !s.ok()) return s;
    } else if (name == "--count") {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || n < 1 || n > kMaxWatchCount ||
          absl::ascii_isspace(value.front())) {
        return Usage(absl::StrCat("--count ", Quote(value),
                                  " is not valid; accepted: a whole number of changes from 1 to ",
                                  kMaxWatchCount));
      }
      inv.count = n;
    } else if (name == "--for") {
      absl::StatusOr<int64_t> seconds = ParseDuration(value, "--for");
      if (!seconds.ok()) return seconds.status();
      inv.for_s = *seconds;
    }
  }

  if (inv.version) return inv;  // `degradectl --version`, whatever else was said

  // The command, or `help [COMMAND]`.
  if (!positionals.empty() && positionals.front() == "help") {
    named_help = true;
    inv.help = true;
    positionals.erase(positionals.begin());
  }
  if (positionals.empty()) {
    if (inv.help) return inv;
    return Usage("no command given");
  }
  inv.command = FindCommand(positionals.front());
  if (inv.command == nullptr) {
    std::vector<std::string> names;
    names.reserve(std::size(kCommands) + 1);
    for (const Command& c : kCommands) names.emplace_back(c.name);
    names.emplace_back("help");
    const std::string nearest = NearestName(positionals.front(), names);
    return Usage(absl::StrCat("unknown command ", Quote(positionals.front()),
                              nearest.empty() ? ";" : absl::StrCat("; did you mean ", Quote(nearest), "?"),
                              " commands: ", absl::StrJoin(names, ", ")));
  }
  positionals.erase(positionals.begin());
  if (named_help && !positionals.empty()) {
    return Usage("help takes at most one command name");
  }
  if (inv.help) return inv;  // `off --help` needs no NAME

  const Command& cmd = *inv.command;
  const int n = static_cast<int>(positionals.size());
  if (n < cmd.min_args) {
    return Usage(absl::StrCat(AV(cmd.name), " needs ", AV(cmd.args), " (", n, " given)"));
  }
  if (n > cmd.max_args) {
    return Usage(
        absl::StrCat(AV(cmd.name), " takes ",
                     cmd.args.empty() ? std::string("no arguments") : std::string(cmd.args),
                     "; unexpected ", Quote(positionals[cmd.max_args])));
  }
  for (const std::string& option : used_names) {
    unsigned set = 0;
    for (const OptionInfo& o : kOptions) {
      if (o.name == option) set = o.set;
    }
    if (!(cmd.options & set)) {
      return Usage(absl::StrCat(option, " does not apply to ", AV(cmd.name),
                                "; it applies to: ", CommandsTaking(static_cast<OptionSet>(set))));
    }
  }
  if (cmd.name == "shed") {
    const std::string& level = positionals[0];
    if (level == "clear") {
      if (inv.ttl_s) return Usage("shed clear takes no --ttl; it ends the shed now");
    } else if (level.size() != 1 || level[0] < '1' || level[0] > '9') {
      return Usage(absl::StrCat("shed level ", Quote(level),
                                " is not valid; accepted: an integer from 1 to 9 (every switch "
                                "of that tier or higher is shed), or clear"));
    }
  } else if (cmd.name == "governor") {
    const std::string& what = positionals[0];
    const bool cap = what == "cap";
    if (what != "off" && what != "on" && what != "clear" && !cap) {
      return Usage(absl::StrCat("governor ", Quote(what),
                                " is not valid; accepted: off, on, cap N (N from 1 to 9), clear"));
    }
    if (cap && n != 2) return Usage("governor cap needs a tier: an integer from 1 to 9");
    if (cap && (positionals[1].size() != 1 || positionals[1][0] < '1' || positionals[1][0] > '9')) {
      return Usage(absl::StrCat("governor cap ", Quote(positionals[1]),
                                " is not valid; accepted: an integer tier from 1 to 9 (the "
                                "governor dims no switch of a lower tier)"));
    }
    if (!cap && n != 1) {
      return Usage(absl::StrCat("governor ", what, " takes nothing more; unexpected ",
                                Quote(positionals[1])));
    }
    if (what == "clear" && inv.ttl_s) {
      return Usage("governor clear takes no --ttl; it removes the admin layer's say now");
    }
  } else if (n >= 1) {
    if (absl::Status s = ValidateName(positionals[0], "switch name"); !s.ok()) {
      return Usage(SV(s.message()));
    }
  }
  if (cmd.name == "allow") {
    absl::StatusOr<double> allow = ParseFraction(positionals[1], "FRACTION");
    if (!allow.ok()) return allow.status();
  }
  if (cmd.name == "fault") {
    const std::string& kind = positionals[1];
    if (kind != "error" && kind != "delay" && kind != "off") {
      return Usage(absl::StrCat("fault kind ", Quote(kind),
                                " is not valid; accepted: error, "
                                "delay (with --delay-ms N), off"));
    }
    if (kind == "off" && (inv.rate || inv.delay_ms)) {
      return Usage("fault NAME off takes no --rate or --delay-ms");
    }
    if (kind == "delay" && (!inv.delay_ms || *inv.delay_ms < 1)) {
      return Usage("fault NAME delay needs --delay-ms N with N from 1 to 600000");
    }
    if (kind != "off" && inv.ttl_s && *inv.ttl_s > kMaxFaultTtlS) {
      return Usage(absl::StrCat("--ttl ", *inv.ttl_s,
                                "s is too long for a fault; accepted: at most 24h, so a "
                                "forgotten drill ends by itself"));
    }
  }
  if (cmd.name == "drill") {
    if (absl::Status s = CheckDrill(inv); !s.ok()) return s;
  }
  inv.args = std::move(positionals);
  return inv;
}

absl::Status ChoosePlane(Invocation& inv, const PlaneEnv& env) {
  if (!inv.admin_url.empty() && inv.etcd_flag) {
    return Usage("--admin and --etcd both given; accepted: one control plane, the admin endpoint "
                 "of one instance (--admin) or the etcd that every instance watches (--etcd)");
  }
  if (inv.etcd_flag) {
    inv.etcd = true;
    if (inv.etcd_endpoints.empty()) {
      if (env.etcd_endpoints.empty()) {
        return Usage("--etcd without endpoints reads DEGRADE_ETCD_ENDPOINTS, which is not set; "
                     "pass --etcd HOST:PORT,... (or http(s)://HOST:PORT) or set it");
      }
      inv.etcd_endpoints = env.etcd_endpoints;
      inv.etcd_endpoints_from = "DEGRADE_ETCD_ENDPOINTS";
    }
  } else if (inv.admin_url.empty()) {
    // No flag: degradectl's own variable first (one instance), then the
    // instances' etcd variable (the fleet).
    if (!env.admin_url.empty()) {
      inv.admin_url = env.admin_url;
    } else if (!env.etcd_endpoints.empty()) {
      inv.etcd = true;
      inv.etcd_endpoints = env.etcd_endpoints;
      inv.etcd_endpoints_from = "DEGRADE_ETCD_ENDPOINTS";
    } else if (inv.prefix.empty() && inv.etcd_user.empty()) {
      return Usage(
          "no control plane given: pass --admin http://127.0.0.1:PORT (the service's "
          "DEGRADE_ADMIN_ADDR) or set DEGRADE_ADMIN_URL; or --etcd ENDPOINTS --prefix P (or set "
          "DEGRADE_ETCD_ENDPOINTS and DEGRADE_ETCD_PREFIX) for every instance watching etcd");
    }
  }
  if (!inv.etcd && (!inv.prefix.empty() || !inv.etcd_user.empty())) {
    return Usage(absl::StrCat(!inv.prefix.empty() ? "--prefix" : "--etcd-user",
                              " applies to etcd only: pass --etcd ENDPOINTS too (or --etcd alone "
                              "with DEGRADE_ETCD_ENDPOINTS set)",
                              inv.admin_url.empty() ? "" : ", not an admin endpoint"));
  }
  if (inv.etcd && inv.command != nullptr &&
      (inv.command->name == "drill" || inv.command->name == "inventory")) {
    // etcd holds settings, not what a service declares or how it answers.
    return Usage(absl::StrCat(AV(inv.command->name),
                              " talks to one service: pass --admin URL (its DEGRADE_ADMIN_ADDR), "
                              "not --etcd",
                              inv.etcd_flag ? "" : " (DEGRADE_ETCD_ENDPOINTS chose etcd)"));
  }
  return absl::OkStatus();
}

std::string NearestName(std::string_view input, std::span<const std::string> names) {
  const size_t reach = input.size() <= 4 ? 1 : input.size() <= 8 ? 2 : input.size() / 4;
  std::string best;
  size_t best_distance = reach + 1;
  for (const std::string& name : names) {
    // Optimal string alignment distance over three rows.
    const size_t n = input.size(), m = name.size();
    if ((n > m ? n - m : m - n) >= best_distance) continue;
    std::vector<size_t> two_back(m + 1), prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; ++j) prev[j] = j;
    for (size_t i = 1; i <= n; ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= m; ++j) {
        const size_t cost = input[i - 1] == name[j - 1] ? 0 : 1;
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
        if (i > 1 && j > 1 && input[i - 1] == name[j - 2] && input[i - 2] == name[j - 1]) {
          cur[j] = std::min(cur[j], two_back[j - 2] + 1);
        }
      }
      std::swap(two_back, prev);
      std::swap(prev, cur);
    }
    if (prev[m] < best_distance) {
      best_distance = prev[m];
      best = name;
    }
  }
  return best;
}

nlohmann::json WriteBody(const Invocation& inv, std::string_view actor) {
  nlohmann::json body = nlohmann::json::object();
  const std::string_view cmd = inv.command->name;
  std::optional<int64_t> ttl = inv.ttl_s;
  if (cmd == "on") {
    body["state"] = "on";
  } else if (cmd == "off") {
    body["state"] = "off";
  } else if (cmd == "allow") {
    body["state"] = "on";
    body["allow"] = *ParseFraction(inv.args[1], "FRACTION");  // checked by ParseArgs
  } else if (cmd == "fault") {
    const std::string& kind = inv.args[1];
    if (kind == "off") {
      body["fault"] = "off";
    } else {
      nlohmann::json fault = {{"kind", kind}, {"rate", inv.rate.value_or(1.0)}};
      if (inv.delay_ms) fault["delay_ms"] = *inv.delay_ms;
      body["fault"] = std::move(fault);
      if (!ttl) ttl = kDefaultFaultTtlS;
    }
  }
  if (inv.reason) body["reason"] = *inv.reason;
  if (!actor.empty()) body["actor"] = std::string(actor);
  if (ttl) body["ttl_s"] = *ttl;
  return body;
}

nlohmann::json ShedBody(const Invocation& inv, std::string_view actor) {
  nlohmann::json body = {{"level", inv.args[0][0] - '0'}};  // checked by ParseArgs
  if (inv.reason) body["reason"] = *inv.reason;
  if (!actor.empty()) body["actor"] = std::string(actor);
  if (inv.ttl_s) body["ttl_s"] = *inv.ttl_s;
  return body;
}

nlohmann::json GovernorBody(const Invocation& inv, std::string_view actor) {
  nlohmann::json body = nlohmann::json::object();
  const std::string& what = inv.args[0];  // checked by ParseArgs
  if (what == "cap") {
    body["cap"] = inv.args[1][0] - '0';
  } else {
    body["enabled"] = what == "on";
  }
  if (inv.reason) body["reason"] = *inv.reason;
  if (!actor.empty()) body["actor"] = std::string(actor);
  if (inv.ttl_s) body["ttl_s"] = *inv.ttl_s;
  return body;
}

absl::StatusOr<std::string> CleanToken(std::string_view raw, std::string_view var) {
  const absl::string_view token = absl::StripAsciiWhitespace(AV(raw));
  for (size_t i = 0; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x20 || c == 0x7f) {
      return Usage(absl::StrCat(AV(var), " contains a control character (byte ", i + 1,
                                " of the token without surrounding whitespace); accepted: the "
                                "token on one line, printable characters only"));
    }
  }
  return std::string(token);
}

std::string TokenEnvFromArgs(std::span<const std::string> args) {
  std::string var = "DEGRADE_ADMIN_TOKEN";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    std::string value;
    if (args[i] == "--token-env" && i + 1 < args.size()) {
      value = args[++i];
    } else if (absl::StartsWith(args[i], "--token-env=")) {
      value = args[i].substr(std::string_view("--token-env=").size());
    } else {
      continue;
    }
    if (IsEnvVarName(value)) var = value;
  }
  return var;
}

absl::Status CheckTokenNotInArgs(std::span<const std::string> args, std::string_view token,
                                 std::string_view var) {
  if (token.empty()) return absl::OkStatus();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const size_t eq = arg.find('=');
    const bool is_value = absl::StartsWith(arg, "--") && eq != std::string::npos &&
                          std::string_view(arg).substr(eq + 1) == token;
    if (arg == token || is_value) {
      return Usage(absl::StrCat(
          "argument ", i + 1, " is the admin token in ", AV(var),
          ": the token is read from the environment only, never from the command line (ps and "
          "shell history keep it); remove it from the arguments. Nothing was sent"));
    }
  }
  return absl::OkStatus();
}

std::string GeneralHelp() {
  std::string out = absl::StrCat(
      "degradectl: turn a service's non-essential dependencies off and on, from its admin\n"
      "endpoint. The service keeps its essential path working with fallbacks.\n\n",
      AV(kUsageLine), "\n\ncommands:\n");
  for (const Command& c : kCommands) {
    std::string head = absl::StrCat(AV(c.name), c.args.empty() ? "" : " ", AV(c.args));
    head.resize(std::max<size_t>(head.size() + 2, 28), ' ');
    absl::StrAppend(&out, "  ", head, AV(c.summary), "\n");
  }
  absl::StrAppend(
      &out,
      "  help [COMMAND]              this text, or one command's (also: COMMAND --help)\n\n"
      "global options:\n"
      "  --admin URL       the service's admin endpoint: http://127.0.0.1:PORT, the address\n"
      "                    it was started with in DEGRADE_ADMIN_ADDR. Default: $DEGRADE_ADMIN_URL\n"
      "  --json            print the service's JSON unchanged (for scripts)\n"
      "  --token-env VAR   the environment variable holding the admin token for writes.\n"
      "                    Default: DEGRADE_ADMIN_TOKEN. The token is never a flag.\n"
      "  --version         print degradectl's (the library's) version\n\n"
      "fleet-wide, through etcd (instead of --admin):\n"
      "  --etcd [ENDPOINTS] etcd members, comma-separated: 10.0.0.1:2379 (http) or\n"
      "                    http(s)://HOST:PORT, no path. Alone (followed by an option or\n"
      "                    the command): $DEGRADE_ETCD_ENDPOINTS, which is also used\n"
      "                    without --admin and --etcd when DEGRADE_ADMIN_URL is unset.\n"
      "                    Commands read and write the keys PREFIX/switches/NAME that every\n"
      "                    instance with DEGRADE_ETCD_PREFIX=P watches; list and get show\n"
      "                    what etcd holds, not one instance's effective state\n"
      "  --prefix P        the instances' DEGRADE_ETCD_PREFIX. Default: $DEGRADE_ETCD_PREFIX\n"
      "  --etcd-user USER  etcd authentication; the password is read from\n"
      "                    DEGRADE_ETCD_PASSWORD. Default: $DEGRADE_ETCD_USER\n"
      "                    (https members: CA bundle from $DEGRADE_ETCD_CA_FILE)\n\n"
      "write options (on, off, allow, fault; clear takes --actor):\n"
      "  --reason TEXT     why, shown to everyone (an incident id)\n"
      "  --ttl DURATION    the override ends by itself after 30s, 15m, 2h, 1d, 1h30m or N\n"
      "                    seconds (at most 30d; faults: default 10m, at most 24h)\n"
      "  --actor NAME      who did it. Default: your login name\n\n"
      "watch options:\n"
      "  --count N         stop after N changes\n"
      "  --for DURATION    stop after 30s, 15m, 2h, ... Default: until Ctrl-C\n\n"
      "exit status: 0 ok, 1 failure (refused, unreachable, server error), 2 usage error\n\n"
      "example:\n"
      "  export DEGRADE_ADMIN_URL=http://127.0.0.1:9090 DEGRADE_ADMIN_TOKEN=...\n"
      "  degradectl off recommendations --reason \"INC-42 vendor down\" --ttl 30m\n"
      "  degradectl list\n"
      "  degradectl clear recommendations\n");
  return out;
}

std::string CommandHelp(const Command& c) {
  if (c.options & kDrillOptions) {
    return absl::StrCat(
        "usage: degradectl [--admin URL] [--json] drill --switch NAME --fault error|delay\n"
        "         [--rate R] [--delay-ms N] --probe URL [--duration D] [--baseline D]\n"
        "         [--interval D] [--probe-timeout D] [--recover-timeout D] [--out DIR/|PREFIX]\n"
        "         [--expect-detect-under D] [--expect-success-over R] [--expect-recover-under D]\n"
        "         [--reason TEXT] [--actor NAME]\n\n",
        AV(c.help),
        "\noptions (D: 250ms, 1.5s, 2m, 1h or plain seconds):\n"
        "  --switch NAME            the switch whose dependency fails (required)\n"
        "  --fault error|delay      the fault to inject (required)\n"
        "  --rate R                 fraction of calls hit: 0.5 or 50% (default 1)\n"
        "  --delay-ms N             delay in ms (required for delay, 1 to 600000)\n"
        "  --probe URL              the essential endpoint to probe, e.g.\n"
        "                           http://127.0.0.1:8080/checkout; ok = 2xx in time (required)\n"
        "  --duration D             how long the fault lasts, 1s to 12h (default 60s)\n"
        "  --baseline D             probing before the fault, 0 to 1h (default 10s)\n"
        "  --interval D             sampling period of the probe and the switch,\n"
        "                           20ms to 10s (default 100ms)\n"
        "  --probe-timeout D        a slower probe failed, 10ms to 60s (default 1s)\n"
        "  --recover-timeout D      how long to wait for recovery after the fault,\n"
        "                           1s to 1h (default 2m)\n"
        "  --out DIR/|PREFIX        DIR/report.json and DIR/report.html, or PREFIX.json and\n"
        "                           PREFIX.html (default: report, in the current directory)\n"
        "  --expect-detect-under D  objective: time to detect below D\n"
        "  --expect-success-over R  objective: probe success during the fault above R\n"
        "  --expect-recover-under D objective: time to recover below D\n"
        "  --reason TEXT            shown on the fault (default: fire drill)\n"
        "  --actor NAME             who runs it (default: your login name)\n"
        "  --json                   print report.json to stdout instead of the summary\n"
        "  --admin URL              the admin endpoint (default: $DEGRADE_ADMIN_URL)\n"
        "  --token-env VAR          variable holding the admin token (default:\n"
        "                           DEGRADE_ADMIN_TOKEN)\n\n"
        "exit status: 0 done, every objective met; 1 an objective missed, the drill\n"
        "interrupted or refused, or the service unreachable; 2 usage error\n");
  }
  std::string out = absl::StrCat("usage: degradectl [--admin URL] [--json] ", AV(c.name),
                                 c.args.empty() ? "" : " ", AV(c.args));
  if (c.options & kWriteOptions) absl::StrAppend(&out, " [--reason TEXT] [--ttl DURATION]");
  if ((c.options & kReasonOption) && !(c.options & kWriteOptions)) {
    absl::StrAppend(&out, " [--reason TEXT]");
  }
  if (c.options & kFaultOptions) absl::StrAppend(&out, " [--rate R] [--delay-ms N]");
  if (c.options & kActorOption) absl::StrAppend(&out, " [--actor NAME]");
  if (c.options & kWatchOptions) absl::StrAppend(&out, " [--count N] [--for DURATION]");
  absl::StrAppend(&out, "\n\n", AV(c.help), "\noptions:\n");
  if (c.options & kWriteOptions) {
    absl::StrAppend(&out,
                    "  --reason TEXT     why, shown to everyone (an incident id)\n"
                    "  --ttl DURATION    ends by itself after 30s, 15m, 2h, 1d, 1h30m or N "
                    "seconds\n");
  }
  if ((c.options & kReasonOption) && !(c.options & kWriteOptions)) {
    absl::StrAppend(&out, "  --reason TEXT     why, shown to everyone (an incident id)\n");
  }
  if (c.options & kFaultOptions) {
    absl::StrAppend(&out,
                    "  --rate R          fraction of calls hit: 0.5 or 50% (default 1)\n"
                    "  --delay-ms N      delay in milliseconds (required for delay; with error,\n"
                    "                    a delay before failing)\n");
  }
  if (c.options & kActorOption) {
    absl::StrAppend(&out, "  --actor NAME      who did it (default: your login name)\n");
  }
  if (c.options & kWatchOptions) {
    absl::StrAppend(&out,
                    "  --count N         stop after N changes\n"
                    "  --for DURATION    stop after 30s, 15m, 2h, ... (default: until Ctrl-C)\n");
  }
  absl::StrAppend(&out,
                  "  --admin URL       the admin endpoint (default: $DEGRADE_ADMIN_URL)\n"
                  "  --etcd [ENDPOINTS] instead of --admin: the etcd every instance watches\n"
                  "                    (default: $DEGRADE_ETCD_ENDPOINTS), with --prefix P\n"
                  "                    (default: $DEGRADE_ETCD_PREFIX)\n",
                  c.name == "inventory"
                      ? "  --json            print the inventory as JSON: {\"switches\": [{\"name\", "
                        "\"description\",\n                    \"owner\", \"groups\", "
                        "\"env_var\", \"breaker\"}]}\n"
                      : "  --json            print the service's JSON unchanged\n");
  if (c.writes) {
    absl::StrAppend(&out,
                    "  --token-env VAR   variable holding the admin token (default: "
                    "DEGRADE_ADMIN_TOKEN)\n");
  }
  return out;
}

}  // namespace degrade::ctl
