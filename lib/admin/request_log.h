// What the admin endpoint writes to the log sink about requests
// (docs/security.md, "Log injection and flooding"): text taken from a
// request made safe for a log line, and the rate limit of refused-request
// lines. Not installed.
#ifndef DEGRADE_LIB_ADMIN_REQUEST_LOG_H_
#define DEGRADE_LIB_ADMIN_REQUEST_LOG_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace degrade::internal {

// The most bytes of one piece of request text (a path, a header value, an
// actor) that LogText keeps, before escaping.
inline constexpr size_t kMaxLogTextBytes = 160;

// `s` (anything a request carried) as text that cannot forge or garble a
// log line: control characters (C0, DEL) and bytes that are not valid UTF-8
// become \xNN, the C1 controls and the Unicode characters that reorder or
// break lines (U+2028, U+2029, the bidirectional overrides and isolates)
// become \uNNNN, and a backslash becomes \\, so every escape reads back to
// one input byte or character. At most `max_bytes` of the input are kept
// (never splitting a character); "..." marks a cut. Pure; any thread.
std::string LogText(std::string_view s, size_t max_bytes = kMaxLogTextBytes);

// `line` (a whole log line) with the same escapes as LogText except the
// backslash (pieces from a request have been through LogText already, and
// the endpoint's own text quotes JSON), cut to kMaxLogLineBytes: the last
// guard before the log sink, so that no request text reaches it raw even
// through a line that forgot LogText.
inline constexpr size_t kMaxLogLineBytes = 2048;
std::string LogLine(std::string_view line);

// Rate limit of refused-request log lines: per distinct problem (a key
// chosen by the caller from fixed text: the status and the reason, never
// the request's own text), the first line in an interval is logged, later
// ones within the interval are counted; the next line logged for that
// problem carries the count ("... (37 similar refused in the last 12 s)").
// The table holds at most `max_problems` keys: when it is full, the key
// logged longest ago whose interval is over is dropped (after its count is
// reported), or else the new problem is counted under one shared overflow
// key. Memory is bounded whatever requests arrive. Thread-safe.
class RefusalLog {
 public:
  RefusalLog(absl::Duration interval, size_t max_problems);

  // What to log for a refusal of kind `problem` whose full line is `line`
  // at `now`: the line (with the count of suppressed ones since the last
  // line of this kind, if any), then any summary lines of other problems
  // whose counts are due (the same kind of lines Flush returns). Empty:
  // suppressed.
  std::vector<std::string> Refused(std::string_view problem, std::string line, absl::Time now);

  // One line per problem with refusals not yet reported ("admin: 37
  // similar refused requests in the last 4 s not logged: 401 missing
  // Authorization header ..."); forgets every problem.
  std::vector<std::string> Flush(absl::Time now);

  size_t problems() const;

 private:
  struct Problem {
    std::string key;
    absl::Time logged;        // when its last line was logged
    uint64_t suppressed = 0;  // refusals since then not logged
  };
  static std::string Summary(const Problem& p, absl::Time now);
  static std::string Since(absl::Time logged, absl::Time now);

  const absl::Duration interval_;
  const size_t max_problems_;
  mutable std::mutex mu_;
  std::vector<Problem> problems_;  // guarded by mu_; at most max_problems_
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_REQUEST_LOG_H_
