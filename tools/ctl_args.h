// degradectl's command line: the command table, parsing into an Invocation,
// help texts, and the write bodies the commands send. Pure functions: no
// environment, no I/O, so every rule is testable without a server.
#ifndef DEGRADE_TOOLS_CTL_ARGS_H_
#define DEGRADE_TOOLS_CTL_ARGS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

// Which options a command takes (bit set).
enum OptionSet : unsigned {
  kNoOptions = 0,
  kActorOption = 1u << 0,   // --actor
  kWriteOptions = 1u << 1,  // --reason, --ttl
  kFaultOptions = 1u << 2,  // --rate, --delay-ms
  kDrillOptions = 1u << 3,  // --switch, --fault, --probe, --duration, ... (drill only)
  kWatchOptions = 1u << 4,  // --count, --for (watch only)
  kReasonOption = 1u << 5,  // --reason without --ttl (clear)
};

struct Command {
  std::string_view name;
  std::string_view args;     // "NAME FRACTION"
  std::string_view summary;  // one line, for the command list
  std::string_view help;     // paragraphs for `degradectl NAME --help`
  int min_args = 0;          // positionals after the command name
  int max_args = 0;
  unsigned options = kNoOptions;
  bool writes = false;  // needs the token
};

// Every command, in the order `degradectl help` shows them.
std::span<const Command> Commands();
const Command* FindCommand(std::string_view name);

// The options of `degradectl drill`, parsed and range-checked (see
// CommandHelp for drill). Unset: the drill's defaults (kDrill* below).
struct DrillFlags {
  std::string switch_name;  // --switch, required
  std::string fault_kind;   // --fault error|delay, required
  std::string probe_url;    // --probe, required
  std::string out;          // --out DIR/ or PREFIX; empty: "report"
  std::optional<absl::Duration> duration;         // --duration: how long the fault lasts
  std::optional<absl::Duration> baseline;         // --baseline (0 = none)
  std::optional<absl::Duration> interval;         // --interval: sampling period
  std::optional<absl::Duration> probe_timeout;    // --probe-timeout
  std::optional<absl::Duration> recover_timeout;  // --recover-timeout
  std::optional<absl::Duration> expect_detect_under;
  std::optional<double> expect_success_over;
  std::optional<absl::Duration> expect_recover_under;
};

inline constexpr absl::Duration kDrillDefaultDuration = absl::Seconds(60);
inline constexpr absl::Duration kDrillDefaultBaseline = absl::Seconds(10);
inline constexpr absl::Duration kDrillDefaultInterval = absl::Milliseconds(100);
inline constexpr absl::Duration kDrillDefaultProbeTimeout = absl::Seconds(1);
inline constexpr absl::Duration kDrillDefaultRecoverTimeout = absl::Seconds(120);

// A parsed command line. Options may come before or after the command.
struct Invocation {
  const Command* command = nullptr;  // null only when help was asked for
  std::vector<std::string> args;     // positionals after the command name
  bool help = false;                 // help for `command` (or general help)

  bool version = false;              // --version: print it, nothing else

  // Global options. ChoosePlane fills admin_url or etcd_endpoints from the
  // environment when the flags leave them open.
  std::string admin_url;             // --admin, or DEGRADE_ADMIN_URL
  bool etcd = false;                 // talk to etcd (--etcd, or DEGRADE_ETCD_ENDPOINTS)
  bool etcd_flag = false;            // --etcd was given, with or without a value
  std::string etcd_endpoints;        // comma-separated, as given (not yet checked)
  std::string etcd_endpoints_from = "--etcd";  // or DEGRADE_ETCD_ENDPOINTS, for messages
  std::string prefix;                             // --prefix; empty: DEGRADE_ETCD_PREFIX
  std::string etcd_user;                          // --etcd-user; empty: DEGRADE_ETCD_USER
  bool json = false;                              // --json
  std::string token_env = "DEGRADE_ADMIN_TOKEN";  // --token-env

  // Write options.
  std::optional<std::string> reason;
  std::optional<int64_t> ttl_s;
  std::optional<std::string> actor;
  // Fault options.
  std::optional<double> rate;
  std::optional<int64_t> delay_ms;
  // Drill options.
  DrillFlags drill;
  // Watch options: stop after this many changes / seconds.
  std::optional<int64_t> count;
  std::optional<int64_t> for_s;
};

// Parses argv[1..]. InvalidArgument (exit status 2) says what was wrong and
// what is accepted: an unknown command or option (with the nearest known one
// when there is one close enough), a missing or extra argument, an option
// the command does not take, a bad value.
//
// `--etcd` takes a value (`--etcd=E`, or the next argument) unless the next
// argument is missing, starts with '-', or is a command name or "help": then
// the endpoints come from DEGRADE_ETCD_ENDPOINTS (see ChoosePlane).
absl::StatusOr<Invocation> ParseArgs(std::span<const std::string> args);

// The control-plane variables of the environment, for ChoosePlane.
struct PlaneEnv {
  std::string admin_url;       // DEGRADE_ADMIN_URL
  std::string etcd_endpoints;  // DEGRADE_ETCD_ENDPOINTS
};

// Decides which control plane `inv` talks to, in this order: --admin URL;
// --etcd ENDPOINTS, or --etcd alone with DEGRADE_ETCD_ENDPOINTS; then, with
// neither flag, DEGRADE_ADMIN_URL; then DEGRADE_ETCD_ENDPOINTS. Sets
// inv.admin_url, or inv.etcd with inv.etcd_endpoints(_from). InvalidArgument
// for --admin with --etcd, --etcd alone without DEGRADE_ETCD_ENDPOINTS, no
// control plane at all, --prefix or --etcd-user for the admin endpoint, and
// drill or inventory through etcd (they talk to one service).
absl::Status ChoosePlane(Invocation& inv, const PlaneEnv& env);

// The name of `names` nearest to `input` by edit distance (insertions,
// deletions, substitutions and swaps of neighbours count one each), when it
// is close enough to be a typo: at most 1 edit for inputs of up to 4
// characters, 2 up to 8, then a quarter of the length. Empty when none is;
// the first of equally near names.
std::string NearestName(std::string_view input, std::span<const std::string> names);

// "0.25" or "25%" -> 0.25. Accepted: a number in [0, 1] or a percentage in
// [0%, 100%]. `what` starts the message ("FRACTION", "--rate").
absl::StatusOr<double> ParseFraction(std::string_view text, std::string_view what);

// "30s", "15m", "2h", "1d", "1h30m" or plain seconds "90" -> seconds.
// Accepted: more than 0 and at most 30 days (the service's ttl_s limit).
absl::StatusOr<int64_t> ParseDuration(std::string_view text, std::string_view what);

// "250ms", "1.5s", "2m", "1h" or plain seconds ("90", "0.5") -> a duration
// in [min, max]. `what` starts the message ("--duration").
absl::StatusOr<absl::Duration> ParseDrillDuration(std::string_view text, std::string_view what,
                                                  absl::Duration min, absl::Duration max);

// Faults set through degradectl end by themselves: DESIGN's drills must not
// outlive a forgotten terminal.
inline constexpr int64_t kDefaultFaultTtlS = int64_t{10} * 60;
inline constexpr int64_t kMaxFaultTtlS = int64_t{24} * 60 * 60;

// The largest `watch --count`.
inline constexpr int64_t kMaxWatchCount = 1'000'000'000;

// The switch value a write command sends (DESIGN section 3), with reason,
// actor and ttl_s: e.g. {"state": "off", "reason": "INC-42", "actor": "ana",
// "ttl_s": 900}. `actor` is the resolved actor (--actor or the login name).
// The command must be on, off, allow or fault; its arguments were checked
// by ParseArgs.
nlohmann::json WriteBody(const Invocation& inv, std::string_view actor);

// The body of `degradectl shed N` (PUT /degrade/v1/shed): {"level": N,
// "reason", "actor", "ttl_s"} with what was given. args[0] is a level 1-9
// (checked by ParseArgs).
nlohmann::json ShedBody(const Invocation& inv, std::string_view actor);
// The body of `degradectl governor off|on|cap N` (PUT /degrade/v1/governor,
// or the etcd key PREFIX + "governor"): {"enabled": false} / {"enabled":
// true} / {"cap": N}, with "reason", "actor" and "ttl_s" when given.
nlohmann::json GovernorBody(const Invocation& inv, std::string_view actor);

// The admin token as read from the variable `var`: without surrounding
// whitespace (a Kubernetes Secret mounted into an environment variable often
// ends in a newline). InvalidArgument naming `var`, never the token, when
// what is left holds a control character: it could not go into an HTTP
// header. Empty when the variable is empty or only whitespace.
absl::StatusOr<std::string> CleanToken(std::string_view raw, std::string_view var);

// The variable the admin token is read from: the last valid --token-env in
// `args`, else DEGRADE_ADMIN_TOKEN. Scans without parsing, so that the token
// can be checked for before any message quotes an argument.
std::string TokenEnvFromArgs(std::span<const std::string> args);

// InvalidArgument when an argument of `args` (or the value of an
// --option=VALUE) is `token`: the token belongs in the environment, never on
// a command line that ps and shell history keep, nor in a message quoting
// the argument. The message names `var`, never the token. OK for an empty
// token.
absl::Status CheckTokenNotInArgs(std::span<const std::string> args, std::string_view token,
                                 std::string_view var);

// `degradectl help`, and `degradectl CMD --help`.
std::string GeneralHelp();
std::string CommandHelp(const Command& command);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_ARGS_H_
